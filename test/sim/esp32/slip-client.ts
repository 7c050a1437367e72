/**
 * A minimal host side of the ESP serial protocol over a SerialLink, for protocol-level tests of the
 * simulator (the product talks to boards through esptool-js instead).
 */
import zlib from 'node:zlib';
import type { SerialLink } from '../../../src/main/devices/serial-link.js';
import { checksum, Op } from './loader.js';
import { slipEncode } from './slip.js';

export interface Response {
  op: number;
  value: number;
  data: Buffer;
}

const u32 = (...values: number[]): Buffer => {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32LE(v >>> 0, 4 * i));
  return b;
};
export { u32 };

export class SlipClient {
  private readonly frames: Buffer[] = [];
  private waiter: (() => void) | undefined;
  /** Bytes received outside frames (boot banners, logs). */
  text = '';
  /** Raw decoder errors seen (invalid escapes). */
  invalidEscapes = 0;
  private readonly unsubscribe: () => void;
  private raw: number[] | undefined;
  private escaped = false;

  // A strict decoder like esptool-js's: an invalid escape is counted, not silently repaired.
  constructor(readonly link: SerialLink) {
    this.unsubscribe = link.onData((chunk) => this.onBytes(chunk));
  }

  private onBytes(chunk: Uint8Array): void {
    for (const b of chunk) {
      if (this.raw === undefined) {
        if (b === 0xc0) this.raw = [];
        else this.text += String.fromCharCode(b);
        continue;
      }
      if (this.escaped) {
        this.escaped = false;
        if (b === 0xdc) this.raw.push(0xc0);
        else if (b === 0xdd) this.raw.push(0xdb);
        else {
          this.invalidEscapes++;
          this.raw = undefined;
        }
        continue;
      }
      if (b === 0xdb) this.escaped = true;
      else if (b === 0xc0) {
        if (this.raw.length > 0) {
          this.frames.push(Buffer.from(this.raw));
          this.raw = undefined;
        } else this.raw = [];
      } else this.raw.push(b);
    }
    this.waiter?.();
  }

  /** Next raw frame, or throws after `timeoutMs`. */
  async readFrame(timeoutMs = 2000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.frames.shift()!;
  }

  flush(): void {
    this.frames.length = 0;
    this.text = '';
  }

  async send(op: number, data: Uint8Array = new Uint8Array(0), chk = 0): Promise<void> {
    const pkt = Buffer.alloc(8 + data.length);
    pkt[0] = 0;
    pkt[1] = op;
    pkt.writeUInt16LE(data.length, 2);
    pkt.writeUInt32LE(chk >>> 0, 4);
    Buffer.from(data).copy(pkt, 8);
    await this.link.write(slipEncode(pkt));
  }

  async sendRawFrame(payload: Uint8Array): Promise<void> {
    await this.link.write(slipEncode(payload));
  }

  /** Reads response packets until one for `op` arrives. */
  async response(op: number, timeoutMs = 2000): Promise<Response> {
    for (;;) {
      const f = await this.readFrame(timeoutMs);
      if (f.length < 8 || f[0] !== 1) continue;
      if (f[1] === op) return { op, value: f.readUInt32LE(4), data: f.subarray(8) };
    }
  }

  async command(op: number, data: Uint8Array = new Uint8Array(0), chk = 0, timeoutMs = 2000): Promise<Response> {
    await this.send(op, data, chk);
    return this.response(op, timeoutMs);
  }

  async sync(): Promise<Response[]> {
    const data = Buffer.concat([Buffer.from([7, 7, 0x12, 0x20]), Buffer.alloc(32, 0x55)]);
    await this.send(Op.SYNC, data);
    const out: Response[] = [];
    for (let i = 0; i < 8; i++) out.push(await this.response(Op.SYNC, 500));
    return out;
  }

  async readReg(addr: number): Promise<number> {
    return (await this.command(Op.READ_REG, u32(addr))).value;
  }

  async writeReg(addr: number, value: number, mask = 0xffffffff): Promise<Response> {
    return this.command(Op.WRITE_REG, u32(addr, value, mask, 0));
  }

  /** Uploads a fake stub image and jumps to it; returns the frame that follows (OHAI). */
  async runStub(entry = 0x400a902c, timeoutMs = 2000): Promise<Buffer> {
    const text = Buffer.alloc(6456, 0x11);
    const blockSize = 0x1800;
    const blocks = Math.ceil(text.length / blockSize);
    await this.command(Op.MEM_BEGIN, u32(text.length, blocks, blockSize, 0x400a8000));
    for (let seq = 0; seq < blocks; seq++) {
      const block = text.subarray(seq * blockSize, (seq + 1) * blockSize);
      await this.command(Op.MEM_DATA, Buffer.concat([u32(block.length, seq, 0, 0), block]), checksum(block));
    }
    await this.command(Op.MEM_END, u32(0, entry));
    return this.readFrame(timeoutMs);
  }

  /** Compressed write as the stub expects (16 KiB blocks of one zlib stream). Returns each block's response. */
  async writeCompressed(offset: number, image: Uint8Array, blockSize = 0x4000): Promise<Response[]> {
    const z = zlib.deflateSync(image, { level: 9 });
    const blocks = Math.ceil(z.length / blockSize);
    const out: Response[] = [await this.command(Op.FLASH_DEFL_BEGIN, u32(image.length, blocks, blockSize, offset))];
    for (let seq = 0; seq < blocks; seq++) {
      const block = z.subarray(seq * blockSize, (seq + 1) * blockSize);
      out.push(await this.command(Op.FLASH_DEFL_DATA, Buffer.concat([u32(block.length, seq, 0, 0), block]), checksum(block), 5000));
    }
    out.push(await this.command(Op.FLASH_DEFL_END, u32(1)));
    return out;
  }

  close(): void {
    this.unsubscribe();
  }
}

/** The status bytes of a response: [status, error] for the ROM (4 bytes), [error, status] for the stub. */
export function statusOf(r: Response, stub: boolean): { ok: boolean; code: number } {
  const s = r.data.subarray(r.data.length - (stub ? 2 : 4));
  return stub ? { ok: s[0] === 0, code: s[0]! } : { ok: s[0] === 0, code: s[1]! };
}
