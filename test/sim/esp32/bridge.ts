/**
 * The USB side of a simulated board: which USB-UART bridge (or Espressif's USB-Serial/JTAG) sits
 * between the station and the chip. A bridge has a VID:PID and product string (what the station's
 * port list shows), the rates it can set (a rate it cannot set comes out as its nearest lower one,
 * so the board hears a different speed: the simulator garbles as on any mismatch), and the fastest
 * rate it holds cleanly on this board: above it every GARBLE_EVERY-th byte arrives damaged, in
 * both directions (a marginal bridge, cable or board at a high rate).
 */
export interface SimBridge {
  id: SimBridgeId;
  vendorId: number;
  productId: number;
  manufacturer: string;
  product: string;
  /** Rates the bridge can set; undefined = any. */
  rates?: readonly number[];
  /** Fastest clean rate; above it bytes are damaged. */
  holds: number;
  /** Espressif USB-Serial/JTAG: USB end to end (no baud, its own reset logic). */
  usbJtag?: boolean;
}

export type SimBridgeId = 'cp2102' | 'cp2102n' | 'ch340' | 'ch9102' | 'ft232r' | 'usb-jtag';

/** Standard rates a CP2102 (not N) can set, up to its 921,600 maximum. */
const CP2102_RATES = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600];

export const SIM_BRIDGES: Record<SimBridgeId, SimBridge> = {
  cp2102: { id: 'cp2102', vendorId: 0x10c4, productId: 0xea60, manufacturer: 'Silicon Labs', product: 'CP2102 USB to UART Bridge Controller', rates: CP2102_RATES, holds: 921_600 },
  cp2102n: { id: 'cp2102n', vendorId: 0x10c4, productId: 0xea60, manufacturer: 'Silicon Labs', product: 'CP2102N USB to UART Bridge Controller', holds: 3_000_000 },
  ch340: { id: 'ch340', vendorId: 0x1a86, productId: 0x7523, manufacturer: 'QinHeng Electronics', product: 'USB Serial', holds: 460_800 },
  ch9102: { id: 'ch9102', vendorId: 0x1a86, productId: 0x55d4, manufacturer: 'QinHeng Electronics', product: 'USB Single Serial', holds: 3_000_000 },
  ft232r: { id: 'ft232r', vendorId: 0x0403, productId: 0x6001, manufacturer: 'FTDI', product: 'FT232R USB UART', holds: 3_000_000 },
  'usb-jtag': { id: 'usb-jtag', vendorId: 0x303a, productId: 0x1001, manufacturer: 'Espressif', product: 'USB JTAG/serial debug unit', holds: Number.MAX_SAFE_INTEGER, usbJtag: true },
};

export const SIM_BRIDGE_IDS = Object.keys(SIM_BRIDGES) as SimBridgeId[];

/** Above the rate a bridge holds, one byte in this many is damaged (each direction counted apart). */
export const GARBLE_EVERY = 8;

/**
 * USB-Serial/JTAG throughput in the throttled simulator, bytes per second. An assumption (full-speed
 * USB CDC through the stub's 64-byte packets), not a measured figure.
 */
export const USB_JTAG_BYTES_PER_SEC = 100_000;

/** The rate the bridge actually runs at when the host asks for `baud`. */
export function bridgeRate(bridge: SimBridge, baud: number): number {
  if (!bridge.rates || bridge.rates.includes(baud)) return baud;
  const lower = bridge.rates.filter((r) => r <= baud);
  return lower.length ? Math.max(...lower) : Math.min(...bridge.rates);
}

/** `name` or `name:holds` (e.g. `cp2102n:921600` = a CP2102N that garbles above 921,600 on this board). */
export function parseBridge(spec: string): SimBridge {
  const [id = '', holds] = spec.split(':', 2);
  const base = SIM_BRIDGES[id as SimBridgeId];
  if (!base) throw new Error(`unknown bridge "${id}" (known: ${SIM_BRIDGE_IDS.join(', ')})`);
  if (holds === undefined) return base;
  const n = Number(holds);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`bridge ${id}: "${holds}" is not a rate (e.g. ${id}:921600)`);
  return { ...base, holds: n };
}
