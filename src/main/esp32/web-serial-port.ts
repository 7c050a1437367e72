import type { SerialLink, SerialSignals } from '../devices/serial-link.js';

/** The subset of the Web Serial `SerialPort` that esptool-js 0.7.0's Transport uses (read from its lib/webserial.js). */
export interface WebSerialPortLike {
  readable: ReadableStream<Uint8Array> | null;
  writable: WritableStream<Uint8Array> | null;
  getInfo(): { usbVendorId?: number; usbProductId?: number };
  open(options: { baudRate: number }): Promise<void>;
  close(): Promise<void>;
  setSignals(signals: { dataTerminalReady?: boolean; requestToSend?: boolean; break?: boolean }): Promise<void>;
  /** Optional in Web Serial; esptool-js 0.7.0 uses it to change speed in place. */
  setBaudRate(baudRate: number): Promise<void>;
}

export interface LinkWebSerialPortOptions {
  usbVendorId?: number;
  usbProductId?: number;
}

/**
 * A SerialLink dressed as a Web Serial port so esptool-js runs unmodified in Node:
 * fresh streams on every open(), streams nulled on close() (Transport's read loop spins on a
 * non-null `readable`), `setSignals` with Web Serial semantics (an absent member keeps its
 * value; the link always receives both lines), and `setBaudRate` in place.
 */
export class LinkWebSerialPort implements WebSerialPortLike {
  readable: ReadableStream<Uint8Array> | null = null;
  writable: WritableStream<Uint8Array> | null = null;
  /** When set, close() ends the streams but leaves the link open (the job keeps reading the boot log). */
  keepLinkOpen = false;
  private released = false;
  /** True between our open() and our close() of the link. */
  private ownsLink = false;
  private signals: SerialSignals = { dtr: false, rts: false };
  private endStreams: (() => void) | undefined;

  constructor(
    readonly link: SerialLink,
    private readonly info: LinkWebSerialPortOptions = {},
  ) {}

  getInfo(): { usbVendorId?: number; usbProductId?: number } {
    const out: { usbVendorId?: number; usbProductId?: number } = {};
    if (this.info.usbVendorId !== undefined) out.usbVendorId = this.info.usbVendorId;
    if (this.info.usbProductId !== undefined) out.usbProductId = this.info.usbProductId;
    return out;
  }

  async open(options: { baudRate: number }): Promise<void> {
    if (this.released) throw new Error(`${this.link.path}: the port was released`);
    if (this.readable) throw new Error(`${this.link.path}: the port is already open`);
    if (this.link.isOpen) await this.link.setBaudRate(options.baudRate);
    else await this.link.open({ baudRate: options.baudRate });
    this.ownsLink = true;
    if (this.released) {
      // Released while the OS was opening it: give it straight back.
      if (!this.keepLinkOpen) await this.link.close();
      throw new Error(`${this.link.path}: the port was released`);
    }
    this.signals = { dtr: true, rts: true }; // what the OS does on open; see SerialPortLink
    this.makeStreams();
  }

  /**
   * Closes the port for good. esptool-js keeps going in the background after we stop waiting for
   * it (a cancel during its connect loop): a later open() from it fails instead of taking the
   * port again behind the job's back.
   */
  async release(): Promise<void> {
    this.released = true;
    await this.close();
  }

  async close(): Promise<void> {
    this.endStreams?.();
    this.endStreams = undefined;
    this.readable = null;
    this.writable = null;
    // Only once: esptool-js may call close() again long after we gave the port up (a disconnect
    // that was still waiting for a stuck write), when the link may already belong to a new session.
    if (!this.keepLinkOpen && this.ownsLink) {
      this.ownsLink = false;
      await this.link.close();
    }
  }

  async setSignals(signals: { dataTerminalReady?: boolean; requestToSend?: boolean; break?: boolean }): Promise<void> {
    this.signals = {
      dtr: signals.dataTerminalReady ?? this.signals.dtr,
      rts: signals.requestToSend ?? this.signals.rts,
    };
    await this.link.setSignals(this.signals);
  }

  async setBaudRate(baudRate: number): Promise<void> {
    await this.link.setBaudRate(baudRate);
  }

  private makeStreams(): void {
    const link = this.link;
    let finished = false;
    let offData: (() => void) | undefined;
    let offClose: (() => void) | undefined;
    let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;
    const stop = (): void => {
      offData?.();
      offClose?.();
    };
    this.readable = new ReadableStream<Uint8Array>({
      start(controller) {
        controllerRef = controller;
        offData = link.onData((chunk) => {
          if (!finished) controller.enqueue(new Uint8Array(chunk)); // copy: the link may reuse its buffer
        });
        offClose = link.onClose((error) => {
          if (finished) return;
          finished = true;
          stop();
          if (error) controller.error(error);
          else controller.close();
        });
      },
      cancel() {
        finished = true;
        stop();
      },
    });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => link.write(chunk),
    });
    this.endStreams = () => {
      if (finished) return;
      finished = true;
      stop();
      try {
        controllerRef?.close();
      } catch {
        /* already closed or cancelled */
      }
    };
  }
}
