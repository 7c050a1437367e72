/**
 * Register-level models of the chips the simulator can pretend to be: what esptool-js 0.7.0 reads
 * to identify the chip, its revision, crystal, MAC and flash ID (registers as esptool-js's
 * targets/*.js read them; commands as in Espressif's serial protocol,
 * https://docs.espressif.com/projects/esptool/en/latest/esp32/advanced-topics/serial-protocol.html).
 */
export type SimChip = 'esp32' | 'esp32s3' | 'esp32c3';
export const SIM_CHIPS: readonly SimChip[] = ['esp32', 'esp32s3', 'esp32c3'];

export interface ChipModel {
  name: SimChip;
  /** What esptool-js prints for it. */
  displayName: string;
  /** The chip id in its images' extended header (the 2nd-stage bootloader refuses an app with another). */
  imageChipId: number;
  /** Where its ROM looks for the 2nd-stage bootloader. */
  bootloaderOffset: number;
  /** Has Espressif's USB-Serial/JTAG peripheral (S3, C3). */
  usbJtag: boolean;
  /** First ROM lines after a reset (`rst` = reset reason text, `boot` = strapping text). */
  romBanner(rst: string, boot: string): string;
  magic: number;
  /** GET_SECURITY_INFO payload (20 bytes) or undefined when the ROM lacks the command (ESP32). */
  securityInfo?: Uint8Array;
  uartClkdivReg: number;
  spi: { base: number; usr: number; usr1: number; usr2: number; w0: number };
  /** Fixed registers (eFuse words, APB date, …) for a MAC. */
  registers(mac: Uint8Array): Map<number, number>;
}

export const CHIP_DETECT_MAGIC_REG = 0x40001000;
export const SPI_CMD_USR = 1 << 18;

/** CRC-8 of the MAC as the ESP32 eFuse stores it (reflected polynomial 0x8C, init 0; espefuse calc_crc). */
export function macCrc8(mac: Uint8Array): number {
  let crc = 0;
  for (const b of mac) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0x8c : crc >>> 1;
  }
  return crc;
}

const ESP32_EFUSE_BASE = 0x3ff5a000;

const esp32: ChipModel = {
  name: 'esp32',
  displayName: 'ESP32-D0WD-V3 (revision 3)',
  imageChipId: 0,
  bootloaderOffset: 0x1000,
  usbJtag: false,
  romBanner: (rst, boot) => `ets Jun  8 2016 00:22:57\r\n\r\nrst:${rst},boot:${boot}\r\n`,
  magic: 0x00f01d83,
  uartClkdivReg: 0x3ff40014,
  spi: { base: 0x3ff42000, usr: 0x1c, usr1: 0x20, usr2: 0x24, w0: 0x80 },
  registers(mac) {
    const r = new Map<number, number>();
    const word = (n: number, v: number): void => void r.set(ESP32_EFUSE_BASE + 4 * n, v >>> 0);
    word(0, 0);
    word(1, (mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!);
    word(2, (macCrc8(mac) << 16) | (mac[0]! << 8) | mac[1]!);
    word(3, (1 << 15) | (1 << 9)); // CHIP_VER_REV1, package D0WD, dual core, BT
    word(4, 0);
    word(5, 1 << 20); // CHIP_VER_REV2
    word(6, 0); // coding scheme: none
    r.set(0x3ff6607c, 0x96042000); // APB_CTL_DATE with bit 31 → revision 3
    return r;
  },
};

function securityInfo(chipId: number): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0, true); // flags
  b[4] = 0; // flash crypt count
  b.fill(0, 5, 12); // key purposes
  v.setUint32(12, chipId, true); // chip id (ESP32-S3 = 9, ESP32-C3 = 5)
  v.setUint32(16, 0, true); // API version
  return b;
}

const ESP32S3_EFUSE_BASE = 0x60007000;

/** An ESP32-S3 as esptool-js 0.7.0 reads it (GET_SECURITY_INFO chip id, eFuse block 1 MAC, SPI1 registers). */
const esp32s3: ChipModel = {
  name: 'esp32s3',
  displayName: 'ESP32-S3 (QFN56) (revision v0.0)',
  imageChipId: 9,
  bootloaderOffset: 0x0,
  usbJtag: true,
  romBanner: (rst, boot) => `ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:${rst},boot:${boot}\r\n`,
  magic: 0x9,
  securityInfo: securityInfo(9),
  uartClkdivReg: 0x60000014,
  spi: { base: 0x60002000, usr: 0x18, usr1: 0x1c, usr2: 0x20, w0: 0x58 },
  registers(mac) {
    const r = new Map<number, number>();
    r.set(ESP32S3_EFUSE_BASE + 0x44, ((mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0);
    r.set(ESP32S3_EFUSE_BASE + 0x48, (mac[0]! << 8) | mac[1]!);
    return r;
  },
};

const ESP32C3_EFUSE_BASE = 0x60008800;

/** An ESP32-C3 (RISC-V) as esptool-js 0.7.0 reads it. */
const esp32c3: ChipModel = {
  name: 'esp32c3',
  displayName: 'ESP32-C3 (QFN32) (revision v0.4)',
  imageChipId: 5,
  bootloaderOffset: 0x0,
  usbJtag: true,
  romBanner: (rst, boot) => `ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\nrst:${rst},boot:${boot}\r\n`,
  magic: 0x1b31506f,
  securityInfo: securityInfo(5),
  uartClkdivReg: 0x3ff40014,
  spi: { base: 0x60002000, usr: 0x18, usr1: 0x1c, usr2: 0x20, w0: 0x58 },
  registers(mac) {
    const r = new Map<number, number>();
    r.set(ESP32C3_EFUSE_BASE + 0x44, ((mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0);
    r.set(ESP32C3_EFUSE_BASE + 0x48, (mac[0]! << 8) | mac[1]!);
    r.set(ESP32C3_EFUSE_BASE + 0x44 + 4 * 3, 4 << 18); // minor revision 4
    return r;
  },
};

export const CHIPS: Record<SimChip, ChipModel> = { esp32, esp32s3, esp32c3 };

/** JEDEC ID as W0 after RDID (Winbond W25Q, capacity byte = log2(size)). */
export function flashJedecId(flashSize: number): number {
  return (Math.log2(flashSize) << 16) | (0x40 << 8) | 0xef;
}
