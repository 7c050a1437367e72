/**
 * The ESP32 serial bootloader as the host sees it: the ROM loader and, once uploaded, the flasher
 * stub (Espressif's serial protocol:
 * https://docs.espressif.com/projects/esptool/en/latest/esp32/advanced-topics/serial-protocol.html).
 * One command at a time, in arrival order; the stub ACKs data blocks before writing them and
 * reports a failure found afterwards with the next command, like the real one.
 */
import zlib from 'node:zlib';
import { CHIP_DETECT_MAGIC_REG, SPI_CMD_USR, flashJedecId, type ChipModel } from './chip.js';
import { FAULT_BLOCK_SEQ, type FaultState } from './faults.js';
import { FlashRangeError, SECTOR_SIZE, type VirtualFlash } from './flash.js';

export const Op = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  MEM_BEGIN: 0x05,
  MEM_END: 0x06,
  MEM_DATA: 0x07,
  SYNC: 0x08,
  WRITE_REG: 0x09,
  READ_REG: 0x0a,
  SPI_SET_PARAMS: 0x0b,
  SPI_ATTACH: 0x0d,
  READ_FLASH_SLOW: 0x0e,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
  ERASE_FLASH: 0xd0,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
  RUN_USER_CODE: 0xd3,
} as const;

const OP_NAMES = new Map<number, string>(Object.entries(Op).map(([k, v]) => [v, k]));
export const opName = (op: number): string => OP_NAMES.get(op) ?? `0x${op.toString(16)}`;

/** ROM error codes (second status byte) and stub error codes (first status byte). */
const RomErr = { INVALID_MESSAGE: 0x05, BAD_CHECKSUM: 0x07, FLASH_WRITE: 0x08, BAD_LENGTH: 0x0a, DEFLATE: 0x0b } as const;
const StubErr = {
  BAD_DATA_LEN: 0xc0,
  BAD_DATA_CHECKSUM: 0xc1,
  BAD_BLOCKSIZE: 0xc2,
  INVALID_COMMAND: 0xc3,
  FAILED_SPI_OP: 0xc4,
  NOT_IN_FLASH_MODE: 0xc6,
  INFLATE: 0xc7,
  NOT_ENOUGH_DATA: 0xc8,
  TOO_MUCH_DATA: 0xc9,
  NOT_IMPLEMENTED: 0xff,
} as const;

const ROM_SYNC_VALUE = 0x20120707;
const MAX_STUB_BLOCK = 0x4000;

export interface LoaderEnv {
  chip(): ChipModel;
  mac: Uint8Array;
  flash: VirtualFlash;
  faults: FaultState;
  /** Sends one response frame (SLIP-encoded by the board); resolves once it is on the wire. */
  send(payload: Uint8Array): Promise<void>;
  /** The loader's UART speed changes (after the CHANGE_BAUDRATE reply has gone out). */
  setBaud(baud: number): void;
  baud(): number;
  /** Called when the stub starts (after MEM_END jumps to it). */
  onStubStarted(): void;
  /** The loader hands over to the application (FLASH_END reboot, RUN_USER_CODE). */
  runUserCode(reason: 'flash-end' | 'run-user-code'): void;
  log(line: string): void;
  trace: boolean;
  /** Throttled board: SPI_FLASH_MD5 takes the time to read and hash the region at this rate. */
  md5BytesPerSec?: number | undefined;
  /** ROM reply to GET_SECURITY_INFO echoes the opcode (esptool-js then reconnects) instead of 0x00. */
  securityInfoEcho: boolean;
}

interface FlashSession {
  compressed: boolean;
  offset: number;
  /** Bytes of flash to write (uncompressed). */
  size: number;
  blockSize: number;
  written: number;
  /** Next sector (absolute address) not yet erased in this session (stub erases lazily). */
  eraseFrom: number;
  inflater?: zlib.Inflate;
  inflateError?: Error;
}

