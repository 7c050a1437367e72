/**
 * The simulated board's SPI NOR flash, kept in a file so tests can inspect it and a board keeps its
 * contents across restarts. NOR semantics: programming can only clear bits (new = old AND data),
 * erasing sets a whole 4 KiB sector to 0xFF.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

export const SECTOR_SIZE = 0x1000;

export class VirtualFlash {
  private readonly buf: Buffer;
  private readonly fd: number;
  /** Usable size (what RDID reports); may be below the file size (the "flash too small" fault). */
  capacity: number;

  constructor(
    readonly file: string,
    readonly size: number,
  ) {
    if (size % SECTOR_SIZE !== 0 || size <= 0) throw new Error(`flash size ${size} is not a multiple of 4096`);
    const fresh = !existsSync(file);
    this.fd = openSync(file, fresh ? 'w+' : 'r+', 0o600);
    this.buf = Buffer.alloc(size, 0xff);
    if (fresh) {
      writeSync(this.fd, this.buf, 0, size, 0);
    } else {
      const have = fstatSync(this.fd).size;
      if (have !== size) {
        closeSync(this.fd);
        throw new Error(`flash file ${file} is ${have} bytes, expected ${size} (delete it or pass the matching flash size)`);
      }
      readSync(this.fd, this.buf, 0, size, 0);
    }
    this.capacity = size;
  }

  private check(addr: number, len: number): void {
    if (addr < 0 || len < 0 || addr + len > this.capacity) {
      throw new FlashRangeError(`flash access 0x${addr.toString(16)}+0x${len.toString(16)} beyond the ${this.capacity / 0x100000} MB flash`);
    }
  }

  private persist(addr: number, len: number): void {
    writeSync(this.fd, this.buf, addr, len, addr);
  }

  read(addr: number, len: number): Buffer {
    this.check(addr, len);
    return Buffer.from(this.buf.subarray(addr, addr + len));
  }

  /** Programs bytes: can only turn 1s into 0s, like a real NOR page program. */
  program(addr: number, data: Uint8Array): void {
    this.check(addr, data.length);
    for (let i = 0; i < data.length; i++) this.buf[addr + i]! &= data[i]!;
    this.persist(addr, data.length);
  }

  eraseSector(addr: number): void {
    const start = addr - (addr % SECTOR_SIZE);
    this.check(start, SECTOR_SIZE);
    this.buf.fill(0xff, start, start + SECTOR_SIZE);
    this.persist(start, SECTOR_SIZE);
  }

  isSectorBlank(addr: number): boolean {
    const start = addr - (addr % SECTOR_SIZE);
    return this.buf.subarray(start, start + SECTOR_SIZE).every((b) => b === 0xff);
  }

  eraseAll(): void {
    this.buf.fill(0xff, 0, this.capacity);
    this.persist(0, this.capacity);
  }

  md5(addr: number, len: number): Buffer {
    this.check(addr, len);
    return createHash('md5').update(this.buf.subarray(addr, addr + len)).digest();
  }

  /** Fault injection: flips one bit, as a worn cell or a bad write would. */
  flipBit(addr: number): void {
    this.buf[addr]! ^= 0x01;
    this.persist(addr, 1);
  }

  close(): void {
    closeSync(this.fd);
  }
}

export class FlashRangeError extends Error {}
