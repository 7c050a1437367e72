import { readdir, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { SerialPort } from 'serialport';
import type { SerialDeviceDescriptor, SerialDeviceEvent, SerialDeviceSource, SerialLink } from './serial-link.js';
import { SerialPortLink } from './serialport-link.js';
import { safeLine } from '../log/safe-text.js';
import { classifyUsb, parseUsbId } from './usb-ids.js';

/** A port as `serialport.list()` reports it (hex-string USB ids). */
export interface ListedPort {
  path: string;
  vendorId?: string | undefined;
  productId?: string | undefined;
  serialNumber?: string | undefined;
  manufacturer?: string | undefined;
  /** Linux: the udev by-id name (`usb-<vendor>_<product>_<serial>-if00-port0`), which carries the product string. */
  pnpId?: string | undefined;
  /** USB product string (sysfs fallback reads it directly). */
  product?: string | undefined;
  /** Where the port is plugged in (macOS and Windows report it; on Linux read from sysfs): stays the same for a hub position. */
  locationId?: string | undefined;
}

export interface UsbSerialSourceOptions {
  /** Hot-plug polling interval. Default 1000 ms. */
  pollMs?: number;
  /** Also report USB serial ports whose VID:PID is not a known ESP32 bridge. Default true. */
  includeUnknown?: boolean;
  /** Replaceable for tests: how ports are listed. Default: serialport's list(), then sysfs. */
  lister?: () => Promise<ListedPort[]>;
  /** Called once when discovery had to fall back (e.g. no udevadm). */
  onWarning?: (message: string) => void;
}

export const UDEVADM_MISSING =
  "USB port discovery uses udev's 'udevadm', which is not installed (Debian/Ubuntu: apt-get install udev). " +
  'Falling back to reading /sys/class/tty.';

/**
 * USB serial ports of this computer, classified by VID:PID (src/main/devices/usb-ids.ts), with hot-plug by
 * polling (serialport has no change events; 1 s polling is cheap and works everywhere).
 */
export class UsbSerialSource implements SerialDeviceSource {
  readonly name = 'usb-serial';
  private readonly pollMs: number;
  private readonly includeUnknown: boolean;
  private readonly lister: () => Promise<ListedPort[]>;
  private readonly onWarning: (message: string) => void;
  private warned = false;

  constructor(options: UsbSerialSourceOptions = {}) {
    this.pollMs = options.pollMs ?? 1000;
    this.includeUnknown = options.includeUnknown ?? true;
    this.lister = options.lister ?? (() => this.defaultList());
    this.onWarning = options.onWarning ?? ((m) => console.warn(m));
  }

  async list(): Promise<SerialDeviceDescriptor[]> {
    const ports = await this.lister();
    return ports
      .map((p) => describe(p))
      .filter((d): d is SerialDeviceDescriptor => d !== undefined && (this.includeUnknown || d.likelyEsp32))
      .sort((a, b) => a.path.localeCompare(b.path, 'en', { numeric: true }));
  }

  watch(listener: (event: SerialDeviceEvent) => void): () => void {
    let known = new Map<string, SerialDeviceDescriptor>();
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const poll = async (): Promise<void> => {
      try {
        const now = new Map((await this.list()).map((d) => [d.id, d]));
        if (stopped) return;
        for (const [id, d] of now) if (!known.has(id)) listener({ type: 'added', device: d });
        for (const id of known.keys()) if (!now.has(id)) listener({ type: 'removed', id });
        known = now;
      } catch (err) {
        this.warnOnce(`USB port discovery failed: ${(err as Error).message}`);
      }
      if (!stopped) timer = setTimeout(() => void poll(), this.pollMs);
    };
    void poll();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }

  link(device: SerialDeviceDescriptor): SerialLink {
    return new SerialPortLink(device.path);
  }

  private warnOnce(message: string): void {
    if (this.warned) return;
    this.warned = true;
    this.onWarning(message);
  }

  private async defaultList(): Promise<ListedPort[]> {
    try {
      const ports: ListedPort[] = await SerialPort.list();
      // serialport has no location on Linux: the USB port path comes from sysfs.
      if (process.platform === 'linux') {
        for (const p of ports) if (!p.locationId) p.locationId = await usbLocationFromSysfs(path.basename(p.path));
      }
      return ports;
    } catch (err) {
      if (/udevadm/.test((err as Error).message) || (err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.warnOnce(UDEVADM_MISSING);
        return listFromSysfs();
      }
      throw err;
    }
  }
}

function describe(p: ListedPort): SerialDeviceDescriptor | undefined {
  const vendorId = parseUsbId(p.vendorId);
  const productId = parseUsbId(p.productId);
  if (vendorId === undefined) return undefined; // built-in UARTs (ttyS*) and the like
  const c = classifyUsb(vendorId, productId);
  const d: SerialDeviceDescriptor = { id: p.path, path: p.path, vendorId, resetMode: c.resetMode, likelyEsp32: c.likelyEsp32 };
  if (productId !== undefined) d.productId = productId;
  // USB descriptor strings are whatever the device says: escaped before they reach a list, a log or a terminal.
  if (p.serialNumber) d.serialNumber = safeLine(p.serialNumber);
  if (p.manufacturer) d.manufacturer = safeLine(p.manufacturer);
  const product = p.product ?? productFromPnpId(p.pnpId, p.serialNumber);
  if (product) d.product = safeLine(product);
  if (c.bridge) d.bridge = c.bridge;
  if (p.locationId) d.location = safeLine(p.locationId);
  return d;
}

/**
 * The USB port a tty hangs off, from its sysfs device path: `…/usb1/1-1/1-1.2/1-1.2:1.0/ttyUSB0`
 * → `1-1.2` (bus 1, hub on port 1, its port 2). It names the hub position, so it stays the same
 * for whatever board is plugged in there, whatever /dev name the kernel gives it.
 */
export async function usbLocationFromSysfs(ttyName: string, root = '/sys/class/tty'): Promise<string | undefined> {
  try {
    let dir = await realpath(path.join(root, ttyName, 'device'));
    for (let i = 0; i < 4 && dir !== path.dirname(dir); i++, dir = path.dirname(dir)) {
      const m = /^(\d+-[\d.]+):\d+\.\d+$/.exec(path.basename(dir));
      if (m) return m[1];
    }
  } catch {
    /* not a USB tty, or no sysfs */
  }
  return undefined;
}

/**
 * The product string inside a udev by-id name: `usb-Silicon_Labs_CP2102N_USB_to_UART_Bridge_Controller_0001-if00-port0`
 * → "Silicon Labs CP2102N USB to UART Bridge Controller" (vendor + product; the serial and interface dropped).
 */
export function productFromPnpId(pnpId: string | undefined, serialNumber?: string): string | undefined {
  const m = /^usb-(.+?)(?:-if\d+)?(?:-port\d+)?$/.exec(pnpId ?? '');
  if (!m) return undefined;
  let name = m[1]!;
  if (serialNumber && name.endsWith(`_${serialNumber}`)) name = name.slice(0, -serialNumber.length - 1);
  const text = name.replace(/_/g, ' ').trim();
  return text || undefined;
}

/** Linux without udev: USB ttys and their ids straight from sysfs. */
export async function listFromSysfs(root = '/sys/class/tty'): Promise<ListedPort[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const out: ListedPort[] = [];
  for (const name of names.filter((n) => /^tty(USB|ACM)\d+$/.test(n))) {
    try {
      let dir = await realpath(path.join(root, name, 'device'));
      for (let i = 0; i < 4 && dir !== '/'; i++, dir = path.dirname(dir)) {
        const vid = await readFile(path.join(dir, 'idVendor'), 'utf8').catch(() => undefined);
        if (vid === undefined) continue;
        const pid = await readFile(path.join(dir, 'idProduct'), 'utf8').catch(() => undefined);
        const serial = await readFile(path.join(dir, 'serial'), 'utf8').catch(() => undefined);
        const manufacturer = await readFile(path.join(dir, 'manufacturer'), 'utf8').catch(() => undefined);
        const product = await readFile(path.join(dir, 'product'), 'utf8').catch(() => undefined);
        const locationId = await usbLocationFromSysfs(name, root);
        out.push({
          path: `/dev/${name}`,
          vendorId: vid.trim(),
          productId: pid?.trim(),
          serialNumber: serial?.trim(),
          manufacturer: manufacturer?.trim(),
          product: product?.trim(),
          ...(locationId ? { locationId } : {}),
        });
        break;
      }
    } catch {
      /* not a USB tty */
    }
  }
  return out;
}
