import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildForChip, loadBundle } from '../../src/main/esp32/bundle.js';
import { buildPartitionTable } from '../../src/main/esp32/partition-table.js';
import { JobFailure } from '../../src/main/jobs/index.js';
import { tempDir } from '../support/temp.js';

const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/bundle-arduino');

/** A writable copy of the fixture bundle, with the manifest changed by `edit`. */
function variant(edit: (m: Record<string, unknown> & { builds: Array<{ chipFamily: string; parts: Array<{ path: string; offset: number | string }> }> }, dir: string) => void): string {
  const dir = tempDir('tds-bundle-');
  cleanups.push(dir);
  cpSync(FIXTURE, dir.path, { recursive: true });
  const file = path.join(dir.path, 'manifest.json');
  const m = JSON.parse(readFileSync(file, 'utf8'));
  edit(m, dir.path);
  writeFileSync(file, JSON.stringify(m, null, 2));
  return file;
}
const cleanups: Array<{ remove(): void }> = [];
afterAll(() => cleanups.forEach((c) => c.remove()));

async function invalid(manifest: string): Promise<string> {
  const err = await loadBundle(manifest).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(JobFailure);
  expect((err as JobFailure).code).toBe('BUNDLE_INVALID');
  return (err as JobFailure).message;
}

describe('firmware bundle', () => {
  it('loads the fixture: parts, roles, tdscfg from the partition table, SHA-256 = cat manifest parts | sha256sum', async () => {
    const manifest = path.join(FIXTURE, 'manifest.json');
    const b = await loadBundle(manifest);
    expect(b).toMatchObject({ name: expect.any(String), version: '1.0.0-fixture', nvsNamespace: 'tds', dataPartitionLabel: 'tdscfg' });
    const build = buildForChip(b, 'ESP32');
    expect(build.parts.map((p) => [p.name, p.offset, p.role])).toEqual([
      ['bootloader.bin', 0x1000, 'bootloader'],
      ['partitions.bin', 0x8000, 'partition-table'],
      ['boot_app0.bin', 0xe000, 'data'],
      ['app.bin', 0x10000, 'app'],
    ]);
    expect(build.dataPartition).toMatchObject({ label: 'tdscfg', offset: 0x310000, size: 0x10000 });
    expect(build.requiredFlashBytes).toBe(0x400000);
    const files = ['manifest.json', 'bootloader.bin', 'partitions.bin', 'boot_app0.bin', 'app.bin'].map((f) => path.join(FIXTURE, f));
    const shell = execFileSync('sh', ['-c', `cat ${files.map((f) => `'${f}'`).join(' ')} | sha256sum`], { encoding: 'utf8' }).split(' ')[0];
    expect(b.sha256).toBe(shell);
    const wrong = (() => {
      try {
        buildForChip(b, 'ESP32-S3');
      } catch (e) {
        return e as JobFailure;
      }
      return undefined;
    })();
    expect(wrong?.code).toBe('WRONG_CHIP');
    expect(wrong?.message).toMatch(/ESP32-S3.*is for ESP32/);
  });

  it('rejects a bad manifest, missing part, and a path outside the bundle', async () => {
    expect(await invalid(variant((m) => delete (m as Record<string, unknown>).version))).toMatch(/version/);
    expect(await invalid(variant((m) => (m.builds[0]!.parts[3]!.path = 'missing.bin')))).toMatch(/missing\.bin.*cannot be read/);
    expect(await invalid(variant((m) => (m.builds[0]!.parts[3]!.path = '../../etc/passwd')))).toMatch(/outside the bundle/);
    expect(await invalid(variant((m) => (m.builds[0]!.parts[3]!.path = 'https://example.com/app.bin')))).toMatch(/URL/);
  });

  it('rejects images without the 0xE9 magic, overlaps and misaligned offsets', async () => {
    expect(
      await invalid(
        variant((_m, dir) => {
          const app = readFileSync(path.join(dir, 'app.bin'));
          app[0] = 0x00;
          writeFileSync(path.join(dir, 'app.bin'), app);
        }),
      ),
    ).toMatch(/app\.bin is not an ESP image/);
    expect(await invalid(variant((m) => (m.builds[0]!.parts[2]!.offset = '0x8800')))).toMatch(/not a multiple of 0x1000|overlaps/);
    expect(await invalid(variant((m) => (m.builds[0]!.parts[0]!.offset = 0x7000)))).toMatch(/overlaps partitions\.bin/);
  });

  it('requires a partition table with the data partition, and keeps parts out of it', async () => {
    expect(
      await invalid(
        variant((_m, dir) => {
          writeFileSync(path.join(dir, 'partitions.bin'), buildPartitionTable('nvs,data,nvs,0x9000,0x5000,\nfactory,app,factory,0x10000,0x300000,\n'));
        }),
      ),
    ).toMatch(/no partition labelled "tdscfg"/);
    expect(
      await invalid(
        variant((_m, dir) => {
          const t = readFileSync(path.join(dir, 'partitions.bin'));
          t[40] = t[40]! ^ 0xff; // corrupt an entry: the MD5 entry no longer matches
          writeFileSync(path.join(dir, 'partitions.bin'), t);
        }),
      ),
    ).toMatch(/partitions\.bin/);
    expect(await invalid(variant((m) => m.builds[0]!.parts.push({ path: 'boot_app0.bin', offset: 0x310000 })))).toMatch(/factory-data partition/);
    expect(
      await invalid(
        variant((m, dir) => {
          writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(0x6000, 0xff));
          m.builds[0]!.parts[2] = { path: 'big.bin', offset: 0x9000 };
        }),
      ),
    ).toMatch(/does not fit partition "nvs"/);
  });
});