interface ReadFlashSession {
  offset: number;
  length: number;
  packetSize: number;
  sent: number;
  acked: number;
}

function u32(data: Uint8Array, at: number): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(at, true);
}

class CommandError extends Error {
  constructor(readonly code: number) {
    super(`error 0x${code.toString(16)}`);
  }
}

export class Loader {
  mode: 'rom' | 'stub' = 'rom';
  private readonly regs = new Map<number, number>();
  private session: FlashSession | undefined;
  private mem: { expected: number; received: number } | undefined;
  private readFlash: ReadFlashSession | undefined;
  /** Stub: error found after a data block was ACKed, reported with the next command. */
  private pendingError: number | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  syncs = 0;

  constructor(private readonly env: LoaderEnv) {}

  stop(): void {
    this.stopped = true;
    this.session?.inflater?.destroy();
    this.session = undefined;
  }

  /** A SLIP frame from the host. Frames are handled strictly one after another. */
  onFrame(frame: Uint8Array): void {
    this.queue = this.queue
      .then(() => (this.stopped ? undefined : this.handle(frame)))
      .catch((err: unknown) => this.env.log(`loader error: ${(err as Error).stack ?? String(err)}`));
  }

  private get isStub(): boolean {
    return this.mode === 'stub';
  }

  private async respond(op: number, value = 0, data: Uint8Array = new Uint8Array(0), error?: number): Promise<void> {
    const status = this.isStub
      ? Uint8Array.from(error === undefined ? [0, 0] : [error, 0])
      : Uint8Array.from(error === undefined ? [0, 0, 0, 0] : [1, error, 0, 0]);
    const body = new Uint8Array(8 + data.length + status.length);
    const view = new DataView(body.buffer);
    body[0] = 0x01;
    body[1] = op;
    view.setUint16(2, data.length + status.length, true);
    view.setUint32(4, value >>> 0, true);
    body.set(data, 8);
    body.set(status, 8 + data.length);
    if (this.env.trace) this.env.log(`tx ${opName(op)} value=0x${(value >>> 0).toString(16)} ${error === undefined ? 'ok' : `err=0x${error.toString(16)}`}`);
    await this.env.send(body);
  }

  private async fail(op: number, romCode: number, stubCode: number): Promise<void> {
    await this.respond(op, 0, new Uint8Array(0), this.isStub ? stubCode : romCode);
  }

  private async handle(frame: Uint8Array): Promise<void> {
    if (this.readFlash) {
      await this.onReadFlashAck(frame);
      return;
    }
    if (frame.length < 8 || frame[0] !== 0x00) return; // not a request: ignore like the ROM does
    if (this.env.faults.mute) return;
    const op = frame[1]!;
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const len = view.getUint16(2, true);
    const chk = view.getUint32(4, true);
    const data = frame.subarray(8);
    if (this.env.trace) this.env.log(`rx ${opName(op)} len=${len}`);
    if (data.length !== len) {
      await this.fail(op, RomErr.BAD_LENGTH, StubErr.BAD_DATA_LEN);
      return;
    }
    if (this.pendingError !== undefined && op !== Op.SYNC) {
      const code = this.pendingError;
      this.pendingError = undefined;
      await this.respond(op, 0, new Uint8Array(0), code);
      return;
    }
    try {
      await this.dispatch(op, data, chk);
    } catch (err) {
      if (err instanceof CommandError) await this.respond(op, 0, new Uint8Array(0), err.code);
      else if (err instanceof FlashRangeError) {
        this.env.log(err.message);
        await this.fail(op, RomErr.FLASH_WRITE, StubErr.FAILED_SPI_OP);
      } else throw err;
    }
  }

  private err(romCode: number, stubCode: number): CommandError {
    return new CommandError(this.isStub ? stubCode : romCode);
  }

