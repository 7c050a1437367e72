import type { SerialDeviceDescriptor } from './serial-link.js';

/** Known USB-UART bridges on ESP32 boards, and the ESP32-S3/C3's built-in USB-Serial/JTAG (its own reset). */
interface KnownBridge {
  vendorId: number;
  productId: number;
  bridge: string;
  resetMode: SerialDeviceDescriptor['resetMode'];
}

export const ESPRESSIF_VID = 0x303a;
export const USB_JTAG_SERIAL_PID = 0x1001;

export const KNOWN_BRIDGES: readonly KnownBridge[] = [
  { vendorId: 0x10c4, productId: 0xea60, bridge: 'Silicon Labs CP210x', resetMode: 'auto' },
  { vendorId: 0x10c4, productId: 0xea64, bridge: 'Silicon Labs CP2102C', resetMode: 'auto' },
  { vendorId: 0x1a86, productId: 0x7523, bridge: 'WCH CH340', resetMode: 'auto' },
  { vendorId: 0x1a86, productId: 0x55d4, bridge: 'WCH CH9102', resetMode: 'auto' },
  { vendorId: 0x1a86, productId: 0x55d3, bridge: 'WCH CH343', resetMode: 'auto' },
  { vendorId: 0x0403, productId: 0x6001, bridge: 'FTDI FT232R', resetMode: 'auto' },
  { vendorId: 0x0403, productId: 0x6010, bridge: 'FTDI FT2232 (ESP-Prog)', resetMode: 'auto' },
  { vendorId: 0x0403, productId: 0x6014, bridge: 'FTDI FT232H', resetMode: 'auto' },
  { vendorId: 0x0403, productId: 0x6015, bridge: 'FTDI FT-X', resetMode: 'auto' },
  { vendorId: 0x067b, productId: 0x2303, bridge: 'Prolific PL2303', resetMode: 'auto' },
  { vendorId: ESPRESSIF_VID, productId: USB_JTAG_SERIAL_PID, bridge: 'Espressif USB-Serial/JTAG', resetMode: 'usb-jtag' },
];

export interface Classification {
  bridge?: string;
  resetMode: SerialDeviceDescriptor['resetMode'];
  likelyEsp32: boolean;
}

/** What a VID:PID tells about the board behind a port. */
export function classifyUsb(vendorId: number | undefined, productId: number | undefined): Classification {
  if (vendorId === undefined) return { resetMode: 'auto', likelyEsp32: false };
  const known = KNOWN_BRIDGES.find((b) => b.vendorId === vendorId && b.productId === productId);
  if (known) return { bridge: known.bridge, resetMode: known.resetMode, likelyEsp32: true };
  if (vendorId === ESPRESSIF_VID) {
    // Native USB of an S2/S3 (ROM CDC, PID = chip id) or an app-level TinyUSB port.
    return { bridge: 'Espressif native USB', resetMode: 'auto', likelyEsp32: true };
  }
  return { resetMode: 'auto', likelyEsp32: false };
}

/** `'10c4'` (serialport's hex strings) → 0x10c4; undefined for anything else. */
export function parseUsbId(value: string | undefined): number | undefined {
  if (!value || !/^(0x)?[0-9a-fA-F]{1,4}$/.test(value)) return undefined;
  return Number.parseInt(value.replace(/^0x/, ''), 16);
}

export function formatUsbId(vendorId: number | undefined, productId: number | undefined): string {
  const h = (n: number | undefined): string => (n === undefined ? '????' : n.toString(16).padStart(4, '0'));
  return `${h(vendorId)}:${h(productId)}`;
}
