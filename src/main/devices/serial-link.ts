/**
 * The station's view of one serial connection. Product code talks to boards only through this
 * interface; a device source decides what backs it (a USB port through `serialport`, or in tests a
 * pseudo-terminal whose modem lines are carried on a side channel). Nothing above this layer knows
 * which one it has.
 */
export interface SerialLinkOpenOptions {
  baudRate: number;
}

export interface SerialSignals {
  /** Data Terminal Ready asserted (true) or released. */
  dtr: boolean;
  /** Request To Send asserted (true) or released. */
  rts: boolean;
}

export interface SerialLink {
  /** OS path, e.g. /dev/ttyUSB0 or /dev/pts/7. */
  readonly path: string;
  readonly isOpen: boolean;
  open(options: SerialLinkOpenOptions): Promise<void>;
  write(data: Uint8Array): Promise<void>;
  /** Subscribe to received bytes; returns an unsubscribe function. */
  onData(listener: (chunk: Uint8Array) => void): () => void;
  /** Called once when the link closes, with the error if it was not a requested close (unplug). */
  onClose(listener: (error?: Error) => void): () => void;
  /** Sets both modem lines at once (never one with the other defaulted). */
  setSignals(signals: SerialSignals): Promise<void>;
  /** Changes the speed in place without closing the port (closing toggles DTR/RTS on Linux). */
  setBaudRate(baudRate: number): Promise<void>;
  /** Idempotent; while a close is under way, resolves when it is done (the port can be opened again). */
  close(): Promise<void>;
}

/** A serial device as a source reports it. */
/** How a board is reset into its ROM bootloader: DTR/RTS, Espressif's USB-Serial/JTAG, or the operator's BOOT button. */
export type ResetMode = 'auto' | 'usb-jtag' | 'manual';

export interface SerialDeviceDescriptor {
  /** Stable id within the source (path, or serial number when the OS gives one). */
  id: string;
  path: string;
  /** USB vendor/product ids as numbers, when known. */
  vendorId?: number;
  productId?: number;
  serialNumber?: string;
  manufacturer?: string;
  /** USB product string when the OS gives it (e.g. "CP2102N USB to UART Bridge Controller"): tells bridges that share a VID:PID apart. */
  product?: string;
  /** Human name of the USB-UART bridge, e.g. "Silicon Labs CP210x". */
  bridge?: string;
  /**
   * Where the device is plugged in (a USB port path such as `1-1.2`, or the OS's location id): the
   * same for a hub position whichever board is in it. The Bench keys its named slots by it.
   */
  location?: string;
  /** How the board is reset into its bootloader. */
  resetMode: ResetMode;
  /** Whether this port looks like an ESP32 (known bridge or Espressif VID). */
  likelyEsp32: boolean;
}

export type SerialDeviceEvent =
  | { type: 'added'; device: SerialDeviceDescriptor }
  | { type: 'removed'; id: string };

/** Where serial devices come from: USB (udev / serialport.list), or test pseudo-terminals. */
export interface SerialDeviceSource {
  readonly name: string;
  list(): Promise<SerialDeviceDescriptor[]>;
  /** Hot-plug: calls `listener` for every added/removed device until the returned function is called. */
  watch(listener: (event: SerialDeviceEvent) => void): () => void;
  /** A link for the device (not yet open). */
  link(device: SerialDeviceDescriptor): SerialLink;
}
