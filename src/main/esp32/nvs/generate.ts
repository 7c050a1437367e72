/**
 * NVS partition image generator, byte-compatible with Espressif's esp-idf-nvs-partition-gen 0.2.0
 * (commit 67113ed, `nvs_partition_gen.py generate`): same page layout, entry order, page-full rules,
 * blob chunking, namespace indexes and trailing pages. Proven by golden images in test/fixtures/nvs.
 */
import {
  BITMAP_OFFSET,
  CHUNK_ANY,
  ENTRIES_PER_PAGE,
  ENTRY_SIZE,
  FIRST_ENTRY_OFFSET,
  ItemType,
  PAGE_SIZE,
  PageState,
  PageVersion,
  entryHeaderCrc,
  nvsCrc32,
  pageHeaderCrc,
  type NvsVersion,
} from './format.js';
import { NvsInputError, validateNvsEntries, type NvsEntry, type NvsIntegerType } from './entries.js';

export interface NvsImageOptions {
  /** Partition size in bytes: a multiple of 4096, at least 0x1000. */
  size: number;
  /** Page format: 2 (multi-page blobs, the ESP-IDF default) or 1. Default 2. */
  version?: NvsVersion;
  /**
   * Partitions below 0x3000 are "read-only" and the reference tool writes only the used pages;
   * set this to get an image of exactly `size` bytes (0xFF-padded) in that case too.
   */
  padToSize?: boolean;
}

const INTEGER_CODES: Record<NvsIntegerType, { type: number; bytes: number }> = {
  u8: { type: ItemType.U8, bytes: 1 },
  i8: { type: ItemType.I8, bytes: 1 },
  u16: { type: ItemType.U16, bytes: 2 },
  i16: { type: ItemType.I16, bytes: 2 },
  u32: { type: ItemType.U32, bytes: 4 },
  i32: { type: ItemType.I32, bytes: 4 },
  u64: { type: ItemType.U64, bytes: 8 },
  i64: { type: ItemType.I64, bytes: 8 },
};

class PageFullError extends Error {}

/** One 4096-byte page being filled, entry slot by entry slot. */
class PageBuilder {
  readonly buf = new Uint8Array(PAGE_SIZE).fill(0xff);
  entryNum = 0;
  private readonly bitmap = new Uint8Array(32).fill(0xff);

  constructor(seq: number, version: NvsVersion, blank: boolean) {
    if (blank) return; // trailing empty / reserved pages stay all 0xFF, without a header
    const view = new DataView(this.buf.buffer);
    view.setUint32(0, PageState.ACTIVE, true);
    view.setUint32(4, seq, true);
    this.buf[8] = version === 2 ? PageVersion.V2 : PageVersion.V1;
    view.setUint32(28, pageHeaderCrc(this.buf), true);
  }

  get state(): number {
    return new DataView(this.buf.buffer).getUint32(0, true);
  }

  markFull(): void {
    new DataView(this.buf.buffer).setUint32(0, PageState.FULL, true);
  }

  /** Writes `data` from the next free slot and marks `count` slots as written (2 bits each: 11 → 10). */
  write(data: Uint8Array, count: number): void {
    const at = FIRST_ENTRY_OFFSET + ENTRY_SIZE * this.entryNum;
    if (at + data.length > PAGE_SIZE || this.entryNum + count > ENTRIES_PER_PAGE) {
      throw new Error('NVS page overflow (generator bug)');
    }
    this.buf.set(data, at);
    for (let i = 0; i < count; i++) {
      const bit = this.entryNum * 2;
      this.bitmap[bit >> 3]! &= ~(1 << (bit & 7));
      this.entryNum++;
    }
    this.buf.set(this.bitmap, BITMAP_OFFSET);
  }
}

function newEntry(nsIndex: number, key: string): Uint8Array {
  const e = new Uint8Array(ENTRY_SIZE).fill(0xff);
  e[0] = nsIndex;
  e.fill(0, 8, 24);
  e.set(Buffer.from(key, 'ascii'), 8);
  return e;
}

