import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  PartitionTableError,
  buildPartitionTable,
  findPartition,
  parsePartitionCsv,
  parsePartitionTable,
  requirePartition,
} from '../../src/main/esp32/partition-table.js';

const root = path.resolve(import.meta.dirname, '../..');
const fixture = (p: string): Uint8Array => new Uint8Array(readFileSync(path.join(root, 'test/fixtures', p)));

// The Arduino-ESP32 "default" layout, as in its partitions/default.csv.
const ARDUINO_DEFAULT_CSV = `# Name,   Type, SubType, Offset,  Size, Flags
nvs,      data, nvs,     0x9000,  0x5000,
otadata,  data, ota,     0xe000,  0x2000,
app0,     app,  ota_0,   0x10000, 0x140000,
app1,     app,  ota_1,   0x150000,0x140000,
spiffs,   data, spiffs,  0x290000,0x170000,
`;

describe('partition table parser', () => {
  it('reads the real Arduino default table (with its MD5 entry)', () => {
    const table = parsePartitionTable(fixture('esp32-arduino-image/partitions-default.bin'), { flashSize: 4 << 20, requireMd5: true });
    expect(table.hasMd5).toBe(true);
    expect(table.entries.map((p) => [p.label, p.typeName, p.subtypeName, p.offset, p.size])).toEqual([
      ['nvs', 'data', 'nvs', 0x9000, 0x5000],
      ['otadata', 'data', 'ota', 0xe000, 0x2000],
      ['app0', 'app', 'ota_0', 0x10000, 0x140000],
      ['app1', 'app', 'ota_1', 0x150000, 0x140000],
      ['spiffs', 'data', 'spiffs', 0x290000, 0x170000],
    ]);
    expect(findPartition(table, 'tdscfg')).toBeUndefined();
    expect(() => requirePartition(table, 'tdscfg')).toThrow(/no partition labelled "tdscfg" \(it has: nvs, otadata, app0, app1, spiffs\)/);
  });

  it('finds tdscfg in the bundle fixture table', () => {
    const table = parsePartitionTable(fixture('bundle-arduino/partitions.bin'), { flashSize: 4 << 20 });
    const cfg = requirePartition(table, 'tdscfg', { type: 'data', subtype: 'nvs' });
    expect([cfg.offset, cfg.size]).toEqual([0x310000, 0x10000]);
    expect(() => requirePartition(table, 'app0', { type: 'data' })).toThrow(/type app, expected data/);
    expect(() => requirePartition(table, 'spiffs', { subtype: 'nvs' })).toThrow(/subtype spiffs, expected nvs/);
  });

  it('rejects a corrupted table: MD5, magic, trailing garbage', () => {
    const good = fixture('esp32-arduino-image/partitions-default.bin');
    const badMd5 = good.slice();
    badMd5[0x4c] = badMd5[0x4c]! ^ 1; // inside app0's label
    expect(() => parsePartitionTable(badMd5)).toThrow(/MD5 mismatch/);
    const badMagic = good.slice();
    badMagic[0x20] = 0x12;
    expect(() => parsePartitionTable(badMagic)).toThrow(/entry 1 at byte 32 has magic 0x12 0x50/);
    const garbage = good.slice();
    garbage[0x200] = 0;
    expect(() => parsePartitionTable(garbage)).toThrow(/unexpected data after the end/);
    expect(() => parsePartitionTable(fixture('esp32-arduino-image/app.bin').subarray(0, 4096))).toThrow(PartitionTableError);
    expect(() => parsePartitionTable(new Uint8Array(0xc00).fill(0xff))).toThrow(/no partitions/);
  });

  it('checks the layout against the flash size', () => {
    const table = fixture('bundle-arduino/partitions.bin');
    expect(() => parsePartitionTable(table, { flashSize: 2 << 20 })).toThrow(/"app1" ends at 0x310000, beyond the 2 MB flash/);
  });
});

describe('partition table builder', () => {
  it('reproduces the real Arduino default table byte for byte', () => {
    const real = fixture('esp32-arduino-image/partitions-default.bin');
    const built = buildPartitionTable(ARDUINO_DEFAULT_CSV);
    expect(built.length).toBe(0xc00);
    expect(Buffer.from(built).equals(Buffer.from(real.subarray(0, 0xc00)))).toBe(true);
    expect(real.subarray(0xc00).every((b) => b === 0xff)).toBe(true);
  });

  it('the committed bundle table is what the builder makes from its partitions.csv, the firmware layout', () => {
    const csv = readFileSync(path.join(root, 'test/fixtures/bundle-arduino/partitions.csv'), 'utf8');
    expect(Buffer.from(buildPartitionTable(csv)).equals(Buffer.from(fixture('bundle-arduino/partitions.bin')))).toBe(true);
    const firmwareCsv = readFileSync(path.join(root, 'firmware/esp32/partitions.csv'), 'utf8');
    expect(parsePartitionCsv(csv)).toEqual(parsePartitionCsv(firmwareCsv));
  });

  it('places partitions without offsets like gen_esp32part.py (apps on 64 KiB boundaries)', () => {
    const bin = buildPartitionTable('nvs,data,nvs,,0x6000\nphy_init,data,phy,,4K\nfactory,app,factory,,1M\nstore,data,fat,,256K,readonly\n');
    const t = parsePartitionTable(bin);
    expect(t.entries.map((p) => [p.label, p.offset, p.size])).toEqual([
      ['nvs', 0x9000, 0x6000],
      ['phy_init', 0xf000, 0x1000],
      ['factory', 0x10000, 0x100000],
      ['store', 0x110000, 0x40000],
    ]);
    expect(t.entries[3]!.readonly).toBe(true);
  });

  it('refuses bad layouts with a message', () => {
    expect(() => buildPartitionTable('a,data,nvs,0x9000,0x5000\nb,data,nvs,0xd000,0x2000\n')).toThrow(/"a" \(0x9000\+0x5000\) and "b" \(0xd000\) overlap/);
    expect(() => buildPartitionTable('app,app,factory,0x18000,0x10000\n')).toThrow(/not aligned to 0x10000/);
    expect(() => buildPartitionTable('x,data,nvs,0x9800,0x1000\n')).toThrow(/not aligned to 0x1000/);
    expect(() => buildPartitionTable('x,data,nvs,0x7000,0x1000\n')).toThrow(/overlaps the bootloader or the partition table/);
    expect(() => buildPartitionTable('x,data,nvs,,0x1000\nx,data,nvs,,0x1000\n')).toThrow(/appears twice/);
    expect(() => buildPartitionTable('x,data,bogus,,0x1000\n')).toThrow(/unknown subtype "bogus"/);
    expect(() => buildPartitionTable('x,data,nvs,,12Q\n')).toThrow(/line 1 size "12Q" is not a number/);
    expect(() => buildPartitionTable('x,data,nvs,,0x1000,secret\n')).toThrow(/unknown flag "secret"/);
  });
});