  private async dispatch(op: number, data: Uint8Array, chk: number): Promise<void> {
    switch (op) {
      case Op.SYNC:
        return this.sync();
      case Op.READ_REG:
        if (data.length < 4) throw this.err(RomErr.BAD_LENGTH, StubErr.BAD_DATA_LEN);
        return this.respond(op, this.readReg(u32(data, 0)));
      case Op.WRITE_REG:
        if (data.length === 0 || data.length % 16 !== 0) throw this.err(RomErr.BAD_LENGTH, StubErr.BAD_DATA_LEN);
        for (let at = 0; at < data.length; at += 16) this.writeReg(u32(data, at), u32(data, at + 4), u32(data, at + 8));
        return this.respond(op);
      case Op.SPI_SET_PARAMS:
      case Op.SPI_ATTACH:
        return this.respond(op);
      case Op.CHANGE_BAUDRATE: {
        const baud = u32(data, 0);
        await this.respond(op);
        this.env.log(`baud rate ${this.env.baud()} → ${baud}`);
        this.env.setBaud(baud);
        return;
      }
      case Op.MEM_BEGIN:
        this.mem = { expected: u32(data, 0), received: 0 };
        return this.respond(op);
      case Op.MEM_DATA: {
        const payload = data.subarray(16);
        if (u32(data, 0) !== payload.length) throw this.err(RomErr.BAD_LENGTH, StubErr.BAD_DATA_LEN);
        if (checksum(payload) !== (chk & 0xff)) throw this.err(RomErr.BAD_CHECKSUM, StubErr.BAD_DATA_CHECKSUM);
        if (this.mem) this.mem.received += payload.length;
        return this.respond(op);
      }
      case Op.MEM_END: {
        const flag = u32(data, 0);
        const entry = data.length >= 8 ? u32(data, 4) : 0;
        await this.respond(op);
        if (flag === 0 && entry !== 0) await this.startStub(entry);
        return;
      }
      case Op.FLASH_BEGIN:
      case Op.FLASH_DEFL_BEGIN:
        return this.flashBegin(op, data);
      case Op.FLASH_DATA:
      case Op.FLASH_DEFL_DATA:
        return this.flashData(op, data, chk);
      case Op.FLASH_END:
      case Op.FLASH_DEFL_END:
        return this.flashEnd(op, data);
      case Op.SPI_FLASH_MD5: {
        const addr = u32(data, 0);
        const size = u32(data, 4);
        const digest = this.env.flash.md5(addr, size);
        if (this.env.md5BytesPerSec) await sleep((size * 1000) / this.env.md5BytesPerSec);
        return this.respond(op, 0, this.isStub ? digest : Buffer.from(digest.toString('hex'), 'ascii'));
      }
      case Op.GET_SECURITY_INFO:
        return this.securityInfo(op);
      case Op.ERASE_FLASH:
        if (!this.isStub) return this.unsupported(op);
        await this.eraseRange(0, this.env.flash.capacity);
        return this.respond(op);
      case Op.ERASE_REGION: {
        if (!this.isStub) return this.unsupported(op);
        const offset = u32(data, 0);
        const size = u32(data, 4);
        if (offset % SECTOR_SIZE !== 0 || size % SECTOR_SIZE !== 0) throw new CommandError(StubErr.BAD_DATA_LEN);
        await this.eraseRange(offset, size);
        return this.respond(op);
      }
      case Op.READ_FLASH:
        if (!this.isStub) return this.unsupported(op);
        return this.startReadFlash(data);
      case Op.RUN_USER_CODE:
        if (!this.isStub) return this.unsupported(op);
        this.env.runUserCode('run-user-code'); // no response: the chip resets into the application
        return;
      default:
        return this.unsupported(op);
    }
  }

  private async sync(): Promise<void> {
    this.syncs++;
    // Both the ROM and the stub answer SYNC eight times; only the ROM puts a non-zero value in it.
    for (let i = 0; i < 8; i++) await this.respond(Op.SYNC, this.isStub ? 0 : ROM_SYNC_VALUE);
  }

