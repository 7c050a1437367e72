#!/usr/bin/env node
// Turns a `pio run -e esp32dev` build into the firmware bundle the station flashes: a folder with
// bootloader.bin (0x1000), partitions.bin (0x8000), boot_app0.bin (0xe000), firmware.bin (0x10000)
// and manifest.json = ESP Web Tools manifest + a `tds` object (docs/firmware-esp32.md "Bundle").
// Node >= 20, no dependencies.
//
//   node scripts/make-bundle.mjs [--build-dir .pio/build/esp32dev] [--out dist/bundle]
//        [--boot-app0 FILE] [--partitions-csv partitions.csv] [--version 1.0.0] [--name "TDS Gateway"]
//
// partitions.bin is taken from the build when present and must equal the one generated from the CSV
// (a stale build is refused); without it, it is generated here (same bytes as ESP-IDF's gen_esp32part.py).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROJECT = path.resolve(HERE, '..');

export const OFFSETS = { bootloader: 0x1000, partitions: 0x8000, bootApp0: 0xe000, app: 0x10000 };
const TYPES = { app: 0x00, data: 0x01 };
const SUBTYPES = {
  app: { factory: 0x00, test: 0x20, ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`ota_${i}`, 0x10 + i])) },
  data: { ota: 0x00, phy: 0x01, nvs: 0x02, coredump: 0x03, nvs_keys: 0x04, efuse: 0x05, undefined: 0x06, esphttpd: 0x80, fat: 0x81, spiffs: 0x82, littlefs: 0x83 },
};
const TABLE_MAX = 0xc00;

function fail(message) {
  throw new Error(message);
}

function parseNumber(text, what) {
  const t = text.trim();
  const m = /^(0x[0-9a-f]+|\d+)([km])?$/i.exec(t);
  if (!m) fail(`${what}: "${t}" is not a number`);
  const n = Number(m[1]);
  return m[2] ? n * (m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024) : n;
}

/** Rows of an ESP-IDF partition CSV (explicit offsets required, as in our table). */
export function parsePartitionCsv(text) {
  const rows = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const [name, type, subtype, offset, size, flags = ''] = line.split(',').map((s) => s.trim());
    const where = `partitions.csv line ${i + 1}`;
    if (!name || name.length > 15) fail(`${where}: name must be 1-15 characters`);
    const t = TYPES[type];
    if (t === undefined) fail(`${where}: type must be app or data`);
    const st = SUBTYPES[type][subtype] ?? (/^0x/i.test(subtype ?? '') ? Number(subtype) : undefined);
    if (st === undefined) fail(`${where}: unknown subtype ${subtype}`);
    if (!offset) fail(`${where}: an explicit offset is required`);
    const f = flags.split(':').filter(Boolean);
    rows.push({
      name, type: t, subtype: st, offset: parseNumber(offset, where), size: parseNumber(size, where),
      flags: (f.includes('encrypted') ? 1 : 0) | (f.includes('readonly') ? 2 : 0),
    });
  }
  return rows;
}

/** Binary partition table: 32-byte entries, an MD5 entry, 0xFF up to 0xC00 bytes. */
export function partitionTableBinary(rows) {
  const entries = Buffer.alloc(rows.length * 32);
  rows.forEach((r, i) => {
    const e = entries.subarray(i * 32, i * 32 + 32);
    e.writeUInt16LE(0x50aa, 0);
    e[2] = r.type;
    e[3] = r.subtype;
    e.writeUInt32LE(r.offset, 4);
    e.writeUInt32LE(r.size, 8);
    e.write(r.name, 12, 16, 'ascii');
    e.writeUInt32LE(r.flags, 28);
  });
  const md5 = Buffer.concat([Buffer.from([0xeb, 0xeb]), Buffer.alloc(14, 0xff), createHash('md5').update(entries).digest()]);
  const out = Buffer.alloc(TABLE_MAX, 0xff);
  Buffer.concat([entries, md5]).copy(out);
  return out;
}

function readPart(file, what) {
  if (!existsSync(file)) fail(`${what} not found at ${file}`);
  return readFileSync(file);
}

function fwVersionFromIni() {
  const ini = readFileSync(path.join(PROJECT, 'platformio.ini'), 'utf8');
  return /-DTDS_FW_VERSION=\\"([^"\\]+)\\"/.exec(ini)?.[1];
}

