import { createHash } from 'node:crypto';
import type { ESPLoader } from 'esptool-js';
import { JobFailure } from '../jobs/job-failure.js';
import { deflateCached, deflateOnce } from './deflate-cache.js';
import { changedRuns, padImage, SECTOR, sectorDigests, type KnownImage } from './flash-plan.js';

/**
 * The station's compressed flash writer: FLASH_DEFL_BEGIN / DATA / END and SPI_FLASH_MD5 through
 * esptool-js 0.7.0's public commands.
 *
 * Why not esptool's retry: the flasher stub feeds every FLASH_DEFL_DATA block into one streaming
 * inflater and ignores the sequence number. esptool(-js) re-sends a block whose answer came late or
 * garbled; when the stub did get it (host or USB stall, a slow erase before the answer), the same
 * bytes are inflated twice, the stream is corrupt and the stub reports 0xC7 (inflate error) only at
 * FLASH_DEFL_END, after the whole image was sent. Here a block is re-sent only when the stub said it
 * refused it (bad checksum or length: not consumed); refused three times, the line is losing data at
 * this speed and the write fails (the job then falls back to 115200). Any other failure (no or a
 * garbled answer, an error from the stub's stream) restarts the part with FLASH_DEFL_BEGIN, which
 * resets the stub's inflater, once the line has gone quiet.
 */

/** Stub status codes (esp-flasher-stub): the block was refused before it reached the inflater. */
const STUB_BAD_DATA_LEN = 0xc0;
const STUB_BAD_DATA_CHECKSUM = 0xc1;
const STUB_ERRORS: Record<number, string> = {
  0xc0: 'bad data length',
  0xc1: 'bad checksum',
  0xc2: 'bad block size',
  0xc3: 'invalid command',
  0xc4: 'SPI flash operation failed',
  0xc5: 'SPI unlock failed',
  0xc6: 'not in flash mode',
  0xc7: 'inflate error: the compressed data arrived damaged',
  0xc8: 'not enough data',
  0xc9: 'too much data',
  0xff: 'not implemented',
};

/** Whole-part attempts (the first write and up to two restarts from FLASH_DEFL_BEGIN). */
export const PART_ATTEMPTS = 3;
/** Sends of one block the stub refused (bad checksum/length), like esptool's WRITE_BLOCK_ATTEMPTS. */
const BLOCK_ATTEMPTS = 3;

export interface WritablePart {
  /** For logs and errors ("bootloader.bin", "tdscfg", …). */
  name: string;
  address: number;
  data: Uint8Array;
  /** Per-device data (the data partition): always written whole, never cached, zeroed after use. */
  deviceData?: boolean;
  /** The image this MAC last received at this address, when the station knows it (sector diff). */
  known?: KnownImage;
}

/** Where the writer is, for progress and for the `where` of a failure. */
export interface FlashPosition {
  index: number;
  /** `check`: asking the board what it holds; `verify`: the MD5 after writing. */
  phase: 'check' | 'blocks' | 'finish' | 'verify';
  /** Uncompressed bytes of the current part written so far (estimated from the compressed stream). */
  written: number;
  /** 1-based block being sent, and the part's block count. */
  block: number;
  blocks: number;
}

export interface WriterContext {
  loader: ESPLoader;
  /** Races an esptool call against unplug and cancel (rejects with PORT_GONE / AbortError). */
  guard<T>(p: Promise<T>): Promise<T>;
  /** True once the port is gone (no point restarting a part). */
  gone(): boolean;
  log(text: string, level?: 'info' | 'debug' | 'warn'): void;
  /** Called whenever the position changes (progress). */
  onPosition(position: FlashPosition): void;
}

/** The board keeps refusing a block as damaged: the line loses data at this speed (no restart). */
class LineFailure extends Error {}

/** A failure whose effect on the stub is unknown or which broke its stream: restart the part. */
class PartFailure extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

/**
 * esptool-js bounds how long it waits for an answer, but not the write before it: a link whose
 * output stops moving (a stalled USB hub or CDC device, a wedged driver) would hold a command for
 * ever. Each command gets this much on top of its own timeout; past it the session is given up as a
 * line failure, and the job reconnects (closing the port clears what was stuck).
 */
export const STALL_MARGIN_MS = 10_000;

function bounded<T>(op: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const limit = timeoutMs + STALL_MARGIN_MS;
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LineFailure(`the serial link stopped moving: ${what} got neither an answer nor a timeout within ${Math.round(limit / 1000)} s`)), limit);
  });
  op.catch(() => undefined);
  return Promise.race([op, stalled]).finally(() => clearTimeout(timer));
}

