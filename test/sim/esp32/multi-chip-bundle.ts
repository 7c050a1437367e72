/**
 * Writes test firmware bundles with builds for several chip families (ESP Web Tools manifest
 * `builds[]`), made from the real ESP32 fixture in test/fixtures/bundle-arduino: the ESP32 build is
 * the fixture as it is; an ESP32-S3 or ESP32-C3 build has the same images re-targeted at that chip
 * (header chip id, hash recomputed) and its bootloader at 0x0. Optionally the app is replaced (e.g.
 * one byte changed, for the sector diff).
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { retargetImage } from './esp-image.js';

const FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/bundle-arduino');

export type BundleFamily = 'ESP32' | 'ESP32-S3' | 'ESP32-C3';

const FAMILY: Record<BundleFamily, { chipId: number; bootloader: number; suffix: string }> = {
  ESP32: { chipId: 0, bootloader: 0x1000, suffix: '' },
  'ESP32-S3': { chipId: 9, bootloader: 0x0, suffix: '-s3' },
  'ESP32-C3': { chipId: 5, bootloader: 0x0, suffix: '-c3' },
};

export function fixturePart(name: string): Uint8Array {
  return new Uint8Array(readFileSync(path.join(FIXTURE, name)));
}

/** Writes `dir/manifest.json` and the parts; returns the manifest path. */
export function writeTestBundle(
  dir: string,
  families: readonly BundleFamily[],
  options: { app?: Uint8Array; version?: string } = {},
): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(path.join(FIXTURE, 'partitions.bin'), path.join(dir, 'partitions.bin'));
  copyFileSync(path.join(FIXTURE, 'boot_app0.bin'), path.join(dir, 'boot_app0.bin'));
  const app = options.app ?? fixturePart('app.bin');
  const bootloader = fixturePart('bootloader.bin');
  const builds = families.map((family) => {
    const f = FAMILY[family];
    const boot = `bootloader${f.suffix}.bin`;
    const appName = `app${f.suffix}.bin`;
    writeFileSync(path.join(dir, boot), f.chipId === 0 ? bootloader : retargetImage(bootloader, f.chipId));
    writeFileSync(path.join(dir, appName), f.chipId === 0 ? app : retargetImage(app, f.chipId));
    return {
      chipFamily: family,
      parts: [
        { path: boot, offset: f.bootloader },
        { path: 'partitions.bin', offset: 0x8000 },
        { path: 'boot_app0.bin', offset: 0xe000 },
        { path: appName, offset: 0x10000 },
      ],
    };
  });
  const manifest = {
    name: `TDS test bundle (${families.join(' + ')})`,
    version: options.version ?? '1.0.0-test',
    builds,
    tds: { dataPartition: 'tdscfg', nvsNamespace: 'tds' },
  };
  const file = path.join(dir, 'manifest.json');
  writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
  return file;
}
