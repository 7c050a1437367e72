/**
 * Checks an ESP firmware image (bootloader or app) in flash the way the ROM / 2nd-stage bootloader
 * does: magic 0xE9, segments, the XOR checksum, and the appended SHA-256 when the header says so.
 */
import { createHash } from 'node:crypto';

export const ESP_IMAGE_MAGIC = 0xe9;

export interface EspImageInfo {
  entry: number;
  segments: { loadAddr: number; length: number; offset: number }[];
  /** Total length including checksum padding and appended hash. */
  length: number;
  flashSizeCode: number;
  /** Extended header chip id (ESP32 0, ESP32-S3 9, ESP32-C3 5). */
  chipId: number;
}

export type EspImageCheck = { ok: true; image: EspImageInfo } | { ok: false; error: string };

/** `read(offset, len)` reads flash relative to the image start. */
export function checkEspImage(read: (offset: number, len: number) => Uint8Array, maxLength: number): EspImageCheck {
  const header = read(0, 24);
  if (header[0] !== ESP_IMAGE_MAGIC) {
    return { ok: false, error: `invalid magic byte (0x${header[0]!.toString(16).padStart(2, '0')}, nothing flashed here?)` };
  }
  const view = new DataView(header.buffer, header.byteOffset, 24);
  const count = header[1]!;
  if (count === 0 || count > 16) return { ok: false, error: `invalid segment count ${count}` };
  const entry = view.getUint32(4, true);
  const hashAppended = header[23] === 1;
  let offset = 24;
  let sum = 0xef;
  const segments: EspImageInfo['segments'] = [];
  for (let i = 0; i < count; i++) {
    if (offset + 8 > maxLength) return { ok: false, error: `segment ${i} header beyond the partition` };
    const sh = read(offset, 8);
    const sv = new DataView(sh.buffer, sh.byteOffset, 8);
    const loadAddr = sv.getUint32(0, true);
    const length = sv.getUint32(4, true);
    if (length > maxLength || offset + 8 + length > maxLength) {
      return { ok: false, error: `segment ${i} (0x${length.toString(16)} bytes) runs past the partition` };
    }
    const data = read(offset + 8, length);
    for (const b of data) sum ^= b;
    segments.push({ loadAddr, length, offset: offset + 8 });
    offset += 8 + length;
  }
  // The checksum byte is the last byte of padding to a 16-byte boundary.
  const checksumAt = offset + (15 - (offset % 16));
  if (checksumAt >= maxLength) return { ok: false, error: 'image checksum beyond the partition' };
  const stored = read(checksumAt, 1)[0]!;
  if (stored !== sum) {
    return { ok: false, error: `Checksum failed. Calculated 0x${sum.toString(16)} read 0x${stored.toString(16)}` };
  }
  let length = checksumAt + 1;
  if (hashAppended) {
    if (length + 32 > maxLength) return { ok: false, error: 'appended SHA-256 beyond the partition' };
    const digest = createHash('sha256').update(read(0, length)).digest();
    const storedHash = Buffer.from(read(length, 32));
    if (!digest.equals(storedHash)) return { ok: false, error: 'Image hash failed - image is corrupt' };
    length += 32;
  }
  return { ok: true, image: { entry, segments, length, flashSizeCode: header[3]! >> 4, chipId: view.getUint16(12, true) } };
}

function checkedImage(image: Uint8Array): EspImageInfo {
  const r = checkEspImage((o, l) => image.subarray(o, o + l), image.length);
  if (!r.ok) throw new Error(`not a valid ESP image: ${r.error}`);
  return r.image;
}

/** Recomputes the appended SHA-256 (when the header says there is one) after the header or data changed. */
function rehash(out: Uint8Array, info: EspImageInfo): void {
  if (out[23] !== 1) return;
  const end = info.length - 32;
  out.set(createHash('sha256').update(out.subarray(0, end)).digest(), end);
}

/**
 * A copy of an image re-targeted at another chip family (header chip id), with its appended hash
 * recomputed: test bundles for ESP32-S3/C3 made from the real ESP32 fixture. They pass the
 * simulator's boot checks; they would not run on a real S3/C3.
 */
export function retargetImage(image: Uint8Array, chipId: number): Uint8Array {
  const info = checkedImage(image);
  const out = Uint8Array.from(image);
  out[12] = chipId & 0xff;
  out[13] = chipId >> 8;
  rehash(out, info);
  return out;
}

/**
 * A copy of an image with one byte of segment data changed (XOR checksum and appended hash fixed
 * up, so it still boots): "the app changed by one sector". `at` is a fraction of the image (0..1).
 */
export function patchImageByte(image: Uint8Array, at = 0.5): { image: Uint8Array; offset: number } {
  const info = checkedImage(image);
  const target = Math.floor(image.length * at);
  const seg = info.segments.find((s) => target >= s.offset && target < s.offset + s.length) ?? info.segments.reduce((a, b) => (b.length > a.length ? b : a));
  const offset = target >= seg.offset && target < seg.offset + seg.length ? target : seg.offset + Math.floor(seg.length / 2);
  const out = Uint8Array.from(image);
  const old = out[offset]!;
  out[offset] = old ^ 0x5a;
  const last = info.segments[info.segments.length - 1]!;
  const end = last.offset + last.length;
  const checksumAt = end + (15 - (end % 16));
  out[checksumAt] = out[checksumAt]! ^ old ^ out[offset]!;
  rehash(out, info);
  return { image: out, offset };
}