  private async unsupported(op: number): Promise<void> {
    if (this.isStub) {
      await this.respond(op, 0, new Uint8Array(0), op === Op.GET_SECURITY_INFO ? StubErr.NOT_IMPLEMENTED : StubErr.INVALID_COMMAND);
      return;
    }
    await this.respond(op, 0, new Uint8Array(0), RomErr.INVALID_MESSAGE);
  }

  private async securityInfo(op: number): Promise<void> {
    const info = this.env.chip().securityInfo;
    if (info) return this.respond(op, 0, info);
    if (this.isStub) return this.unsupported(op);
    // The ESP32 ROM does not know 0x14: it answers "invalid message" 8 times (14 bytes each on the
    // wire), with op 0x00 in the reply by default (what esptool-js 0.7.0 expects of it).
    const opRet = this.env.securityInfoEcho ? op : 0x00;
    for (let i = 0; i < 8; i++) await this.respond(opRet, 0, new Uint8Array(0), RomErr.INVALID_MESSAGE);
  }

  private readReg(addr: number): number {
    const chip = this.env.chip();
    if (addr === CHIP_DETECT_MAGIC_REG) return chip.magic;
    // The ROM measured the host's rate (autobaud): the divider reflects it, 40 MHz crystal.
    if (addr === chip.uartClkdivReg) return Math.round(40e6 / this.env.baud()) & 0xfffff;
    const stored = this.regs.get(addr);
    if (stored !== undefined) return stored;
    return chip.registers(this.env.mac).get(addr) ?? 0;
  }

  private writeReg(addr: number, value: number, mask: number): void {
    const old = this.readReg(addr);
    const next = ((old & ~mask) | (value & mask)) >>> 0;
    this.regs.set(addr, next);
    const spi = this.env.chip().spi;
    if (addr === spi.base && next & SPI_CMD_USR) {
      const command = (this.regs.get(spi.base + spi.usr2) ?? 0) & 0xff;
      // RDID answers the JEDEC ID of the flash; other commands read back zero.
      this.regs.set(spi.base + spi.w0, command === 0x9f ? flashJedecId(this.env.flash.capacity) : 0);
      this.regs.set(spi.base, next & ~SPI_CMD_USR);
    }
  }

  private async startStub(entry: number): Promise<void> {
    this.mode = 'stub';
    this.mem = undefined;
    this.env.log(`stub running (entry 0x${entry.toString(16)})`);
    this.env.onStubStarted();
    if (this.env.faults.noOhai) {
      this.env.log('fault no-ohai: not greeting');
      return;
    }
    await this.env.send(Buffer.from('OHAI', 'ascii'));
  }

  private async eraseRange(offset: number, size: number): Promise<void> {
    const flash = this.env.flash;
    if (offset + size > flash.capacity) throw new FlashRangeError(`erase 0x${offset.toString(16)}+0x${size.toString(16)} beyond the flash`);
    for (let a = offset - (offset % SECTOR_SIZE); a < offset + size; a += SECTOR_SIZE) {
      flash.eraseSector(a);
      if (this.env.faults.slowEraseMs > 0) await sleep(this.env.faults.slowEraseMs);
    }
  }

