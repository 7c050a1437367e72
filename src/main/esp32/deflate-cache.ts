import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { deflate } from 'node:zlib';

/**
 * Compression for the stub's inflater: a zlib stream (header + adler32) at level 9, made with Node's
 * native zlib in the libuv pool (never on the event loop).
 *
 * Bundle parts are the same for every board, so each is compressed once and the result kept (by the
 * SHA-256 of its bytes) for the next jobs; 16 boards flashed at once then cost one compression, not
 * sixteen. Per-device data (the data partition holds the device key) is never cached: the caller
 * compresses it with `deflateOnce` and zeroes the result.
 *
 * Measured alternative, not used: a zopfli-class deflate (in the same zlib wrapper) sends 3.9 % fewer
 * bytes for the fixture app but costs ~2.8 s of CPU per image against ~0.1 s, so a job that includes
 * its compression gets slower; see bench/esp32-wire-limit.ts and docs/esp32-station.md.
 */
const deflateAsync = promisify(deflate);

/** Most bytes of compressed images kept (a few bundles' worth). */
const CACHE_LIMIT_BYTES = 48 * 1024 * 1024;

const cache = new Map<string, { data: Promise<Uint8Array>; bytes: number }>();
let cachedBytes = 0;

/** Compressed copy of a bundle part; shared between jobs: callers must not modify or zero it. */
export function deflateCached(image: Uint8Array): Promise<Uint8Array> {
  const key = createHash('sha256').update(image).digest('hex');
  const hit = cache.get(key);
  if (hit) {
    // Most recently used last: the Map's order is the eviction order.
    cache.delete(key);
    cache.set(key, hit);
    return hit.data;
  }
  const entry = { data: deflateOnce(image), bytes: 0 };
  cache.set(key, entry);
  entry.data.then(
    (d) => {
      if (cache.get(key) !== entry) return;
      entry.bytes = d.length;
      cachedBytes += d.length;
      for (const [k, e] of cache) {
        if (cachedBytes <= CACHE_LIMIT_BYTES || k === key) break;
        cache.delete(k);
        cachedBytes -= e.bytes;
      }
    },
    () => {
      if (cache.get(key) === entry) cache.delete(key);
    },
  );
  return entry.data;
}

/** A private compressed copy (the caller owns it and may zero it). */
export function deflateOnce(image: Uint8Array): Promise<Uint8Array> {
  return deflateAsync(image, { level: 9 });
}