/** What the writer did with a part. */
export interface PartOutcome {
  name: string;
  address: number;
  /** Image bytes (padded to 4). */
  bytes: number;
  /**
   * `skipped`: the board's MD5 of the region already matched; `sectors`: only the sectors that
   * differ from the image the MAC last received were written; `full`: the whole part was written
   * (also after a sector diff that left the region different: then `fallback` is true).
   */
  action: 'skipped' | 'sectors' | 'full';
  /** 4 KiB sectors written, of `sectorCount`. */
  sectorsWritten: number;
  sectorCount: number;
  /** Compressed bytes sent for this part (block payloads). */
  sent: number;
  fallback?: boolean;
}

/**
 * Writes every part in one session, each ending with the stub's MD5 of the region equal to ours.
 * Before writing a bundle part the board is asked for the MD5 of its region (first of its first
 * sector, so a new board costs one short exchange): a match skips the part. When the image the MAC
 * last received there is known (`part.known`) and differs, only the 4 KiB sectors that differ are
 * written, then the whole region's MD5 is checked; on a mismatch the part is written whole. Per-device parts (`deviceData`) are always written whole, compressed privately and zeroed
 * afterwards (the data partition holds the device key); bundle parts are compressed once per bundle.
 */
export async function writeCompressedParts(ctx: WriterContext, parts: readonly WritablePart[]): Promise<PartOutcome[]> {
  const images = parts.map((p) => padImage(p.data));
  // Started up front so compressing part i+1 overlaps writing part i (cached for bundle parts).
  const compressing = images.map((img, i) => (parts[i]!.deviceData ? deflateOnce(img) : deflateCached(img)));
  compressing.forEach((c) => c.catch(() => undefined));
  const saved = ctx.loader.WRITE_BLOCK_ATTEMPTS;
  // One send per flashDeflBlock call: this writer decides what may be re-sent.
  ctx.loader.WRITE_BLOCK_ATTEMPTS = 1;
  const outcomes: PartOutcome[] = [];
  try {
    for (const [i, part] of parts.entries()) {
      try {
        outcomes.push(await writeOnePart(ctx, part, i, images[i]!, () => ctx.guard(compressing[i]!)));
      } catch (err) {
        if (err instanceof LineFailure) throw new JobFailure('FLASH_WRITE_FAILED', `Writing ${part.name} failed: ${err.message}.`, { cause: err.cause ?? err });
        throw err;
      }
    }
    return outcomes;
  } finally {
    ctx.loader.WRITE_BLOCK_ATTEMPTS = saved;
    await Promise.all(compressing.map((c, i) => (parts[i]!.deviceData ? c.then((d) => d.fill(0), () => undefined) : undefined)));
  }
}

