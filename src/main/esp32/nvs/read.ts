/**
 * NVS partition reader: parses an image back into namespaces, keys and typed values and checks
 * every CRC (page headers, entry headers, data). Used by the station's "verify" step, by tests and
 * by the ESP32 simulator's firmware boot.
 */
import {
  BITMAP_OFFSET,
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
import type { NvsValueType } from './entries.js';

export type NvsValue = number | bigint | string | Uint8Array;

export interface NvsReadEntry {
  namespace: string;
  key: string;
  type: NvsValueType;
  value: NvsValue;
  /** Where the entry (for V2 blobs: its BLOB_IDX) sits: page index in the image and slot. */
  page: number;
  slot: number;
}

export type NvsPageStateName = 'empty' | 'active' | 'full' | 'freeing' | 'corrupt';

export interface NvsPageInfo {
  index: number;
  state: NvsPageStateName;
  seq?: number;
  version?: NvsVersion;
  usedEntries: number;
}

export interface NvsReadResult {
  pages: NvsPageInfo[];
  /** Namespace name → index. */
  namespaces: Map<string, number>;
  entries: NvsReadEntry[];
  /** Everything that failed a check; empty for a good image. */
  problems: string[];
}

export interface NvsReadOptions {
  /** Throw NvsFormatError on the first problem (default true). Otherwise skip bad entries as NVS does. */
  strict?: boolean;
}

export class NvsFormatError extends Error {
  override readonly name = 'NvsFormatError';
}

const INTEGER_TYPES: Record<number, { type: NvsValueType; bytes: number; signed: boolean }> = {
  [ItemType.U8]: { type: 'u8', bytes: 1, signed: false },
  [ItemType.I8]: { type: 'i8', bytes: 1, signed: true },
  [ItemType.U16]: { type: 'u16', bytes: 2, signed: false },
  [ItemType.I16]: { type: 'i16', bytes: 2, signed: true },
  [ItemType.U32]: { type: 'u32', bytes: 4, signed: false },
  [ItemType.I32]: { type: 'i32', bytes: 4, signed: true },
  [ItemType.U64]: { type: 'u64', bytes: 8, signed: false },
  [ItemType.I64]: { type: 'i64', bytes: 8, signed: true },
};

const STATE_NAMES = new Map<number, NvsPageStateName>([
  [PageState.EMPTY, 'empty'],
  [PageState.ACTIVE, 'active'],
  [PageState.FULL, 'full'],
  [PageState.FREEING, 'freeing'],
  [PageState.CORRUPT, 'corrupt'],
]);

interface RawItem {
  ns: number;
  key: string;
  type: number;
  chunkIndex: number;
  header: Uint8Array;
  data?: Uint8Array;
  page: number;
  slot: number;
  order: number;
}

function readInteger(header: Uint8Array, bytes: number, signed: boolean): number | bigint {
  const view = new DataView(header.buffer, header.byteOffset + 24, 8);
  switch (bytes) {
    case 1:
      return signed ? view.getInt8(0) : view.getUint8(0);
    case 2:
      return signed ? view.getInt16(0, true) : view.getUint16(0, true);
    case 4:
      return signed ? view.getInt32(0, true) : view.getUint32(0, true);
    default:
      return signed ? view.getBigInt64(0, true) : view.getBigUint64(0, true);
  }
}

function slotState(page: Uint8Array, slot: number): number {
  const bit = slot * 2;
  return (page[BITMAP_OFFSET + (bit >> 3)]! >> (bit & 7)) & 3;
}

/** Parses and checks an NVS partition image (any length that is a multiple of 4096). */
export function readNvsImage(image: Uint8Array, options: NvsReadOptions = {}): NvsReadResult {
  const strict = options.strict ?? true;
  const problems: string[] = [];
  const problem = (msg: string): void => {
    if (strict) throw new NvsFormatError(msg);
    problems.push(msg);
  };
  if (image.length === 0 || image.length % PAGE_SIZE !== 0) {
    throw new NvsFormatError(`NVS image size ${image.length} is not a non-zero multiple of ${PAGE_SIZE}`);
  }

  const pages: NvsPageInfo[] = [];
  const items: RawItem[] = [];
  let order = 0;
  const livePages: { index: number; seq: number; buf: Uint8Array }[] = [];

  for (let index = 0; index < image.length / PAGE_SIZE; index++) {
    const buf = image.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
    const view = new DataView(buf.buffer, buf.byteOffset, PAGE_SIZE);
    const rawState = view.getUint32(0, true);
    const state = STATE_NAMES.get(rawState);
    if (state === undefined) {
      problem(`page ${index}: unknown page state 0x${rawState.toString(16)}`);
      pages.push({ index, state: 'corrupt', usedEntries: 0 });
      continue;
    }
    if (state === 'empty' || state === 'corrupt') {
      pages.push({ index, state, usedEntries: 0 });
      continue;
    }
    const crc = view.getUint32(28, true);
    if (crc !== pageHeaderCrc(buf)) {
      problem(`page ${index}: header CRC mismatch`);
      pages.push({ index, state: 'corrupt', usedEntries: 0 });
      continue;
    }
    const seq = view.getUint32(4, true);
    const version: NvsVersion | undefined = buf[8] === PageVersion.V2 ? 2 : buf[8] === PageVersion.V1 ? 1 : undefined;
    if (version === undefined) problem(`page ${index}: unknown format version byte 0x${buf[8]!.toString(16)}`);
    let used = 0;
    for (let s = 0; s < ENTRIES_PER_PAGE; s++) if (slotState(buf, s) !== 3) used++;
    pages.push({ index, state, seq, ...(version ? { version } : {}), usedEntries: used });
    livePages.push({ index, seq, buf });
  }

  // Newer pages (higher sequence numbers) hold the newer copy of a key.
  livePages.sort((a, b) => a.seq - b.seq);
  for (const { index, buf } of livePages) {
    for (let slot = 0; slot < ENTRIES_PER_PAGE; ) {
      if (slotState(buf, slot) !== 2) {
        slot++;
        continue;
      }
      const at = FIRST_ENTRY_OFFSET + slot * ENTRY_SIZE;
      const header = buf.subarray(at, at + ENTRY_SIZE);
      const hview = new DataView(header.buffer, header.byteOffset, ENTRY_SIZE);
      const where = `page ${index} slot ${slot}`;
      if (hview.getUint32(4, true) !== entryHeaderCrc(header)) {
        problem(`${where}: entry header CRC mismatch`);
        slot++;
        continue;
      }
      const span = header[2]!;
      if (span < 1 || slot + span > ENTRIES_PER_PAGE) {
        problem(`${where}: invalid span ${span}`);
        slot++;
        continue;
      }
      const keyBytes = header.subarray(8, 24);
      const nul = keyBytes.indexOf(0);
      const key = Buffer.from(keyBytes.subarray(0, nul < 0 ? 16 : nul)).toString('latin1');
      const item: RawItem = { ns: header[0]!, key, type: header[1]!, chunkIndex: header[3]!, header, page: index, slot, order: order++ };
      if (item.type === ItemType.SZ || item.type === ItemType.BLOB || item.type === ItemType.BLOB_DATA) {
        const size = hview.getUint16(24, true);
        if (size > (span - 1) * ENTRY_SIZE) {
          problem(`${where} ("${key}"): data size ${size} exceeds its span ${span}`);
          slot += span;
          continue;
        }
        const data = buf.subarray(at + ENTRY_SIZE, at + ENTRY_SIZE + size);
        if (hview.getUint32(28, true) !== nvsCrc32(data)) {
          problem(`${where} ("${key}"): data CRC mismatch`);
          slot += span;
          continue;
        }
        item.data = data;
      }
      items.push(item);
      slot += span;
    }
  }

  const nsNames = new Map<number, string>();
  const namespaces = new Map<string, number>();
  for (const it of items) {
    if (it.ns === 0 && it.type === ItemType.U8) {
      const idx = it.header[24]!;
      nsNames.set(idx, it.key);
      namespaces.set(it.key, idx);
    }
  }

  const byKey = new Map<string, NvsReadEntry>();
  const put = (it: RawItem, type: NvsValueType, value: NvsValue): void => {
    const namespace = nsNames.get(it.ns);
    if (namespace === undefined) {
      problem(`page ${it.page} slot ${it.slot} ("${it.key}"): namespace index ${it.ns} is not defined`);
      return;
    }
    const id = `${it.ns}\0${it.key}`;
    byKey.delete(id); // re-insert so a newer copy takes the newer position
    byKey.set(id, { namespace, key: it.key, type, value, page: it.page, slot: it.slot });
  };
  const utf8 = new TextDecoder('utf-8', { fatal: true });

  for (const it of items) {
    if (it.ns === 0) continue;
    const int = INTEGER_TYPES[it.type];
    if (int) {
      put(it, int.type, readInteger(it.header, int.bytes, int.signed));
    } else if (it.type === ItemType.SZ) {
      const data = it.data!;
      if (data.length === 0 || data[data.length - 1] !== 0) {
        problem(`page ${it.page} slot ${it.slot} ("${it.key}"): string is not NUL-terminated`);
        continue;
      }
      try {
        put(it, 'string', utf8.decode(data.subarray(0, data.length - 1)));
      } catch {
        problem(`page ${it.page} slot ${it.slot} ("${it.key}"): string is not valid UTF-8`);
      }
    } else if (it.type === ItemType.BLOB) {
      put(it, 'blob', new Uint8Array(it.data!));
    } else if (it.type === ItemType.BLOB_IDX) {
      const view = new DataView(it.header.buffer, it.header.byteOffset, ENTRY_SIZE);
      const total = view.getUint32(24, true);
      const count = it.header[28]!;
      const start = it.header[29]!;
      const parts: Uint8Array[] = [];
      for (let c = start; c < start + count; c++) {
        // The newest chunk with this index for the same namespace and key.
        const chunk = items
          .filter((d) => d.type === ItemType.BLOB_DATA && d.ns === it.ns && d.key === it.key && d.chunkIndex === c)
          .at(-1);
        if (!chunk) break;
        parts.push(chunk.data!);
      }
      const value = Buffer.concat(parts);
      if (parts.length !== count || value.length !== total) {
        problem(`page ${it.page} slot ${it.slot} ("${it.key}"): blob has ${parts.length}/${count} chunks, ${value.length}/${total} bytes`);
        continue;
      }
      put(it, 'blob', new Uint8Array(value));
    } else if (it.type !== ItemType.BLOB_DATA) {
      problem(`page ${it.page} slot ${it.slot} ("${it.key}"): unknown item type 0x${it.type.toString(16)}`);
    }
  }

  return { pages, namespaces, entries: [...byKey.values()], problems };
}

/** The keys of one namespace as a plain object (undefined when the namespace does not exist). */
export function nvsNamespace(result: NvsReadResult, namespace: string): Record<string, NvsValue> | undefined {
  if (!result.namespaces.has(namespace)) return undefined;
  const out: Record<string, NvsValue> = {};
  for (const e of result.entries) if (e.namespace === namespace) out[e.key] = e.value;
  return out;
}
