/**
 * A SerialDeviceSource over running simulated boards, for tests and the demo. Each board is
 * described by its bridge model (VID:PID, product string; a CP2102 DevKit unless the board was
 * started with another bridge, e.g. an S3's USB-Serial/JTAG), classified like the USB source does; its links are the product's SerialPortLink on the pty, decorated
 * so that what a pty cannot carry (DTR/RTS, and the host's open/close and speed) also reaches the
 * board's control channel. Product code above the SerialLink interface cannot tell the difference.
 */
import { SerialPortLink, type SerialPortLinkOptions } from '../../../src/main/devices/serialport-link.js';
import type {
  SerialDeviceDescriptor,
  SerialDeviceEvent,
  SerialDeviceSource,
  SerialLink,
  SerialLinkOpenOptions,
  SerialSignals,
} from '../../../src/main/devices/serial-link.js';
import { classifyUsb } from '../../../src/main/devices/usb-ids.js';
import { SIM_BRIDGES, type SimBridge } from './bridge.js';
import { ControlClient } from './control-client.js';

/** What the source needs to know about a board (an Esp32Sim from launch.ts fits). */
export interface SimBoardHandle {
  hostPath: string;
  controlPath: string;
  mac: string;
  resetCircuit?: 'auto' | 'none';
  /** The board's USB side; a CP2102 when absent. */
  bridge?: SimBridge;
  /** The hub position it is plugged into (a USB port path such as `1-1.2`), when the test gives one. */
  location?: string;
}

interface Entry {
  board: SimBoardHandle;
  control: ControlClient;
  plugged: boolean;
}

export class SimDeviceSource implements SerialDeviceSource {
  readonly name = 'esp32-simulator';
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(event: SerialDeviceEvent) => void>();

  constructor(private readonly linkOptions: SerialPortLinkOptions = {}) {}

  /** Starts following a board (hot-plug events come from its control channel). */
  async add(board: SimBoardHandle): Promise<void> {
    if (this.entries.has(board.hostPath)) return;
    const control = new ControlClient(board.controlPath);
    const entry: Entry = { board, control, plugged: false };
    this.entries.set(board.hostPath, entry);
    await control.onEvent((name) => {
      if (name === 'plugged') this.setPlugged(entry, true);
      if (name === 'unplugged') this.setPlugged(entry, false);
    });
    const status = JSON.parse(await control.request('STATUS')) as { plugged: boolean };
    this.setPlugged(entry, status.plugged);
  }

  /** Stops following a board (as if its hub port disappeared). */
  remove(board: SimBoardHandle): void {
    const entry = this.entries.get(board.hostPath);
    if (!entry) return;
    this.setPlugged(entry, false);
    entry.control.close();
    this.entries.delete(board.hostPath);
  }

  private setPlugged(entry: Entry, plugged: boolean): void {
    if (entry.plugged === plugged) return;
    entry.plugged = plugged;
    const event: SerialDeviceEvent = plugged ? { type: 'added', device: this.describe(entry.board) } : { type: 'removed', id: entry.board.hostPath };
    for (const l of this.listeners) l(event);
  }

  private describe(board: SimBoardHandle): SerialDeviceDescriptor {
    const bridge = board.bridge ?? SIM_BRIDGES.cp2102;
    const c = classifyUsb(bridge.vendorId, bridge.productId);
    return {
      id: board.hostPath,
      path: board.hostPath,
      vendorId: bridge.vendorId,
      productId: bridge.productId,
      serialNumber: board.mac.replace(/:/g, '').toUpperCase(),
      manufacturer: bridge.manufacturer,
      product: bridge.product,
      ...(c.bridge ? { bridge: c.bridge } : {}),
      ...(board.location ? { location: board.location } : {}),
      resetMode: board.resetCircuit === 'none' ? 'manual' : c.resetMode,
      likelyEsp32: true,
    };
  }

  async list(): Promise<SerialDeviceDescriptor[]> {
    return [...this.entries.values()].filter((e) => e.plugged).map((e) => this.describe(e.board));
  }

  watch(listener: (event: SerialDeviceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  link(device: SerialDeviceDescriptor): SerialLink {
    const entry = this.entries.get(device.path);
    if (!entry) throw new Error(`${device.path} is not a simulated board of this source`);
    return new SimSerialLink(new SerialPortLink(device.path, this.linkOptions), entry.board.controlPath, this.linkOptions.hupcl ?? true);
  }

  close(): void {
    for (const e of this.entries.values()) e.control.close();
    this.entries.clear();
    this.listeners.clear();
  }
}

/**
 * Decorates a link to a simulated board: after the real (pty) operation, tells the board what the
 * wires would have told it. Exported for tests that build links by hand.
 */
export class SimSerialLink implements SerialLink {
  private control: ControlClient | undefined;

  constructor(
    private readonly inner: SerialLink,
    private readonly controlPath: string,
    /** Linux drops DTR/RTS when the port closes (HUPCL). */
    private readonly hupcl = true,
  ) {}

  get path(): string {
    return this.inner.path;
  }

  get isOpen(): boolean {
    return this.inner.isOpen;
  }

  private tell(line: string): Promise<string> {
    this.control ??= new ControlClient(this.controlPath);
    return this.control.request(line);
  }

  async open(options: SerialLinkOpenOptions): Promise<void> {
    await this.inner.open(options);
    // Opening a tty asserts both lines (no effect on the auto-reset circuit) and sets its speed.
    await this.tell(`DTR=1 RTS=1 BAUD=${options.baudRate} HOST=open`);
  }

  write(data: Uint8Array): Promise<void> {
    return this.inner.write(data);
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.inner.onData(listener);
  }

  onClose(listener: (error?: Error) => void): () => void {
    return this.inner.onClose(listener);
  }

  async setSignals(signals: SerialSignals): Promise<void> {
    await this.inner.setSignals(signals);
    await this.tell(`DTR=${signals.dtr ? 1 : 0} RTS=${signals.rts ? 1 : 0}`);
  }

  async setBaudRate(baudRate: number): Promise<void> {
    await this.inner.setBaudRate(baudRate);
    await this.tell(`BAUD=${baudRate}`);
  }

  async close(): Promise<void> {
    const wasOpen = this.inner.isOpen;
    await this.inner.close(); // also waits for a close already under way
    if (wasOpen) {
      await this.tell(this.hupcl ? 'HOST=closed DTR=0 RTS=0' : 'HOST=closed').catch(() => undefined);
    }
    this.control?.close();
    this.control = undefined;
  }
}