async function writeOnePart(ctx: WriterContext, part: WritablePart, index: number, image: Uint8Array, compressed: () => Promise<Uint8Array>): Promise<PartOutcome> {
  const expected = md5(image);
  const sectorCount = Math.ceil(image.length / SECTOR);
  const outcome: PartOutcome = { name: part.name, address: part.address, bytes: image.length, action: 'full', sectorsWritten: sectorCount, sectorCount, sent: 0 };
  if (!part.deviceData) {
    // Against the image this MAC last received: the sectors that differ (none = same image).
    const runs = part.known?.address === part.address ? changedRuns(image, sectorDigests(image), part.known.sectors) : undefined;
    if (!runs?.length) {
      // Already there? The first sector answers cheaply for a new or different board; only when it
      // matches is the whole region hashed on the board.
      ctx.onPosition({ index, phase: 'check', written: 0, block: 0, blocks: 0 });
      const head = Math.min(SECTOR, image.length);
      const sameHead = (await boardMd5(ctx, part, head, `checking what the board holds at ${part.name}`)) === md5(image.subarray(0, head));
      if (sameHead && (head === image.length || (await boardMd5(ctx, part, image.length, `checking what the board holds at ${part.name}`)) === expected)) {
        ctx.log(`[flash] ${part.name}: already on the board (MD5 ${expected}); skipped`);
        ctx.onPosition({ index, phase: 'verify', written: part.data.length, block: 0, blocks: 0 });
        return { ...outcome, action: 'skipped', sectorsWritten: 0 };
      }
    } else {
      const written = runs.reduce((n, r) => n + Math.ceil(r.length / SECTOR), 0);
      ctx.log(`[flash] ${part.name}: ${written} of ${sectorCount} sectors differ from the image this board last received; writing those`);
      for (const run of runs) {
        const slice = image.subarray(run.offset, run.offset + run.length);
        const data = await ctx.guard(deflateOnce(slice));
        await sendWithRestarts(ctx, { name: part.name, address: part.address + run.offset, data: slice }, index, slice, data, run.offset);
        outcome.sent += data.length;
      }
      ctx.onPosition({ index, phase: 'verify', written: part.data.length, block: 0, blocks: 0 });
      const after = await boardMd5(ctx, part, image.length, `the MD5 check of ${part.name}`, true);
      if (after === expected) {
        ctx.log(`[flash] ${part.name}: MD5 verified (${expected}) after writing ${written} of ${sectorCount} sectors`);
        return { ...outcome, action: 'sectors', sectorsWritten: written };
      }
      ctx.log(`[flash] ${part.name}: after the sector writes the region's MD5 is ${after}, expected ${expected} (the board held another image); writing it whole`, 'warn');
      outcome.fallback = true;
    }
  }
  const data = await compressed();
  ctx.log(`[flash] ${part.name}: ${image.length} bytes compressed to ${data.length} at 0x${part.address.toString(16)}`);
  await sendWithRestarts(ctx, part, index, image, data, 0);
  outcome.sent += data.length;
  ctx.onPosition({ index, phase: 'verify', written: part.data.length, block: 0, blocks: 0 });
  const actual = await boardMd5(ctx, part, image.length, `the MD5 check of ${part.name}`, true);
  if (actual !== expected) {
    throw new JobFailure('FLASH_VERIFY_FAILED', `The data read back from flash does not match what was written (MD5 ${actual}, expected ${expected}).`);
  }
  ctx.log(`[flash] ${part.name}: MD5 verified (${expected})`);
  return outcome;
}

function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

/**
 * The stub's MD5 of the first `length` bytes of a part's region (its first sector, or all of it).
 * A check before writing that fails (an error status, no answer) only means "unknown": undefined,
 * and the part is written whole. After writing, a failure is the part's failure.
 */
async function boardMd5(ctx: WriterContext, part: WritablePart, length: number, what: string, required = false): Promise<string | undefined> {
  const { loader } = ctx;
  const timeout = Math.max(loader.DEFAULT_TIMEOUT, loader.timeoutPerMb(loader.MD5_TIMEOUT_PER_MB, length));
  try {
    return await ctx.guard(bounded(loader.flashMd5sum(part.address, length), timeout, what));
  } catch (err) {
    if (required) throw err;
    const f = failure(err, what, timeout);
    if (!(f instanceof PartFailure)) throw f;
    if (ctx.gone()) throw err;
    ctx.log(`[flash] ${part.name}: ${f.message}; writing it whole`, 'warn');
    await ctx.guard(bounded(loader.transport.drainInput(250, 3000), 3000, 'waiting for the line to go quiet'));
    return undefined;
  }
}

/** Sends one region (a part, or a run of its sectors), restarting it from FLASH_DEFL_BEGIN on failures a restart may fix. */
async function sendWithRestarts(ctx: WriterContext, part: WritablePart, index: number, image: Uint8Array, data: Uint8Array, base: number): Promise<void> {
  const { loader } = ctx;
  for (let attempt = 1; ; attempt++) {
    try {
      await sendPart(ctx, part, index, image, data, base);
      return;
    } catch (err) {
      if (err instanceof LineFailure) throw err;
      if (!(err instanceof PartFailure)) throw err;
      if (ctx.gone()) throw err.cause; // the session maps it to PORT_GONE
      if (attempt >= PART_ATTEMPTS) {
        throw new JobFailure('FLASH_WRITE_FAILED', `Writing ${part.name} failed ${attempt} times; last: ${err.message}.`, { cause: err.cause });
      }
      ctx.log(`[flash] ${part.name}: ${err.message}; writing ${part.name} again from its start (attempt ${attempt + 1} of ${PART_ATTEMPTS})`, 'warn');
      // A late answer may still be on its way: let the line go quiet before FLASH_DEFL_BEGIN.
      await ctx.guard(bounded(loader.transport.drainInput(250, 3000), 3000, 'waiting for the line to go quiet'));
    }
  }
}

