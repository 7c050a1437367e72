/** Building blocks of the ESP32 simulator, tested in-process: SLIP, NOR flash, image checks, fault specs. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkEspImage } from '../sim/esp32/esp-image.js';
import { applyFault, clearFault, noFaults } from '../sim/esp32/faults.js';
import { VirtualFlash } from '../sim/esp32/flash.js';
import { SlipDecoder, slipEncode } from '../sim/esp32/slip.js';
import { tempDir } from '../support/temp.js';

const image = (name: string): Buffer => readFileSync(path.resolve(import.meta.dirname, '../fixtures/esp32-arduino-image', name));

describe('SLIP', () => {
  it('escapes C0/DB and decodes back, ignoring noise between frames', () => {
    const payload = Uint8Array.from([1, 0xc0, 2, 0xdb, 3, 0xdb, 0xdc]);
    const enc = slipEncode(payload);
    expect([...enc]).toEqual([0xc0, 1, 0xdb, 0xdc, 2, 0xdb, 0xdd, 3, 0xdb, 0xdd, 0xdc, 0xc0]);
    const frames: number[][] = [];
    const d = new SlipDecoder((f) => frames.push([...f]));
    d.push(Buffer.from('boot log noise\r\n'));
    d.push(enc.subarray(0, 5));
    d.push(enc.subarray(5));
    d.push(Uint8Array.from([0xc0, 9, 0xc0, 0xc0, 8, 0xc0])); // back-to-back frames
    expect(frames).toEqual([[...payload], [9], [8]]);
  });

  it('drops a frame with an invalid escape', () => {
    const frames: number[][] = [];
    const d = new SlipDecoder((f) => frames.push([...f]));
    d.push(Uint8Array.from([0xc0, 1, 0xdb, 0x00, 2, 0xc0, 0xc0, 7, 0xc0]));
    expect(frames).toEqual([[7]]);
  });
});

describe('virtual NOR flash', () => {
  let tmp: ReturnType<typeof tempDir> | undefined;
  afterEach(() => tmp?.remove());

  it('programs with AND, erases 4 KiB sectors to 0xFF, and persists to its file', () => {
    tmp = tempDir();
    const file = path.join(tmp.path, 'flash.bin');
    const flash = new VirtualFlash(file, 0x10000);
    flash.program(0x1000, Uint8Array.from([0xf0, 0x0f]));
    flash.program(0x1000, Uint8Array.from([0x3c, 0xff]));
    expect([...flash.read(0x1000, 2)]).toEqual([0x30, 0x0f]);
    expect(readFileSync(file).subarray(0x1000, 0x1002)).toEqual(Buffer.from([0x30, 0x0f]));
    flash.eraseSector(0x1fff);
    expect(flash.read(0x1000, 0x1000).every((b) => b === 0xff)).toBe(true);
    expect(() => flash.read(0xffff, 2)).toThrow(/beyond the/);
    flash.close();
    writeFileSync(file, Buffer.alloc(100));
    expect(() => new VirtualFlash(file, 0x10000)).toThrow(/is 100 bytes, expected 65536/);
  });

  it('keeps its contents across restarts', () => {
    tmp = tempDir();
    const file = path.join(tmp.path, 'flash.bin');
    const a = new VirtualFlash(file, 0x2000);
    a.program(5, Uint8Array.from([1, 2, 3]));
    a.close();
    const b = new VirtualFlash(file, 0x2000);
    expect([...b.read(5, 3)]).toEqual([1, 2, 3]);
    b.close();
  });
});

describe('ESP image checks (as the ROM and 2nd-stage bootloader do)', () => {
  const check = (buf: Buffer) => checkEspImage((o, l) => buf.subarray(o, o + l), buf.length);

  it('accepts the real Arduino bootloader and app (checksum + appended SHA-256)', () => {
    const boot = check(image('bootloader.bin'));
    const app = check(image('app.bin'));
    expect(boot.ok && boot.image.segments.length).toBe(4);
    expect(app.ok && app.image.length).toBe(742_192);
  });

  it('catches an empty slot, a flipped data byte and a damaged hash', () => {
    expect(check(Buffer.alloc(64, 0xff))).toEqual({ ok: false, error: 'invalid magic byte (0xff, nothing flashed here?)' });
    const flipped = Buffer.from(image('app.bin'));
    flipped.writeUInt8(flipped.readUInt8(1000) ^ 1, 1000);
    expect(check(flipped)).toMatchObject({ ok: false, error: expect.stringMatching(/^Checksum failed/) });
    const badHash = Buffer.from(image('app.bin'));
    badHash.writeUInt8(badHash.readUInt8(badHash.length - 1) ^ 1, badHash.length - 1);
    expect(check(badHash)).toEqual({ ok: false, error: 'Image hash failed - image is corrupt' });
  });
});

describe('fault specs', () => {
  it('parses values and refuses unknown names or bad values with a usable message', () => {
    const f = noFaults();
    applyFault(f, 'unplug-at-byte=1234');
    applyFault(f, 'bad-checksum=3');
    applyFault(f, 'md5-mismatch=always');
    expect(f).toMatchObject({ unplugAtByte: 1234, badChecksums: 3, md5Mismatch: 'always' });
    expect(applyFault(f, 'flash-too-small=2MB')).toEqual({ flashCapacity: 0x200000 });
    expect(applyFault(f, 'wrong-chip')).toEqual({ chip: 'esp32s3' });
    expect(() => applyFault(f, 'melt')).toThrow(/unknown fault "melt" \(known: unplug-at-byte/);
    expect(() => applyFault(f, 'unplug-at-byte')).toThrow(/needs a byte count/);
    expect(() => applyFault(f, 'md5-mismatch=twice')).toThrow(/"once" or "always"/);
    applyFault(f, 'late-ack');
    applyFault(f, 'inflate-error=always');
    expect(f).toMatchObject({ lateAckMs: 3500, inflateError: 'always' });
    expect(() => applyFault(f, 'late-ack=soon')).toThrow(/late-ack takes milliseconds/);
    expect(() => applyFault(f, 'inflate-error=twice')).toThrow(/"once" or "always"/);
    clearFault(f, 'late-ack');
    expect(f.lateAckMs).toBe(0);
    clearFault(f, 'all');
    expect(f).toEqual(noFaults());
  });
});