function sealEntry(entry: Uint8Array): Uint8Array {
  new DataView(entry.buffer, entry.byteOffset).setUint32(4, entryHeaderCrc(entry), true);
  return entry;
}

const slotsFor = (bytes: number): number => Math.ceil(bytes / ENTRY_SIZE);

/** Follows the reference tool's NVS class step by step (see module comment). */
class NvsImageWriter {
  private readonly pages: PageBuilder[] = [];
  private cur: PageBuilder;
  private seq = -1;
  private budget: number;
  private readonly namespaces = new Map<string, number>();
  private namespaceCount = 0;

  constructor(
    partitionBytes: number,
    private readonly version: NvsVersion,
    private readonly readOnly: boolean,
  ) {
    this.budget = partitionBytes;
    this.cur = this.newPage();
  }

  private newPage(kind: 'data' | 'empty' | 'reserved' = 'data'): PageBuilder {
    if (this.pages.length > 0 && kind === 'data' && this.cur.state === PageState.ACTIVE) this.cur.markFull();
    if (kind !== 'reserved' && this.budget === 0) {
      throw new NvsInputError('the entries do not fit in the NVS partition: use a larger partition or less data');
    }
    if (kind !== 'reserved') this.budget -= PAGE_SIZE;
    this.seq++;
    const page = new PageBuilder(this.seq, this.version, kind !== 'data');
    this.pages.push(page);
    this.cur = page;
    return page;
  }

  /** Selects a namespace, writing its definition entry the first time it is used. */
  useNamespace(name: string): number {
    const known = this.namespaces.get(name);
    if (known !== undefined) return known;
    const index = ++this.namespaceCount;
    this.namespaces.set(name, index);
    this.retryOnFull(() => this.writeInteger(0, name, 'u8', index));
    return index;
  }

  private retryOnFull(write: () => void): void {
    try {
      write();
    } catch (err) {
      if (!(err instanceof PageFullError)) throw err;
      this.newPage();
      write();
    }
  }

  writeEntry(nsIndex: number, entry: NvsEntry): void {
    switch (entry.type) {
      case 'string':
        this.retryOnFull(() => this.writeVarlen(nsIndex, entry.key, Buffer.from(`${entry.value}\0`, 'utf8'), 'string'));
        return;
      case 'blob':
        this.retryOnFull(() => this.writeVarlen(nsIndex, entry.key, entry.value, 'blob'));
        return;
      default:
        this.retryOnFull(() => this.writeInteger(nsIndex, entry.key, entry.type, entry.value));
    }
  }

  private writeInteger(nsIndex: number, key: string, type: NvsIntegerType, value: number | bigint): void {
    const page = this.cur;
    if (page.entryNum >= ENTRIES_PER_PAGE) throw new PageFullError();
    const e = newEntry(nsIndex, key);
    const { type: code, bytes } = INTEGER_CODES[type];
    e[1] = code;
    e[2] = 1;
    e[3] = CHUNK_ANY;
    const view = new DataView(e.buffer);
    const v = BigInt(value);
    if (bytes === 8) {
      if (type === 'u64') view.setBigUint64(24, v, true);
      else view.setBigInt64(24, v, true);
    } else {
      // Two's complement little-endian of the low `bytes` bytes, as struct.pack does for in-range values.
      const n = Number(v);
      for (let i = 0; i < bytes; i++) e[24 + i] = (n >> (8 * i)) & 0xff;
    }
    page.write(sealEntry(e), 1);
  }

  private writeVarlen(nsIndex: number, key: string, data: Uint8Array, kind: 'string' | 'blob'): void {
    const page = this.cur;
    const dataSlots = slotsFor(data.length);
    const multiPage = this.version === 2 && kind === 'blob';
    if (page.entryNum >= ENTRIES_PER_PAGE) throw new PageFullError();
    if (page.entryNum + dataSlots + 1 >= ENTRIES_PER_PAGE && !multiPage) throw new PageFullError();

    const e = newEntry(nsIndex, key);
    if (multiPage) {
      e[3] = CHUNK_ANY;
      this.writeBlobChunks(e, data);
      return;
    }
    e[1] = kind === 'string' ? ItemType.SZ : ItemType.BLOB;
    e[2] = dataSlots + 1;
    if (this.version === 2) e[3] = CHUNK_ANY;
    const view = new DataView(e.buffer);
    view.setUint16(24, data.length, true);
    view.setUint32(28, nvsCrc32(data), true);
    page.write(sealEntry(e), 1);
    page.write(data, dataSlots);
  }