/** One pass over a part: begin, every block, end. Throws PartFailure for what a restart may fix. */
async function sendPart(ctx: WriterContext, part: WritablePart, index: number, image: Uint8Array, data: Uint8Array, base: number): Promise<void> {
  const { loader } = ctx;
  const blockSize = loader.FLASH_WRITE_SIZE;
  const ratio = image.length / Math.max(1, data.length);
  const position: FlashPosition = { index, phase: 'blocks', written: base, block: 0, blocks: Math.ceil(data.length / blockSize) };
  ctx.onPosition({ ...position });
  let blocks: number;
  try {
    const beginTimeout = loader.IS_STUB ? loader.DEFAULT_TIMEOUT : loader.timeoutPerMb(loader.ERASE_REGION_TIMEOUT_PER_MB, image.length);
    blocks = await ctx.guard(bounded(loader.flashDeflBegin(image.length, data.length, part.address), beginTimeout, `starting the write of ${part.name}`));
  } catch (err) {
    throw failure(err, 'starting the compressed write');
  }
  position.blocks = blocks;
  let timeout = loader.DEFAULT_TIMEOUT;
  let slowest = 0;
  for (let seq = 0; seq < blocks; seq++) {
    const block = data.subarray(seq * blockSize, Math.min(data.length, (seq + 1) * blockSize));
    position.block = seq + 1;
    ctx.onPosition({ ...position });
    // Timeout for writing this block's uncompressed bytes (esptool's 40 s per MB, at least 3 s).
    const blockTimeout = Math.max(loader.DEFAULT_TIMEOUT, loader.timeoutPerMb(loader.ERASE_WRITE_TIMEOUT_PER_MB, Math.ceil(block.length * ratio)));
    // The ROM writes before it answers; the stub answers at once and writes while the next block arrives.
    if (!loader.IS_STUB) timeout = blockTimeout;
    for (let send = 1; ; send++) {
      const t0 = performance.now();
      try {
        await ctx.guard(bounded(loader.flashDeflBlock(block, seq, timeout), timeout, `block ${seq + 1} of ${blocks} of ${part.name}`));
        slowest = Math.max(slowest, performance.now() - t0);
        break;
      } catch (err) {
        const code = stubStatus(err);
        const refused = loader.IS_STUB && (code === STUB_BAD_DATA_CHECKSUM || code === STUB_BAD_DATA_LEN);
        if (!refused) throw failure(err, `block ${seq + 1} of ${blocks}`, timeout);
        if (send >= BLOCK_ATTEMPTS) {
          throw new LineFailure(`the board refused block ${seq + 1} of ${blocks} ${send} times (${describeStatus(code!)}): the line loses data at this speed`, {
            cause: err,
          });
        }
        ctx.log(`[flash] ${part.name}: the board refused block ${seq + 1} of ${blocks} (${describeStatus(code!)}); sending it again`, 'warn');
      }
    }
    if (loader.IS_STUB) timeout = blockTimeout;
    position.written = base + Math.min(image.length, Math.round((seq + 1) * blockSize * ratio));
    ctx.onPosition({ ...position });
  }
  position.phase = 'finish';
  position.written = base + image.length;
  ctx.onPosition({ ...position });
  if (loader.IS_STUB) {
    try {
      await ctx.guard(bounded(loader.flashDeflFinish(false, timeout), timeout, `finishing the write of ${part.name}`));
    } catch (err) {
      throw failure(err, `finishing the write (all ${blocks} blocks sent)`, timeout);
    }
  }
  ctx.log(`[flash] ${part.name}: ${blocks} blocks sent, slowest answer ${Math.round(slowest)} ms`, 'debug');
}

/** Cancel and unplug pass through; an esptool error becomes a PartFailure saying what and where. */
function failure(err: unknown, what: string, timeoutMs?: number): unknown {
  if (err instanceof JobFailure || err instanceof LineFailure || (err instanceof Error && err.name === 'AbortError')) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = stubStatus(err);
  if (code !== undefined) return new PartFailure(`${what}: the board answered ${describeStatus(code)}`, err);
  if (/stream stopped|No serial data|timed? ?out/i.test(message)) {
    return new PartFailure(`${what}: no answer within ${timeoutMs ?? '?'} ms`, err);
  }
  return new PartFailure(`${what}: ${message.split('\n')[0]}`, err);
}

/** The error code in esptool-js's "… failed with status 199,0" (stub: [code, 0]; ROM: [1, code]). */
export function stubStatus(err: unknown): number | undefined {
  const m = /status (\d+),(\d+)/.exec(err instanceof Error ? err.message : '');
  if (!m) return undefined;
  const first = Number(m[1]);
  return first === 1 ? Number(m[2]) : first;
}

function describeStatus(code: number): string {
  const text = STUB_ERRORS[code];
  return `status 0x${code.toString(16)}${text ? ` (${text})` : ''}`;
}
