import { describe, expect, it } from 'vitest';
import {
  NvsFormatError,
  NvsInputError,
  PAGE_SIZE,
  generateNvsImage,
  maxStringBytes,
  nvsNamespace,
  readNvsImage,
  type NvsEntry,
} from '../../src/main/esp32/nvs/index.js';

const flip = (buf: Uint8Array, at: number, mask: number): void => {
  buf[at] = buf[at]! ^ mask;
};
const tds = (key: string, value: string): NvsEntry => ({ namespace: 'tds', key, type: 'string', value });

describe('NVS generator input validation', () => {
  const cases: [string, NvsEntry[], RegExp][] = [
    ['key too long', [tds('a_key_of_16_chars', 'x')], /entry #0 \("a_key_of_16_chars"\) key: key must be at most 15/],
    ['empty key', [tds('', 'x')], /key must not be empty/],
    ['non-ASCII key', [tds('clé', 'x')], /key must be printable ASCII/],
    ['namespace too long', [{ namespace: 'namespace_too_long', key: 'k', type: 'u8', value: 1 }], /namespace must be at most 15/],
    ['u8 out of range', [{ namespace: 'tds', key: 'cfg_ver', type: 'u8', value: 256 }], /256 is out of range for u8/],
    ['i16 out of range', [{ namespace: 'n', key: 'k', type: 'i16', value: -32769 }], /out of range for i16/],
    ['u64 negative', [{ namespace: 'n', key: 'k', type: 'u64', value: -1n }], /out of range for u64/],
    ['unsafe number', [{ namespace: 'n', key: 'k', type: 'u64', value: 2 ** 60 }], /pass a bigint/],
    ['non-integer', [{ namespace: 'n', key: 'k', type: 'u32', value: 1.5 }], /must be an integer/],
    ['string with NUL', [tds('k', 'a\0b')], /must not contain NUL/],
    ['string too long', [tds('k', 'é'.repeat(2000))], /string is 4000 bytes \(UTF-8\); at most 3967 bytes/],
    ['reserved Wi-Fi key', [{ namespace: 'nvs.net80211', key: 'sta.ssid', type: 'string', value: 'x' }], /reserved/],
  ];
  for (const [name, entries, message] of cases) {
    it(`rejects: ${name}`, () => {
      expect(() => generateNvsImage(entries, { size: 0x3000 })).toThrow(NvsInputError);
      expect(() => generateNvsImage(entries, { size: 0x3000 })).toThrow(message);
    });
  }

  it('rejects a wrong type name and non-array input', () => {
    expect(() => generateNvsImage([{ namespace: 'n', key: 'k', type: 'float', value: 1 } as unknown as NvsEntry], { size: 0x3000 })).toThrow(
      NvsInputError,
    );
    expect(() => generateNvsImage('x' as unknown as NvsEntry[], { size: 0x3000 })).toThrow(NvsInputError);
  });

  it('V1 limits blobs to 1984 bytes and strings to 1983', () => {
    expect(maxStringBytes(1)).toBe(1983);
    expect(() => generateNvsImage([{ namespace: 'n', key: 'b', type: 'blob', value: new Uint8Array(1985) }], { size: 0x3000, version: 1 })).toThrow(
      /NVS V1 allows at most 1984/,
    );
    expect(() => generateNvsImage([tds('s', 'x'.repeat(1984))], { size: 0x3000, version: 1 })).toThrow(/at most 1983 bytes/);
  });

  it('rejects bad partition sizes and data that does not fit', () => {
    expect(() => generateNvsImage([], { size: 0x2800 })).toThrow(/multiple of 4096/);
    expect(() => generateNvsImage([], { size: 0 })).toThrow(/at least 0x1000/);
    const big = Array.from({ length: 3 }, (_, i) => tds(`s${i}`, 'x'.repeat(3000)));
    expect(() => generateNvsImage(big, { size: 0x3000 })).toThrow(/do not fit/);
    expect(generateNvsImage(big, { size: 0x5000 }).length).toBe(0x5000);
  });
});

describe('NVS generator and reader round trip', () => {
  it('keeps interleaved namespaces apart (each entry in the namespace it names)', () => {
    const entries: NvsEntry[] = [
      { namespace: 'a', key: 'x', type: 'u8', value: 1 },
      { namespace: 'b', key: 'x', type: 'u8', value: 2 },
      { namespace: 'a', key: 'y', type: 'string', value: 'back in a' },
    ];
    const result = readNvsImage(generateNvsImage(entries, { size: 0x3000 }));
    expect(result.namespaces).toEqual(new Map([['a', 1], ['b', 2]]));
    expect(nvsNamespace(result, 'a')).toEqual({ x: 1, y: 'back in a' });
    expect(nvsNamespace(result, 'b')).toEqual({ x: 2 });
    expect(nvsNamespace(result, 'c')).toBeUndefined();
  });

  it('splits a 20 kB blob over pages and reads it back; accepts numbers and bigints for 64-bit types', () => {
    const blob = new Uint8Array(20_000).map((_, i) => (i * 31) & 0xff);
    const entries: NvsEntry[] = [
      { namespace: 'n', key: 'blob', type: 'blob', value: blob },
      { namespace: 'n', key: 'u64n', type: 'u64', value: 12345 },
      { namespace: 'n', key: 'i64b', type: 'i64', value: -(2n ** 63n) },
    ];
    const image = generateNvsImage(entries, { size: 0x8000 });
    const ns = nvsNamespace(readNvsImage(image), 'n')!;
    expect(Buffer.from(ns.blob as Uint8Array).equals(Buffer.from(blob))).toBe(true);
    expect(ns.u64n).toBe(12345n);
    expect(ns.i64b).toBe(-(2n ** 63n));
  });

  it('pads a read-only image to the partition size only when asked', () => {
    const entries = [tds('k', 'v')];
    expect(generateNvsImage(entries, { size: 0x2000 }).length).toBe(PAGE_SIZE);
    const padded = generateNvsImage(entries, { size: 0x2000, padToSize: true });
    expect(padded.length).toBe(0x2000);
    expect(padded.subarray(PAGE_SIZE).every((b) => b === 0xff)).toBe(true);
  });

  it('an erased (all 0xFF) partition reads as empty', () => {
    const result = readNvsImage(new Uint8Array(0x3000).fill(0xff));
    expect(result.entries).toEqual([]);
    expect(result.pages.every((p) => p.state === 'empty')).toBe(true);
  });
});

describe('NVS reader catches corruption', () => {
  const image = (): Uint8Array => generateNvsImage([tds('cert_pem', 'A'.repeat(100)), { namespace: 'tds', key: 'mqtt_port', type: 'u16', value: 8883 }], { size: 0x3000 });

  it('a flipped data byte → data CRC mismatch naming the key', () => {
    const img = image();
    flip(img, 64 + 32 * 2 + 5, 0x01); // inside cert_pem's data (slot 0 = namespace, 1 = header, 2.. = data)
    expect(() => readNvsImage(img)).toThrow(NvsFormatError);
    expect(() => readNvsImage(img)).toThrow(/page 0 slot 1 \("cert_pem"\): data CRC mismatch/);
    const lenient = readNvsImage(img, { strict: false });
    expect(lenient.problems).toHaveLength(1);
    expect(nvsNamespace(lenient, 'tds')).toEqual({ mqtt_port: 8883 });
  });

  it('a flipped key byte → entry header CRC mismatch', () => {
    const img = image();
    flip(img, 64 + 32 * 6 + 9, 0x20); // mqtt_port header (after 1 ns + 1 header + 4 data slots)
    expect(() => readNvsImage(img)).toThrow(/page 0 slot 6: entry header CRC mismatch/);
  });

  it('a flipped page sequence number → page header CRC mismatch', () => {
    const img = image();
    flip(img, 4, 0x01);
    expect(() => readNvsImage(img)).toThrow(/page 0: header CRC mismatch/);
  });

  it('a truncated image is refused', () => {
    expect(() => readNvsImage(image().subarray(0, 100))).toThrow(/not a non-zero multiple of 4096/);
  });
});
