import { stat } from 'node:fs/promises';
import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import { JobFailure } from '../jobs/job-failure.js';
import type { SerialLink, SerialLinkOpenOptions, SerialSignals } from './serial-link.js';
import { steadyWriteBinding } from './steady-write-binding.js';

/** One binding for every port: the native one, with writes that survive a full OS buffer. */
const binding = steadyWriteBinding(autoDetect());
type Port = SerialPortStream<typeof binding>;

export interface SerialPortLinkOptions {
  /** Keep DTR/RTS as they are when the port closes (Linux otherwise drops them: HUPCL). Default true (drop). */
  hupcl?: boolean;
  /** How often to check that the device node still exists while open (unplug detection). Default 500 ms. */
  presenceCheckMs?: number;
}

/**
 * A real OS serial port (node-serialport) as a SerialLink.
 * - Tracks DTR/RTS itself and always sends both: serialport's `set()` fills missing flags with
 *   defaults (dtr/rts true), which would silently assert the other line.
 * - Changes speed in place (`update`), never by reopening (reopening toggles DTR/RTS on Linux),
 *   and never while bytes are on their way out: a speed change waits until earlier writes have
 *   left the port, and writes wait for it (a byte sent during the switch reaches the board garbled).
 * - Pseudo-terminals reject modem-line ioctls (ENOTTY): tolerated, the lines are only tracked.
 * - An unrequested close (unplug) is reported to `onClose` with the error.
 * - Writes that meet a full OS buffer retry on a timer (SteadyWritePort) instead of waiting on
 *   serialport's poller, which can lose their wake-up.
 */
export class SerialPortLink implements SerialLink {
  readonly path: string;
  private port: Port | undefined;
  private signals: SerialSignals = { dtr: false, rts: false };
  private signalsUnsupported = false;
  private closing = false;
  private closeInFlight: Promise<void> | undefined;
  private presenceTimer: NodeJS.Timeout | undefined;
  /** Writes in progress, and a speed change in progress: neither starts while the other runs. */
  private readonly writes = new Set<Promise<void>>();
  private speedChange: Promise<void> | undefined;
  private readonly dataListeners = new Set<(chunk: Uint8Array) => void>();
  private readonly closeListeners = new Set<(error?: Error) => void>();