  /** V2 blob: BLOB_DATA chunks filling each page's tail room, then a BLOB_IDX entry. */
  private writeBlobChunks(e: Uint8Array, data: Uint8Array): void {
    const view = new DataView(e.buffer);
    const chunkStart = 0;
    let chunkCount = 0;
    let offset = 0;
    let remaining = data.length;
    for (;;) {
      const page = this.cur;
      const tailroom = (ENTRIES_PER_PAGE - page.entryNum - 1) * ENTRY_SIZE;
      const chunkSize = Math.min(tailroom, remaining);
      remaining -= chunkSize;
      const chunk = data.subarray(offset, offset + chunkSize);
      const slots = slotsFor(chunkSize);
      e[1] = ItemType.BLOB_DATA;
      e[2] = slots + 1;
      e[3] = chunkStart + chunkCount;
      view.setUint16(24, chunkSize, true);
      view.setUint32(28, nvsCrc32(chunk), true);
      page.write(sealEntry(e), 1);
      page.write(chunk, slots);
      chunkCount++;
      if (remaining > 0 || tailroom - chunkSize < ENTRY_SIZE) this.newPage();
      offset += chunkSize;
      if (remaining === 0) {
        e.fill(0xff, 24, 32);
        e[1] = ItemType.BLOB_IDX;
        e[2] = 1;
        e[3] = CHUNK_ANY;
        view.setUint32(24, data.length, true);
        e[28] = chunkCount;
        e[29] = chunkStart;
        this.cur.write(sealEntry(e), 1);
        return;
      }
    }
  }

  finish(): Uint8Array {
    if (!this.readOnly) {
      // Empty pages up to the size keep the last data page ACTIVE; then the page NVS keeps free for GC.
      while (this.budget > 0) this.newPage('empty');
      this.newPage('reserved');
    }
    const out = new Uint8Array(this.pages.length * PAGE_SIZE);
    this.pages.forEach((p, i) => out.set(p.buf, i * PAGE_SIZE));
    return out;
  }
}

/** Checks the partition size like the reference tool; returns the data budget and read-only flag. */
export function nvsPartitionLayout(size: number): { dataBytes: number; readOnly: boolean } {
  if (!Number.isInteger(size) || size % PAGE_SIZE !== 0 || size < PAGE_SIZE) {
    throw new NvsInputError(
      `NVS partition size ${size} is invalid: it must be a multiple of 4096 and at least 0x1000 (0x3000 for a read/write partition)`,
    );
  }
  // Below 0x3000 there is no room for the reserved page: a read-only partition.
  if (size - PAGE_SIZE < 2 * PAGE_SIZE) return { dataBytes: size, readOnly: true };
  return { dataBytes: size - PAGE_SIZE, readOnly: false };
}

/**
 * Builds an NVS partition image from entries written in the given order. Namespaces are defined
 * (index 1, 2, …) the first time an entry uses them. Throws NvsInputError on invalid input or when
 * the data does not fit.
 */
export function generateNvsImage(entries: readonly NvsEntry[], options: NvsImageOptions): Uint8Array {
  const version = options.version ?? 2;
  if (version !== 1 && version !== 2) throw new NvsInputError(`NVS version must be 1 or 2, got ${String(version)}`);
  const valid = validateNvsEntries(entries, version);
  const { dataBytes, readOnly } = nvsPartitionLayout(options.size);
  const writer = new NvsImageWriter(dataBytes, version, readOnly);
  for (const entry of valid) {
    const ns = writer.useNamespace(entry.namespace);
    writer.writeEntry(ns, entry);
  }
  const image = writer.finish();
  if (options.padToSize && image.length < options.size) {
    const padded = new Uint8Array(options.size).fill(0xff);
    padded.set(image);
    return padded;
  }
  return image;
}
