/**
 * ESP-IDF NVS on-flash format constants (pages of 4096 bytes, 32-byte entries), as written by
 * Espressif's esp-idf-nvs-partition-gen 0.2.0 and read by the nvs_flash component.
 */
import zlib from 'node:zlib';

export const PAGE_SIZE = 4096;
export const ENTRY_SIZE = 32;
export const ENTRIES_PER_PAGE = 126;
export const FIRST_ENTRY_OFFSET = 64;
export const BITMAP_OFFSET = 32;
export const BITMAP_SIZE = 32;
export const KEY_MAX_LENGTH = 15;
export const CHUNK_ANY = 0xff;

export const PageState = {
  EMPTY: 0xffffffff,
  ACTIVE: 0xfffffffe,
  FULL: 0xfffffffc,
  FREEING: 0xfffffff8,
  CORRUPT: 0xfffffff0,
} as const;

/** Page format version byte: V2 has multi-page blobs (BLOB_DATA + BLOB_IDX), V1 single BLOB entries. */
export const PageVersion = { V1: 0xff, V2: 0xfe } as const;
export type NvsVersion = 1 | 2;

export const ItemType = {
  U8: 0x01,
  I8: 0x11,
  U16: 0x02,
  I16: 0x12,
  U32: 0x04,
  I32: 0x14,
  U64: 0x08,
  I64: 0x18,
  SZ: 0x21,
  BLOB: 0x41,
  BLOB_DATA: 0x42,
  BLOB_IDX: 0x48,
} as const;

/** Largest variable-length value per format version (strings in V2, strings and blobs in V1). */
export const MAX_VARLEN_SIZE: Record<NvsVersion, number> = { 1: 1984, 2: 4000 };

/**
 * NVS CRC32: the standard CRC-32 polynomial with the register preset to 0xFFFFFFFF as the *input*
 * value of zlib's running CRC, i.e. Python `zlib.crc32(data, 0xFFFFFFFF)` — not the usual crc32(data).
 */
export function nvsCrc32(data: Uint8Array): number {
  // The CRC of no data is the preset itself; Node 20's zlib.crc32 returns 0 for some empty views
  // (e.g. a subarray of a zero-length buffer), so don't ask it.
  if (data.length === 0) return 0xffffffff;
  return zlib.crc32(data, 0xffffffff) >>> 0;
}

/** CRC of a 32-byte entry: bytes 0..3 and 8..31 (the CRC field itself at 4..7 is skipped). */
export function entryHeaderCrc(entry: Uint8Array): number {
  const data = new Uint8Array(28);
  data.set(entry.subarray(0, 4), 0);
  data.set(entry.subarray(8, 32), 4);
  return nvsCrc32(data);
}

/** CRC of a page header: bytes 4..27 (sequence number, version, reserved). */
export function pageHeaderCrc(page: Uint8Array): number {
  return nvsCrc32(page.subarray(4, 28));
}