  private async flashBegin(op: number, data: Uint8Array): Promise<void> {
    if (data.length !== 16 && data.length !== 20) throw this.err(RomErr.BAD_LENGTH, StubErr.BAD_DATA_LEN);
    const size = u32(data, 0);
    const blockSize = u32(data, 8);
    const offset = u32(data, 12);
    const compressed = op === Op.FLASH_DEFL_BEGIN;
    if (this.isStub && blockSize > MAX_STUB_BLOCK) throw new CommandError(StubErr.BAD_BLOCKSIZE);
    if (offset + size > this.env.flash.capacity) {
      throw new FlashRangeError(`write of 0x${size.toString(16)} bytes at 0x${offset.toString(16)} does not fit the ${this.env.flash.capacity / 0x100000} MB flash`);
    }
    this.session?.inflater?.destroy();
    const session: FlashSession = { compressed, offset, size, blockSize, written: 0, eraseFrom: offset - (offset % SECTOR_SIZE) };
    if (compressed) {
      session.inflater = zlib.createInflate();
      session.inflater.on('error', (e) => {
        session.inflateError = e;
      });
    }
    this.session = session;
    this.env.log(`${compressed ? 'compressed ' : ''}write of ${size} bytes at 0x${offset.toString(16)} begins (${this.mode})`);
    // The ROM erases the whole region now; the stub erases sector by sector as data arrives.
    if (!this.isStub) {
      await this.eraseRange(offset, size);
      session.eraseFrom = offset + size;
    }
    await this.respond(op);
  }

  private async flashData(op: number, data: Uint8Array, chk: number): Promise<void> {
    const session = this.session;
    if (!session || session.compressed !== (op === Op.FLASH_DEFL_DATA)) throw this.err(RomErr.INVALID_MESSAGE, StubErr.NOT_IN_FLASH_MODE);
    const payload = data.subarray(16);
    if (data.length < 16 || u32(data, 0) !== payload.length) throw this.err(RomErr.BAD_LENGTH, StubErr.BAD_DATA_LEN);
    const faults = this.env.faults;
    const faultBlock = session.compressed && u32(data, 4) === FAULT_BLOCK_SEQ;
    if (faultBlock && faults.inflateError !== 'off') {
      // A line error the XOR checksum cannot see (two flips of one bit) on which tinfl fails: the
      // decompressor stays failed for the rest of this write, as the stub's does.
      session.inflateError = new Error('fault inflate-error');
      if (faults.inflateError === 'once') faults.inflateError = 'off';
      this.env.log(`fault inflate-error: block seq ${FAULT_BLOCK_SEQ} arrived damaged (checksum still matches)`);
    }
    let badChecksum = checksum(payload) !== (chk & 0xff);
    if (this.env.faults.badChecksums > 0) {
      this.env.faults.badChecksums--;
      this.env.log(`fault bad-checksum: rejecting block seq ${u32(data, 4)}`);
      badChecksum = true;
    }
    if (badChecksum) throw this.err(RomErr.BAD_CHECKSUM, StubErr.BAD_DATA_CHECKSUM);

    if (faultBlock && faults.lateAckMs > 0) {
      const ms = faults.lateAckMs;
      faults.lateAckMs = 0;
      this.env.log(`fault late-ack: answering block seq ${FAULT_BLOCK_SEQ} ${ms} ms late (the block is kept)`);
      await sleep(ms);
    }
    if (this.isStub) {
      // ACK first, then write: a failure is reported with the next command.
      await this.respond(op);
      try {
        await this.writeBlock(session, payload);
      } catch (err) {
        this.pendingError = err instanceof CommandError ? err.code : StubErr.FAILED_SPI_OP;
        this.env.log(`write failed after ACK: ${(err as Error).message}`);
      }
      return;
    }
    await this.writeBlock(session, payload);
    await this.respond(op);
  }

  private async writeBlock(session: FlashSession, payload: Uint8Array): Promise<void> {
    let plain: Uint8Array;
    if (session.compressed) {
      plain = await inflateChunk(session.inflater!, payload);
      if (session.inflateError) throw this.err(RomErr.DEFLATE, StubErr.INFLATE);
    } else {
      // Uncompressed blocks are padded to the block size with 0xFF; the stub stops at the write size.
      plain = this.isStub ? payload.subarray(0, Math.max(0, session.size - session.written)) : payload;
    }
    if (plain.length === 0) return;
    if (session.written + plain.length > session.size && (this.isStub || session.compressed)) {
      throw this.err(RomErr.FLASH_WRITE, StubErr.TOO_MUCH_DATA);
    }
    const addr = session.offset + session.written;
    const end = addr + plain.length;
    while (session.eraseFrom < end) {
      this.env.flash.eraseSector(session.eraseFrom);
      if (this.env.faults.slowEraseMs > 0) await sleep(this.env.faults.slowEraseMs);
      session.eraseFrom += SECTOR_SIZE;
    }
    this.env.flash.program(addr, plain);
    session.written += plain.length;
    if (session.written >= session.size) this.writeComplete(session);
  }

