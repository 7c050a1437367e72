import { createHash } from 'node:crypto';

/** The flash erase unit: the stub erases (and so rewrites) whole 4 KiB sectors. */
export const SECTOR = 0x1000;

/**
 * What the station knows a board already holds at an address: the image the MAC last received
 * there, as one digest per 4 KiB sector (the image padded with 0xFF to whole sectors, as the stub's
 * erase-then-write leaves it).
 */
export interface KnownImage {
  address: number;
  length: number;
  sectors: readonly string[];
}

/** A region to write: `offset` and `length` relative to the image start (sector aligned but for the image's end). */
export interface SectorRun {
  offset: number;
  length: number;
}

/** One digest per sector of `image` (64 bits of SHA-256 each: a cache key, the board's MD5 is the proof). */
export function sectorDigests(image: Uint8Array): string[] {
  const out: string[] = [];
  for (let at = 0; at < image.length; at += SECTOR) {
    const h = createHash('sha256').update(image.subarray(at, Math.min(image.length, at + SECTOR)));
    const tail = at + SECTOR - image.length;
    if (tail > 0) h.update(Buffer.alloc(tail, 0xff));
    out.push(h.digest('hex').slice(0, 16));
  }
  return out;
}

/**
 * The sectors of `image` that differ from `known`, as runs. Runs closer than `mergeGap` sectors are
 * joined: a sector written for nothing costs ~2 KB on the wire, a separate begin/end costs two round
 * trips and a compressor restart. Sectors past the known image always differ.
 */
export function changedRuns(image: Uint8Array, digests: readonly string[], known: readonly string[], mergeGap = 1): SectorRun[] {
  const runs: SectorRun[] = [];
  for (let i = 0; i < digests.length; i++) {
    if (digests[i] === known[i]) continue;
    const offset = i * SECTOR;
    const last = runs[runs.length - 1];
    if (last && offset - (last.offset + last.length) <= mergeGap * SECTOR) last.length = offset + SECTOR - last.offset;
    else runs.push({ offset, length: SECTOR });
  }
  for (const r of runs) r.length = Math.min(r.length, image.length - r.offset);
  return runs;
}

/** The image as the writer sends it: padded with 0xFF to a multiple of 4 bytes (flash words), as esptool does. */
export function padImage(data: Uint8Array): Uint8Array {
  if (data.length % 4 === 0) return data;
  const out = new Uint8Array(data.length + (4 - (data.length % 4))).fill(0xff);
  out.set(data);
  return out;
}