  constructor(
    path: string,
    private readonly options: SerialPortLinkOptions = {},
  ) {
    this.path = path;
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  /** The modem lines as last set (what the board sees, when the OS supports them). */
  get currentSignals(): SerialSignals {
    return { ...this.signals };
  }

  /** True once the OS refused a modem-line change (pseudo-terminal). */
  get modemLinesUnsupported(): boolean {
    return this.signalsUnsupported;
  }

  async open(options: SerialLinkOpenOptions): Promise<void> {
    if (this.port?.isOpen) throw new Error(`${this.path} is already open`);
    const port: Port = new SerialPortStream({ binding, path: this.path, baudRate: options.baudRate, autoOpen: false, hupcl: this.options.hupcl ?? true });
    await new Promise<void>((resolve, reject) => {
      port.open((err) => (err ? reject(mapOpenError(this.path, err)) : resolve()));
    });
    this.port = port;
    this.closing = false;
    // Linux asserts both lines on open; the auto-reset circuit ignores (1,1).
    this.signals = { dtr: true, rts: true };
    port.on('data', (chunk: Buffer) => {
      const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (const l of this.dataListeners) l(bytes);
    });
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) => {
      this.stopPresenceCheck();
      const requested = this.closing;
      this.port = undefined;
      const error = requested ? undefined : (err ?? new Error(`${this.path} disappeared (unplugged?)`));
      for (const l of [...this.closeListeners]) l(error);
    });
    // A read of 0 bytes ends the stream without closing the port (a pty whose other side went
    // away can do this): treat it as an unplug, so onClose listeners hear about it.
    port.on('end', () => {
      if (!this.closing && port.isOpen) port.close(() => undefined);
    });
    // 'error' without a listener would throw; errors surface through write/close instead.
    port.on('error', () => undefined);
    // serialport does not always notice a vanished device (a pty whose other side died may give
    // neither an error nor EOF): the device node disappearing is the surest sign of an unplug.
    this.presenceTimer = setInterval(() => {
      stat(this.path).catch(() => {
        if (!this.closing && port.isOpen) {
          this.stopPresenceCheck();
          port.close(() => undefined);
        }
      });
    }, this.options.presenceCheckMs ?? 500);
    this.presenceTimer.unref();
  }

  private stopPresenceCheck(): void {
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    this.presenceTimer = undefined;
  }

  async write(data: Uint8Array): Promise<void> {
    while (this.speedChange) await this.speedChange.catch(() => undefined);
    const port = this.mustBeOpen();
    const done = new Promise<void>((resolve, reject) => {
      port.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), (err) => {
        if (err) reject(err);
      });
      // drain = written to the OS and sent (tcdrain), so a later speed change cannot catch it.
      port.drain((err) => (err ? reject(err) : resolve()));
    });
    this.writes.add(done);
    try {
      await done;
    } finally {
      this.writes.delete(done);
    }
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    this.dataListeners.add(listener);
    return () => this.dataListeners.delete(listener);
  }

  onClose(listener: (error?: Error) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  async setSignals(signals: SerialSignals): Promise<void> {
    const port = this.mustBeOpen();
    this.signals = { ...signals };
    if (this.signalsUnsupported) return;
    await new Promise<void>((resolve, reject) => {
      port.set({ dtr: signals.dtr, rts: signals.rts, brk: false }, (err) => {
        if (err && isNotATty(err)) {
          this.signalsUnsupported = true;
          resolve();
        } else if (err) reject(err);
        else resolve();
      });
    });
  }

  async setBaudRate(baudRate: number): Promise<void> {
    while (this.speedChange) await this.speedChange.catch(() => undefined);
    const port = this.mustBeOpen();
    const change = (async () => {
      await Promise.allSettled([...this.writes]);
      await new Promise<void>((resolve, reject) => port.update({ baudRate }, (err) => (err ? reject(err) : resolve())));
    })();
    this.speedChange = change;
    try {
      await change;
    } finally {
      this.speedChange = undefined;
    }
  }

  /**
   * Closes the port; resolves once the OS has let go of it (and of its lock), so the port can be
   * opened again right away. A second call while closing waits for the same close: `isOpen` turns
   * false as soon as closing starts, but the close itself can take a moment.
   */
  close(): Promise<void> {
    if (this.closeInFlight) return this.closeInFlight;
    const port = this.port;
    if (!port?.isOpen) return Promise.resolve();
    this.closing = true;
    this.stopPresenceCheck();
    const pendingWrites = this.writes.size > 0;
    this.closeInFlight = (async () => {
      // Bytes still queued for a board that stopped reading (a cancel mid-flash) would hold the
      // close, and the port's lock, until the kernel gave up on them: drop them first.
      if (pendingWrites) await new Promise<void>((resolve) => port.flush(() => resolve()));
      await new Promise<void>((resolve) => port.close(() => resolve()));
    })().finally(() => {
      this.closeInFlight = undefined;
    });
    return this.closeInFlight;
  }

  private mustBeOpen(): Port {
    if (!this.port?.isOpen) throw new JobFailure('PORT_GONE', `${this.path} is not open (unplugged?)`);
    return this.port;
  }
}

function isNotATty(err: Error): boolean {
  return /ENOTTY|Inappropriate ioctl/i.test(err.message) || (err as NodeJS.ErrnoException).code === 'ENOTTY';
}

/** Turns serialport's open errors into errors a technician can act on. */
export function mapOpenError(path: string, err: Error): Error {
  const m = err.message;
  if (/Cannot lock port|EBUSY|Resource busy|Resource temporarily unavailable|EAGAIN/i.test(m)) {
    return new JobFailure('PORT_BUSY', `${path} is in use by another program.`, { cause: err });
  }
  if (/EACCES|Permission denied/i.test(m)) {
    return new JobFailure('PORT_ACCESS_DENIED', `No permission to open ${path}.`, { cause: err });
  }
  if (/ENOENT|No such file/i.test(m)) {
    return new JobFailure('PORT_GONE', `${path} does not exist (board unplugged?).`, { cause: err });
  }
  return new JobFailure('PORT_GONE', `Cannot open ${path}: ${m}`, { cause: err });
}
