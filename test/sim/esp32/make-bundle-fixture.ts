/**
 * Regenerates test/fixtures/bundle-arduino/ (a firmware bundle: ESP Web Tools manifest + `tds`
 * object + parts) from the real Arduino image in test/fixtures/esp32-arduino-image/ and the
 * bundle's own partitions.csv (the product layout with `tdscfg`).
 *
 *   npx tsx test/sim/esp32/make-bundle-fixture.ts
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildPartitionTable } from '../../../src/main/esp32/partition-table.js';

const root = path.resolve(import.meta.dirname, '../../..');
const image = path.join(root, 'test/fixtures/esp32-arduino-image');
const bundle = path.join(root, 'test/fixtures/bundle-arduino');

export const BUNDLE_MANIFEST = {
  name: 'TTGO T-Display Arduino demo (TDS test bundle)',
  version: '1.0.0-fixture',
  builds: [
    {
      chipFamily: 'ESP32',
      parts: [
        { path: 'bootloader.bin', offset: 0x1000 },
        { path: 'partitions.bin', offset: 0x8000 },
        { path: 'boot_app0.bin', offset: 0xe000 },
        { path: 'app.bin', offset: 0x10000 },
      ],
    },
  ],
  tds: { dataPartition: 'tdscfg', nvsNamespace: 'tds' },
};

function main(): void {
  for (const f of ['bootloader.bin', 'boot_app0.bin', 'app.bin']) copyFileSync(path.join(image, f), path.join(bundle, f));
  const table = buildPartitionTable(readFileSync(path.join(bundle, 'partitions.csv'), 'utf8'));
  writeFileSync(path.join(bundle, 'partitions.bin'), table);
  writeFileSync(path.join(bundle, 'manifest.json'), `${JSON.stringify(BUNDLE_MANIFEST, null, 2)}\n`);
  console.log(`bundle written to ${path.relative(root, bundle)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) main();
