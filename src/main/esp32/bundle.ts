import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { JobFailure } from '../jobs/job-failure.js';
import {
  PARTITION_TABLE_OFFSET,
  PartitionTableError,
  parsePartitionTable,
  requirePartition,
  type PartitionEntry,
  type PartitionTable,
} from './partition-table.js';

/** ESP image header magic (bootloader and app images). */
export const ESP_IMAGE_MAGIC = 0xe9;

/** Where each chip family's ROM looks for the second-stage bootloader. */
export const BOOTLOADER_OFFSETS: Record<string, number> = {
  ESP32: 0x1000,
  'ESP32-S2': 0x1000,
  'ESP32-S3': 0x0,
  'ESP32-C2': 0x0,
  'ESP32-C3': 0x0,
  'ESP32-C6': 0x0,
  'ESP32-H2': 0x0,
  'ESP32-C5': 0x2000,
  'ESP32-C61': 0x0,
  'ESP32-P4': 0x2000,
};

/** The chip id an ESP image's extended header carries (bytes 12–13) for each family (esptool's IMAGE_CHIP_ID). */
export const IMAGE_CHIP_IDS: Record<string, number> = {
  ESP32: 0,
  'ESP32-S2': 2,
  'ESP32-C3': 5,
  'ESP32-S3': 9,
  'ESP32-C2': 12,
  'ESP32-C6': 13,
  'ESP32-H2': 16,
  'ESP32-P4': 18,
  'ESP32-C61': 20,
  'ESP32-C5': 23,
};

/** The chip id in an ESP image header (undefined when the image is too short to have one). */
export function imageChipId(image: Uint8Array): number | undefined {
  if (image.length < 24) return undefined;
  return image[12]! | (image[13]! << 8);
}

const Offset = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^(0x[0-9a-fA-F]+|\d+)$/, 'offset must be a number or a hex string like "0x10000"'),
]);

