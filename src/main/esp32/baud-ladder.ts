import type { SerialDeviceDescriptor } from '../devices/serial-link.js';
import { ESPRESSIF_VID, USB_JTAG_SERIAL_PID } from '../devices/usb-ids.js';
import { JobFailure } from '../jobs/job-failure.js';

/** The ROM bootloader always talks at 115200 first; it is the floor of every ladder. */
export const ROM_BAUD = 115200;

/**
 * The flashing speeds a USB bridge holds, fastest first. The station picks the rate: it starts at the
 * top rung (or the rung remembered for the port), steps down once when the exchange after the speed
 * change fails or arrives garbled, and remembers what worked (port-rates.ts). The technician never
 * types a baud; a profile may only cap it.
 *
 * Why these rungs: CP2102 (not N) and PL2303 top out at 921,600; CP2102N, FT232R/FT2232/FT232H/FT-X
 * and CH9102/CH343 run 2,000,000 (their data sheets allow 3 M and more, but ESP32 boards' traces and
 * cables rarely do); the Linux ch341 driver's divisors make a CH340 unreliable above 460,800.
 * Espressif's USB-Serial/JTAG is USB end to end: its "baud" is ignored, so no speed change is sent.
 */
interface BridgeSpeeds {
  vendorId: number;
  productId: number;
  /** Tells bridges that share a VID:PID apart (CP2102 vs CP2102N) by the USB product string. */
  product?: RegExp;
  name: string;
  rates: readonly number[];
  /** Rungs on Linux when they differ (driver limits). */
  linuxRates?: readonly number[];
}

const FAST = [2_000_000, 921_600] as const;
const CLASSIC = [921_600, 460_800] as const;

const BRIDGE_SPEEDS: readonly BridgeSpeeds[] = [
  { vendorId: 0x10c4, productId: 0xea60, product: /CP2102N/i, name: 'CP2102N', rates: FAST },
  { vendorId: 0x10c4, productId: 0xea60, name: 'CP210x', rates: CLASSIC },
  { vendorId: 0x10c4, productId: 0xea64, name: 'CP2102C', rates: CLASSIC },
  { vendorId: 0x1a86, productId: 0x7523, name: 'CH340', rates: CLASSIC, linuxRates: [460_800, 230_400] },
  { vendorId: 0x1a86, productId: 0x55d4, name: 'CH9102', rates: FAST },
  { vendorId: 0x1a86, productId: 0x55d3, name: 'CH343', rates: FAST },
  { vendorId: 0x0403, productId: 0x6001, name: 'FT232R', rates: FAST },
  { vendorId: 0x0403, productId: 0x6010, name: 'FT2232', rates: FAST },
  { vendorId: 0x0403, productId: 0x6014, name: 'FT232H', rates: FAST },
  { vendorId: 0x0403, productId: 0x6015, name: 'FT-X', rates: FAST },
  { vendorId: 0x067b, productId: 0x2303, name: 'PL2303', rates: CLASSIC },
  { vendorId: ESPRESSIF_VID, productId: USB_JTAG_SERIAL_PID, name: 'USB-Serial/JTAG', rates: [] },
];

export interface BridgeLadder {
  /** Short bridge name for logs ("CP2102N", "unknown bridge"). */
  bridge: string;
  /** Rates to try, fastest first, all above ROM_BAUD; empty = stay at ROM_BAUD (no speed change). */
  rates: number[];
}

/** The ladder for a port's bridge (by VID:PID and product string), capped by `maxBaud` when given. */
export function bridgeLadder(
  device: Pick<SerialDeviceDescriptor, 'vendorId' | 'productId' | 'product'>,
  options: { maxBaud?: number | undefined; platform?: NodeJS.Platform } = {},
): BridgeLadder {
  const platform = options.platform ?? process.platform;
  const known = BRIDGE_SPEEDS.find(
    (b) => b.vendorId === device.vendorId && b.productId === device.productId && (!b.product || b.product.test(device.product ?? '')),
  );
  const base = known ? ((platform === 'linux' ? known.linuxRates : undefined) ?? known.rates) : CLASSIC;
  let rates = [...base];
  const cap = options.maxBaud;
  if (cap !== undefined) {
    if (!Number.isInteger(cap) || cap < ROM_BAUD) {
      throw new JobFailure('PROFILE_INVALID', `The flashing speed cap must be a whole number of at least ${ROM_BAUD} baud (got ${cap}).`, {
        hint: `Set the ESP32 speed cap in the profile to ${ROM_BAUD} or more, or remove it to let the station choose.`,
      });
    }
    rates = rates.filter((r) => r <= cap);
    // A cap below every rung of a bridge that changes speed: use the cap itself.
    if (rates.length === 0 && base.length > 0 && cap > ROM_BAUD) rates = [cap];
  }
  return { bridge: known?.name ?? 'unknown bridge', rates: rates.filter((r) => r > ROM_BAUD) };
}

/**
 * What a session is told about speeds: the rungs to try (fastest first; one step down at most while
 * connecting) and where the outcome goes (the port's memory).
 */
export interface BaudPlan {
  rates: readonly number[];
  /** Called with the rate that failed after the speed change, and with the rate a flash succeeded at. */
  record?(rate: number, ok: boolean): void;
  /**
   * false = load the flasher stub at 115200 and change speed afterwards, as esptool does. Otherwise
   * (the default) the ROM changes speed first where that is safe, so the stub loads at the new rate
   * (speed-change.ts `startStubAtSpeed`); false once that failed on this port recently.
   */
  stubAtSpeed?: boolean;
  /** Called with whether the stub started when it was loaded at the new rate. */
  recordStubAtSpeed?(ok: boolean): void;
}

/** A plan with a single rate (CLI probe, tests, the fixed-rate benchmark); ROM_BAUD = no change. */
export function fixedRate(baud: number): BaudPlan {
  return { rates: baud > ROM_BAUD ? [baud] : [] };
}

/** The rungs below `failed` (the next attempt after a failure at that rate). */
export function below(plan: BaudPlan, failed: number): BaudPlan {
  return { ...plan, rates: plan.rates.filter((r) => r < failed) };
}
