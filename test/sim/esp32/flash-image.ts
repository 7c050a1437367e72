/**
 * Builds the contents of a board's flash from a firmware bundle (+ an NVS data partition), so a
 * test can start a simulated board that is already provisioned, without flashing it first.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface Manifest {
  builds: { chipFamily: string; parts: { path: string; offset: number }[] }[];
}

export const BUNDLE_DIR = path.resolve(import.meta.dirname, '../../fixtures/bundle-arduino');
export const TDSCFG_OFFSET = 0x310000;
export const TDSCFG_SIZE = 0x10000;

/** The bundle's parts with their flash offsets (ESP32 build). */
export function bundleParts(bundleDir = BUNDLE_DIR): { name: string; offset: number; data: Buffer }[] {
  const manifest = JSON.parse(readFileSync(path.join(bundleDir, 'manifest.json'), 'utf8')) as Manifest;
  const build = manifest.builds.find((b) => b.chipFamily === 'ESP32');
  if (!build) throw new Error(`${bundleDir}/manifest.json has no ESP32 build`);
  return build.parts.map((p) => ({ name: p.path, offset: p.offset, data: readFileSync(path.join(bundleDir, p.path)) }));
}

/** Writes a flash file: 0xFF everywhere, the bundle's parts, and optionally `extra` parts (e.g. tdscfg). */
export function writeFlashFile(
  file: string,
  options: { size?: number; bundleDir?: string | null; extra?: { offset: number; data: Uint8Array }[] } = {},
): void {
  const flash = Buffer.alloc(options.size ?? 0x400000, 0xff);
  const parts = options.bundleDir === null ? [] : bundleParts(options.bundleDir);
  for (const p of [...parts, ...(options.extra ?? [])]) Buffer.from(p.data).copy(flash, p.offset);
  writeFileSync(file, flash);
}