/** ESP Web Tools manifest (name, version, builds[chipFamily, parts[path, offset]]) + our `tds` object. */
export const ManifestSchema = z.looseObject({
  name: z.string().min(1),
  version: z.string().min(1),
  builds: z
    .array(
      z.looseObject({
        chipFamily: z.string().min(1),
        parts: z.array(z.object({ path: z.string().min(1), offset: Offset })).min(1),
      }),
    )
    .min(1),
  tds: z
    .object({
      /** Label of the factory-data partition the station writes (`tdscfg`, see docs/firmware-esp32.md). */
      dataPartition: z.string().min(1).max(15).default('tdscfg'),
      /** NVS namespace of the factory data. */
      nvsNamespace: z.string().min(1).max(15).default('tds'),
      /** Where the firmware accepts its key from (our firmware: ["station", "device"]). */
      keyModes: z.array(z.enum(['station', 'device'])).min(1).optional(),
    })
    .default({ dataPartition: 'tdscfg', nvsNamespace: 'tds' }),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export interface BundlePart {
  /** File name as in the manifest (also used in logs and error locations). */
  name: string;
  offset: number;
  data: Uint8Array;
  /** What the part is: bootloader, partition-table, app (in an app partition), data. */
  role: 'bootloader' | 'partition-table' | 'app' | 'data';
  /** The partition the part is written into, when it lies in one. */
  partition?: string;
}

export interface BundleBuild {
  chipFamily: string;
  parts: BundlePart[];
  partitionTable: PartitionTable;
  /** The factory-data partition (offset and size come from the bundle's partition table). */
  dataPartition: PartitionEntry;
  /** Smallest flash that holds every partition and part, in bytes. */
  requiredFlashBytes: number;
}

export interface FirmwareBundle {
  /** Folder the manifest was read from. */
  dir: string;
  name: string;
  version: string;
  nvsNamespace: string;
  dataPartitionLabel: string;
  /** Key modes the firmware supports, when the manifest says (else any). */
  keyModes?: Array<'station' | 'device'>;
  /**
   * SHA-256 (hex) of the bundle: the manifest file's bytes followed by every part's bytes in
   * manifest order (builds in order, parts in order), i.e. `cat manifest.json <parts…> | sha256sum`.
   */
  sha256: string;
  builds: BundleBuild[];
}

/**
 * Reads and validates a firmware bundle: the manifest, every part (images start with 0xE9, the
 * partition table parses and has the factory-data partition, parts lie inside their partitions and
 * do not overlap each other or the data partition). Throws JobFailure BUNDLE_INVALID naming the problem.
 */
export async function loadBundle(manifestPath: string): Promise<FirmwareBundle> {
  const dir = path.dirname(path.resolve(manifestPath));
  let manifestBytes: Buffer;
  try {
    manifestBytes = await readFile(manifestPath);
  } catch (err) {
    throw invalid(`cannot read the bundle manifest ${manifestPath}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(manifestBytes.toString('utf8'));
  } catch (err) {
    throw invalid(`${manifestPath} is not JSON: ${(err as Error).message}`);
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(`${manifestPath}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const manifest = parsed.data;
  const hash = createHash('sha256').update(manifestBytes);
  const files = new Map<string, Uint8Array>();
  const builds: BundleBuild[] = [];
  for (const [bi, build] of manifest.builds.entries()) {
    const raw: Array<{ name: string; offset: number; data: Uint8Array }> = [];
    for (const part of build.parts) {
      const file = resolveInside(dir, part.path, manifestPath);
      let data = files.get(file);
      if (!data) {
        try {
          data = new Uint8Array(await readFile(file));
        } catch (err) {
          throw invalid(`part ${part.path} of build ${bi} (${build.chipFamily}) cannot be read: ${(err as Error).message}`);
        }
        files.set(file, data);
      }
      hash.update(data);
      raw.push({ name: part.path, offset: typeof part.offset === 'number' ? part.offset : Number(part.offset), data });
    }
    builds.push(validateBuild(build.chipFamily, raw, manifest.tds.dataPartition));
  }
  const families = builds.map((b) => b.chipFamily);
  const dup = families.find((f, i) => families.indexOf(f) !== i);
  if (dup) throw invalid(`the manifest lists two builds for ${dup}`);
  return {
    dir,
    name: manifest.name,
    version: manifest.version,
    nvsNamespace: manifest.tds.nvsNamespace,
    dataPartitionLabel: manifest.tds.dataPartition,
    ...(manifest.tds.keyModes ? { keyModes: manifest.tds.keyModes } : {}),
    sha256: hash.digest('hex'),
    builds,
  };
}

/** The build for a detected chip family, or WRONG_CHIP naming what the bundle supports. */
export function buildForChip(bundle: FirmwareBundle, chipFamily: string): BundleBuild {
  const build = bundle.builds.find((b) => b.chipFamily.toUpperCase() === chipFamily.toUpperCase());
  if (!build) {
    throw new JobFailure(
      'WRONG_CHIP',
      `This board is an ${chipFamily}, but bundle "${bundle.name}" ${bundle.version} is for ${bundle.builds.map((b) => b.chipFamily).join(', ')}.`,
    );
  }
  return build;
}

/** A bundle that names its key modes must accept the one the profile asks for. */
export function checkBundleKeyMode(bundle: FirmwareBundle, mode: 'station' | 'device'): void {
  if (bundle.keyModes && !bundle.keyModes.includes(mode)) {
    throw new JobFailure('PROFILE_INVALID', `Firmware "${bundle.name}" ${bundle.version} does not accept ${mode}-made keys (it supports: ${bundle.keyModes.join(', ')}).`, {
      hint: `Set certificate.keyMode to "${bundle.keyModes[0]}" in the profile, or use a bundle that supports ${mode} keys.`,
    });
  }
}

function validateBuild(chipFamily: string, raw: Array<{ name: string; offset: number; data: Uint8Array }>, dataLabel: string): BundleBuild {
  const where = (name: string): string => `${chipFamily} part ${name}`;
  const sorted = [...raw].sort((a, b) => a.offset - b.offset);
  for (const [i, p] of sorted.entries()) {
    if (p.data.length === 0) throw invalid(`${where(p.name)} is empty`);
    if (p.offset % 0x1000 !== 0) throw invalid(`${where(p.name)} offset 0x${p.offset.toString(16)} is not a multiple of 0x1000 (a flash sector)`);
    const next = sorted[i + 1];
    if (next && p.offset + p.data.length > next.offset) {
      throw invalid(`${where(p.name)} (0x${p.offset.toString(16)}+${p.data.length}) overlaps ${next.name} at 0x${next.offset.toString(16)}`);
    }
  }
  const tablePart = sorted.find((p) => p.offset === PARTITION_TABLE_OFFSET);
  if (!tablePart) throw invalid(`the ${chipFamily} build has no partition table at 0x8000`);
  let table: PartitionTable;
  try {
    table = parsePartitionTable(tablePart.data);
  } catch (err) {
    throw invalid(`${where(tablePart.name)}: ${(err as Error).message}`);
  }
  let dataPartition: PartitionEntry;
  try {
    dataPartition = requirePartition(table, dataLabel, { type: 'data', subtype: 'nvs' });
  } catch (err) {
    if (err instanceof PartitionTableError) throw invalid(`${where(tablePart.name)}: ${err.message}`);
    throw err;
  }
  const bootOffset = BOOTLOADER_OFFSETS[chipFamily.toUpperCase()];
  const parts: BundlePart[] = sorted.map((p) => {
    const partition = table.entries.find((e) => p.offset >= e.offset && p.offset < e.offset + e.size);
    if (partition) {
      if (p.offset + p.data.length > partition.offset + partition.size) {
        throw invalid(`${where(p.name)} (${p.data.length} bytes) does not fit partition "${partition.label}" (${partition.size} bytes)`);
      }
      if (partition.label === dataPartition.label) {
        throw invalid(`${where(p.name)} would overwrite the factory-data partition "${dataPartition.label}", which the station writes per device`);
      }
    }
    let role: BundlePart['role'];
    if (p.offset === PARTITION_TABLE_OFFSET) role = 'partition-table';
    else if (bootOffset !== undefined && p.offset === bootOffset) role = 'bootloader';
    else if (partition?.typeName === 'app') role = 'app';
    else role = 'data';
    if ((role === 'bootloader' || role === 'app') && p.data[0] !== ESP_IMAGE_MAGIC) {
      throw invalid(`${where(p.name)} is not an ESP image (first byte 0x${p.data[0]!.toString(16)}, expected 0xe9)`);
    }
    // A build's images must be made for its chip: the ROM of another family refuses them at boot.
    const wantId = IMAGE_CHIP_IDS[chipFamily.toUpperCase()];
    const gotId = imageChipId(p.data);
    if ((role === 'bootloader' || role === 'app') && wantId !== undefined && gotId !== undefined && gotId !== wantId) {
      const name = Object.entries(IMAGE_CHIP_IDS).find(([, id]) => id === gotId)?.[0] ?? `chip id ${gotId}`;
      throw invalid(`${where(p.name)} is built for ${name}, not ${chipFamily} (image header chip id ${gotId}, expected ${wantId})`);
    }
    const out: BundlePart = { name: p.name, offset: p.offset, data: p.data, role };
    if (partition) out.partition = partition.label;
    return out;
  });
  if (bootOffset !== undefined && !parts.some((p) => p.role === 'bootloader')) {
    throw invalid(`the ${chipFamily} build has no bootloader at 0x${bootOffset.toString(16)}`);
  }
  if (!parts.some((p) => p.role === 'app')) throw invalid(`the ${chipFamily} build has no application image in an app partition`);
  const requiredFlashBytes = Math.max(
    ...table.entries.map((e) => e.offset + e.size),
    ...parts.map((p) => p.offset + p.data.length),
  );
  return { chipFamily, parts, partitionTable: table, dataPartition, requiredFlashBytes };
}

function resolveInside(dir: string, rel: string, manifestPath: string): string {
  if (/^[a-z]+:\/\//i.test(rel)) throw invalid(`${manifestPath}: part "${rel}" is a URL; the station flashes local bundles only`);
  const full = path.resolve(dir, rel);
  if (full !== dir && !full.startsWith(dir + path.sep)) throw invalid(`${manifestPath}: part "${rel}" points outside the bundle folder`);
  return full;
}

function invalid(message: string): JobFailure {
  return new JobFailure('BUNDLE_INVALID', message);
}
