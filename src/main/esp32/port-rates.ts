import path from 'node:path';
import { z } from 'zod';
import type { SerialDeviceDescriptor } from '../devices/serial-link.js';
import { formatUsbId } from '../devices/usb-ids.js';
import { readFileIfExists, writeFileAtomic } from '@tds/server/util';
import { bridgeLadder, type BaudPlan, type BridgeLadder } from './baud-ladder.js';

/** File in the station's data folder. */
export const PORT_RATES_FILE = 'esp32-port-rates.json';
/** A rate that failed on a port is tried again after this long (a cable or hub may have been changed). */
export const FAILED_RATE_RETRY_MS = 7 * 24 * 3600 * 1000;

const RecordSchema = z.object({
  /** The last rate a flash succeeded at on this port. */
  worked: z.number().int().positive().optional(),
  workedAt: z.string().optional(),
  /** Rate → when it last failed after the speed change. */
  failed: z.record(z.string().regex(/^\d+$/), z.string()).default({}),
  /** When the flasher stub last failed to start after being loaded at the new rate (speed-change.ts). */
  stubAtSpeedFailed: z.string().optional(),
});
const FileSchema = z.object({ version: z.literal(1), ports: z.record(z.string(), RecordSchema) });
type PortRecord = z.infer<typeof RecordSchema>;

/**
 * What the station remembers about each port's speed: the rate a flash last worked at, the rates
 * that failed there, and whether loading the flasher stub at the new rate failed there. A port is its path plus the bridge on it (VID:PID and product string), so a
 * different adapter on the same path starts fresh. Kept in one small JSON file in the data folder,
 * written atomically after each change (readers see the old or the new file, never half of one).
 */
export class PortRates {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    private readonly ports: Map<string, PortRecord>,
    private readonly now: () => number,
  ) {}

  /** Opens the store in `dataDir`; an unreadable file is set aside with a warning (it is only a cache). */
  static async open(dataDir: string, options: { now?: () => number; onWarning?: (message: string) => void } = {}): Promise<PortRates> {
    const file = path.join(dataDir, PORT_RATES_FILE);
    const ports = new Map<string, PortRecord>();
    const text = await readFileIfExists(file);
    if (text !== undefined) {
      let parsed: z.ZodSafeParseResult<z.infer<typeof FileSchema>> | undefined;
      try {
        parsed = FileSchema.safeParse(JSON.parse(text));
      } catch {
        parsed = undefined;
      }
      if (parsed?.success) for (const [k, v] of Object.entries(parsed.data.ports)) ports.set(k, v);
      else options.onWarning?.(`${file} is not a valid port-rate file; starting from the bridges' default rates`);
    }
    return new PortRates(file, ports, options.now ?? Date.now);
  }

  /** The key of a port: path + VID:PID + product string. */
  static key(device: Pick<SerialDeviceDescriptor, 'path' | 'vendorId' | 'productId' | 'product'>): string {
    return `${device.path} ${formatUsbId(device.vendorId, device.productId)}${device.product ? ` ${device.product}` : ''}`;
  }

  /**
   * The plan for a port: the bridge's ladder without the rungs that failed there recently (but
   * never empty while the ladder is not), and a `record` that remembers outcomes.
   */
  plan(device: Pick<SerialDeviceDescriptor, 'path' | 'vendorId' | 'productId' | 'product'>, ladder: BridgeLadder): BaudPlan {
    const key = PortRates.key(device);
    const rec = this.ports.get(key);
    const recentFailures = new Set(
      Object.entries(rec?.failed ?? {})
        .filter(([, at]) => this.recent(at))
        .map(([rate]) => Number(rate)),
    );
    let rates = ladder.rates.filter((r) => !recentFailures.has(r));
    if (rates.length === 0 && ladder.rates.length > 0) rates = [ladder.rates[ladder.rates.length - 1]!];
    return {
      rates,
      record: (rate, ok) => this.record(key, rate, ok),
      stubAtSpeed: !(rec?.stubAtSpeedFailed && this.recent(rec.stubAtSpeedFailed)),
      recordStubAtSpeed: (ok) => this.recordStubAtSpeed(key, ok),
    };
  }

  private recent(at: string): boolean {
    return this.now() - Date.parse(at) < FAILED_RATE_RETRY_MS;
  }

  /** What is remembered for a port (for logs and tests). */
  get(device: Pick<SerialDeviceDescriptor, 'path' | 'vendorId' | 'productId' | 'product'>): { worked?: number; failed: number[]; stubAtSpeedFailed?: string } {
    const rec = this.ports.get(PortRates.key(device));
    return {
      ...(rec?.worked !== undefined ? { worked: rec.worked } : {}),
      failed: Object.keys(rec?.failed ?? {}).map(Number),
      ...(rec?.stubAtSpeedFailed ? { stubAtSpeedFailed: rec.stubAtSpeedFailed } : {}),
    };
  }

  /** Resolves when every change so far is on disk. */
  flush(): Promise<void> {
    return this.writing;
  }

  private record(key: string, rate: number, ok: boolean): void {
    const rec: PortRecord = this.ports.get(key) ?? { failed: {} };
    const at = new Date(this.now()).toISOString();
    if (ok) {
      if (rec.worked === rate && !rec.failed[String(rate)]) return;
      rec.worked = rate;
      rec.workedAt = at;
      delete rec.failed[String(rate)];
    } else {
      rec.failed[String(rate)] = at;
      if (rec.worked !== undefined && rec.worked >= rate) delete rec.worked;
    }
    this.save(key, rec);
  }

  private recordStubAtSpeed(key: string, ok: boolean): void {
    const rec: PortRecord = this.ports.get(key) ?? { failed: {} };
    if (ok && rec.stubAtSpeedFailed === undefined) return;
    if (ok) delete rec.stubAtSpeedFailed;
    else rec.stubAtSpeedFailed = new Date(this.now()).toISOString();
    this.save(key, rec);
  }

  private save(key: string, rec: PortRecord): void {
    this.ports.set(key, rec);
    const snapshot = JSON.stringify({ version: 1, ports: Object.fromEntries(this.ports) }, null, 1);
    // Writes are serialised; each one holds the whole state, so the last one wins.
    this.writing = this.writing.then(() => writeFileAtomic(this.file, snapshot, { mode: 0o600, createDir: true })).catch(() => undefined);
  }
}

/**
 * The speed plan for a job on `device`: its bridge's ladder, capped by the profile, starting where
 * the port's memory says (without it: the bridge's top rung).
 */
export function baudPlanFor(
  device: Pick<SerialDeviceDescriptor, 'path' | 'vendorId' | 'productId' | 'product'>,
  options: { maxBaud?: number | undefined; portRates?: PortRates | undefined; platform?: NodeJS.Platform },
): BaudPlan {
  const ladder = bridgeLadder(device, { maxBaud: options.maxBaud, ...(options.platform ? { platform: options.platform } : {}) });
  return options.portRates ? options.portRates.plan(device, ladder) : { rates: ladder.rates };
}
