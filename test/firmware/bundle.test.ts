import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildForChip, loadBundle } from '../../src/main/esp32/bundle.js';
import { tempDir } from '../support/temp.js';

// The firmware bundle script (firmware/esp32/scripts/make-bundle.mjs) run as a user runs it, on a
// fake `pio run` output made of the real Arduino image fixture, read back by the station's loader.
const ROOT = path.resolve(import.meta.dirname, '../..');
const SCRIPT = path.join(ROOT, 'firmware/esp32/scripts/make-bundle.mjs');
const IMAGE = path.join(ROOT, 'test/fixtures/esp32-arduino-image');

let tmp: { path: string; remove(): void } | undefined;
afterEach(() => {
  tmp?.remove();
  tmp = undefined;
});

function fakeBuild(name = 'build'): string {
  tmp ??= tempDir('tds-fw-bundle-');
  const build = path.join(tmp.path, name);
  mkdirSync(build);
  copyFileSync(path.join(IMAGE, 'bootloader.bin'), path.join(build, 'bootloader.bin'));
  copyFileSync(path.join(IMAGE, 'app.bin'), path.join(build, 'firmware.bin'));
  return build;
}

function run(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('make-bundle.mjs', () => {
  it('makes a bundle the station loads, with the tdscfg partition where the station writes it', async () => {
    const build = fakeBuild();
    const out = path.join(tmp!.path, 'bundle');
    const r = run(['--build-dir', build, '--boot-app0', path.join(IMAGE, 'boot_app0.bin'), '--out', out, '--version', '1.2.3']);
    expect(r.status, r.out).toBe(0);
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as {
      version: string;
      builds: Array<{ chipFamily: string; parts: Array<{ path: string; offset: number }> }>;
      tds: Record<string, unknown>;
    };
    expect(manifest.version).toBe('1.2.3');
    expect(manifest.builds[0]!.parts).toEqual([
      { path: 'bootloader.bin', offset: 0x1000 },
      { path: 'partitions.bin', offset: 0x8000 },
      { path: 'boot_app0.bin', offset: 0xe000 },
      { path: 'firmware.bin', offset: 0x10000 },
    ]);
    expect(manifest.tds).toMatchObject({ dataPartition: 'tdscfg', nvsNamespace: 'tds', console: 'tds-console/1', keyModes: ['station', 'device'] });

    const bundle = await loadBundle(path.join(out, 'manifest.json'));
    const esp32 = buildForChip(bundle, 'ESP32');
    expect(esp32.dataPartition).toMatchObject({ label: 'tdscfg', offset: 0x310000, size: 0x10000 });
    expect(bundle.nvsNamespace).toBe('tds');
    // Same bytes as the partition table of the bundle fixture the station's tests use.
    expect(readFileSync(path.join(out, 'partitions.bin')).equals(readFileSync(path.join(ROOT, 'test/fixtures/bundle-arduino/partitions.bin')))).toBe(true);
  });

  it('generates partition tables byte-identical to ESP-IDF gen_esp32part (Arduino default table)', async () => {
    const { parsePartitionCsv, partitionTableBinary } = (await import(SCRIPT)) as {
      parsePartitionCsv(t: string): unknown[];
      partitionTableBinary(rows: unknown[]): Buffer;
    };
    const csv = 'nvs,data,nvs,0x9000,0x5000,\notadata,data,ota,0xe000,0x2000,\napp0,app,ota_0,0x10000,0x140000,\napp1,app,ota_1,0x150000,0x140000,\nspiffs,data,spiffs,0x290000,0x170000,\n';
    const ours = partitionTableBinary(parsePartitionCsv(csv));
    const reference = readFileSync(path.join(IMAGE, 'partitions-default.bin'));
    expect(ours.equals(reference.subarray(0, 0xc00))).toBe(true);
  });

  it('refuses a stale partitions.bin, a missing boot_app0 and an oversized app', () => {
    const build = fakeBuild();
    const bootApp0 = path.join(IMAGE, 'boot_app0.bin');
    const out = path.join(tmp!.path, 'bundle');
    copyFileSync(path.join(IMAGE, 'partitions-default.bin'), path.join(build, 'partitions.bin'));
    let r = run(['--build-dir', build, '--boot-app0', bootApp0, '--out', out, '--version', '1']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/differs from .*partitions\.csv: rebuild/);

    r = run(['--build-dir', build, '--boot-app0', path.join(tmp!.path, 'nope.bin'), '--out', out, '--version', '1']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/boot_app0\.bin .*not found/);

    const big = fakeBuild('big');
    const app = readFileSync(path.join(big, 'firmware.bin'));
    writeFileSync(path.join(big, 'firmware.bin'), Buffer.concat([app, Buffer.alloc(0x180000)]));
    r = run(['--build-dir', big, '--boot-app0', bootApp0, '--out', out, '--version', '1']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/does not fit app0/);
  });
});