  private writeComplete(session: FlashSession): void {
    const faults = this.env.faults;
    if (faults.md5Mismatch === 'off' || session.size === 0) return;
    const at = session.offset + Math.floor(session.size / 2);
    this.env.flash.flipBit(at);
    this.env.log(`fault md5-mismatch: flipped a bit at 0x${at.toString(16)}`);
    if (faults.md5Mismatch === 'once') faults.md5Mismatch = 'off';
  }

  private async flashEnd(op: number, data: Uint8Array): Promise<void> {
    const session = this.session;
    const flag = data.length >= 4 ? u32(data, 0) : 0;
    if (this.isStub) {
      if (!session) throw new CommandError(StubErr.NOT_IN_FLASH_MODE);
      if (session.written < session.size) {
        this.env.log(`flash end with ${session.size - session.written} bytes missing`);
        throw new CommandError(StubErr.BAD_DATA_LEN);
      }
    }
    this.session?.inflater?.destroy();
    this.session = undefined;
    await this.respond(op);
    // The stub never reboots here (its reboot flag is unimplemented); the ROM runs the app on flag 0.
    if (!this.isStub && flag === 0) this.env.runUserCode('flash-end');
  }

  private async startReadFlash(data: Uint8Array): Promise<void> {
    const offset = u32(data, 0);
    const length = u32(data, 4);
    const packetSize = u32(data, 8);
    if (packetSize === 0 || packetSize > 0x4000) throw new CommandError(StubErr.BAD_BLOCKSIZE);
    this.env.flash.read(offset, length); // range check before answering
    await this.respond(Op.READ_FLASH);
    this.readFlash = { offset, length, packetSize, sent: 0, acked: 0 };
    await this.sendNextReadPacket();
  }

  /** The stub sends one packet at a time (max in flight forced to 1) and waits for the host's ack. */
  private async sendNextReadPacket(): Promise<void> {
    const rf = this.readFlash!;
    if (rf.sent >= rf.length) {
      this.readFlash = undefined;
      await this.env.send(this.env.flash.md5(rf.offset, rf.length));
      return;
    }
    const n = Math.min(rf.packetSize, rf.length - rf.sent);
    const chunk = this.env.flash.read(rf.offset + rf.sent, n);
    rf.sent += n;
    await this.env.send(chunk);
  }

  private onReadFlashAck(frame: Uint8Array): Promise<void> | void {
    const rf = this.readFlash!;
    if (frame.length !== 4) {
      this.env.log('READ_FLASH: unexpected frame while waiting for an ack; aborting the read');
      this.readFlash = undefined;
      return;
    }
    rf.acked = u32(frame, 0);
    if (rf.acked < rf.sent) return; // partial ack: keep waiting
    return this.sendNextReadPacket();
  }
}

export function checksum(payload: Uint8Array): number {
  let c = 0xef;
  for (const b of payload) c ^= b;
  return c;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Feeds one block to a streaming inflater and collects what it produced (tinfl-like, across blocks). */
function inflateChunk(inflater: zlib.Inflate, data: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const onData = (c: Buffer): void => void out.push(c);
    const done = (): void => {
      inflater.off('data', onData);
      inflater.off('error', done);
      resolve(Buffer.concat(out));
    };
    inflater.on('data', onData);
    inflater.once('error', done);
    if (inflater.destroyed) return done();
    inflater.write(data);
    inflater.flush(zlib.constants.Z_SYNC_FLUSH, done);
  });
}