export function makeBundle(opts) {
  const buildDir = path.resolve(opts.buildDir ?? path.join(PROJECT, '.pio/build/esp32dev'));
  const out = path.resolve(opts.out ?? path.join(PROJECT, 'dist/bundle'));
  const csvPath = path.resolve(opts.partitionsCsv ?? path.join(PROJECT, 'partitions.csv'));
  const bootApp0Path = path.resolve(
    opts.bootApp0 ?? path.join(homedir(), '.platformio/packages/framework-arduinoespressif32/tools/partitions/boot_app0.bin'),
  );
  const version = opts.version ?? fwVersionFromIni() ?? fail('no --version and no TDS_FW_VERSION in platformio.ini');

  const bootloader = readPart(path.join(buildDir, 'bootloader.bin'), 'bootloader.bin (run `pio run` first)');
  const app = readPart(path.join(buildDir, 'firmware.bin'), 'firmware.bin (run `pio run` first)');
  const bootApp0 = readPart(bootApp0Path, 'boot_app0.bin (from the Arduino-ESP32 package; pass --boot-app0)');
  if (bootloader[0] !== 0xe9) fail('bootloader.bin is not an ESP image (first byte is not 0xE9)');
  if (app[0] !== 0xe9) fail('firmware.bin is not an ESP image (first byte is not 0xE9)');
  if (bootApp0.length !== 0x2000) fail(`boot_app0.bin must be 8192 bytes, is ${bootApp0.length}`);

  const rows = parsePartitionCsv(readFileSync(csvPath, 'utf8'));
  const table = partitionTableBinary(rows);
  const builtTable = path.join(buildDir, 'partitions.bin');
  if (existsSync(builtTable) && !readFileSync(builtTable).subarray(0, TABLE_MAX).equals(table)) {
    fail(`${builtTable} differs from ${csvPath}: rebuild with \`pio run\``);
  }
  const data = rows.find((r) => r.name === 'tdscfg');
  if (!data || data.type !== TYPES.data || data.subtype !== SUBTYPES.data.nvs) fail('partitions.csv has no "tdscfg" data/nvs partition');
  const app0 = rows.find((r) => r.type === TYPES.app && r.offset === OFFSETS.app);
  if (!app0) fail(`no app partition at 0x${OFFSETS.app.toString(16)}`);
  if (app.length > app0.size) fail(`firmware.bin (${app.length} bytes) does not fit ${app0.name} (${app0.size} bytes)`);
  const ota = rows.find((r) => r.type === TYPES.data && r.subtype === SUBTYPES.data.ota);
  if (!ota || ota.offset !== OFFSETS.bootApp0) fail('the otadata partition must be at 0xe000 (boot_app0.bin goes there)');

  const files = { 'bootloader.bin': bootloader, 'partitions.bin': table, 'boot_app0.bin': bootApp0, 'firmware.bin': app };
  const manifest = {
    name: opts.name ?? 'TDS Gateway',
    version,
    new_install_prompt_erase: false,
    builds: [
      {
        chipFamily: 'ESP32',
        parts: [
          { path: 'bootloader.bin', offset: OFFSETS.bootloader },
          { path: 'partitions.bin', offset: OFFSETS.partitions },
          { path: 'boot_app0.bin', offset: OFFSETS.bootApp0 },
          { path: 'firmware.bin', offset: OFFSETS.app },
        ],
      },
    ],
    tds: {
      dataPartition: 'tdscfg',
      nvsNamespace: 'tds',
      dataPartitionOffset: data.offset,
      dataPartitionSize: data.size,
      console: 'tds-console/1',
      keyModes: ['station', 'device'],
      sha256: Object.fromEntries(Object.entries(files).map(([n, b]) => [n, createHash('sha256').update(b).digest('hex')])),
    },
  };
  // Written beside the target and renamed into place, so a failed run leaves no half bundle.
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const [n, b] of Object.entries(files)) writeFileSync(path.join(tmp, n), b);
  writeFileSync(path.join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(path.dirname(out), { recursive: true });
  renameSync(tmp, out);
  return { out, manifest };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      'build-dir': { type: 'string' },
      out: { type: 'string' },
      'boot-app0': { type: 'string' },
      'partitions-csv': { type: 'string' },
      version: { type: 'string' },
      name: { type: 'string' },
    },
  });
  try {
    const { out, manifest } = makeBundle({
      buildDir: values['build-dir'], out: values.out, bootApp0: values['boot-app0'],
      partitionsCsv: values['partitions-csv'], version: values.version, name: values.name,
    });
    console.log(`bundle ${manifest.name} ${manifest.version} written to ${out}`);
  } catch (err) {
    console.error(`make-bundle: ${err.message}`);
    process.exit(1);
  }
}
