/**
 * ESP32 partition table (the binary at flash 0x8000, as made by ESP-IDF's gen_esp32part.py):
 * parse, validate and look up a partition by label; and a builder from the CSV format, used to make
 * test bundles. Format: 32-byte entries `u16 magic 0xAA50 (bytes AA 50), u8 type, u8 subtype,
 * u32 offset, u32 size, char label[16], u32 flags`, an optional MD5 entry (`EB EB`, 14 × 0xFF, MD5 of
 * all previous entries), then 0xFF up to 0xC00 bytes.
 */
import { createHash } from 'node:crypto';

export const PARTITION_TABLE_OFFSET = 0x8000;
export const PARTITION_TABLE_MAX_SIZE = 0xc00;
const ENTRY_SIZE = 32;
const MAGIC = [0xaa, 0x50] as const;
const MD5_MAGIC = [0xeb, 0xeb] as const;
/** Partitions start after the table's flash sector. */
const FIRST_PARTITION_OFFSET = PARTITION_TABLE_OFFSET + 0x1000;
const APP_ALIGN = 0x10000;
const DATA_ALIGN = 0x1000;

export const PartitionType = { APP: 0x00, DATA: 0x01 } as const;

const APP_SUBTYPES: Record<string, number> = {
  factory: 0x00,
  test: 0x20,
  ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`ota_${i}`, 0x10 + i])),
};
const DATA_SUBTYPES: Record<string, number> = {
  ota: 0x00,
  phy: 0x01,
  nvs: 0x02,
  coredump: 0x03,
  nvs_keys: 0x04,
  efuse: 0x05,
  undefined: 0x06,
  esphttpd: 0x80,
  fat: 0x81,
  spiffs: 0x82,
  littlefs: 0x83,
};

export interface PartitionEntry {
  label: string;
  type: number;
  subtype: number;
  /** "app", "data" or the hex type for custom types. */
  typeName: string;
  /** Subtype name when known (nvs, ota_0, spiffs, …), else hex. */
  subtypeName: string;
  offset: number;
  size: number;
  encrypted: boolean;
  readonly: boolean;
}

export interface PartitionTable {
  entries: PartitionEntry[];
  /** Whether the table carried an MD5 entry (it was verified when present). */
  hasMd5: boolean;
}

export class PartitionTableError extends Error {
  override readonly name = 'PartitionTableError';
}

const hex = (n: number): string => `0x${n.toString(16)}`;

function nameOf(map: Record<string, number>, value: number): string | undefined {
  return Object.entries(map).find(([, v]) => v === value)?.[0];
}

function typeName(type: number): string {
  return type === PartitionType.APP ? 'app' : type === PartitionType.DATA ? 'data' : hex(type);
}

function subtypeName(type: number, subtype: number): string {
  const map = type === PartitionType.APP ? APP_SUBTYPES : type === PartitionType.DATA ? DATA_SUBTYPES : {};
  return nameOf(map, subtype) ?? hex(subtype);
}

export interface ParseOptions {
  /** Flash size in bytes; when given, partitions past it are an error. */
  flashSize?: number;
  /** Require the MD5 entry (default false: old tables may not have it). */
  requireMd5?: boolean;
}

/** Parses and validates a binary partition table; throws PartitionTableError saying what is wrong. */
export function parsePartitionTable(bin: Uint8Array, options: ParseOptions = {}): PartitionTable {
  if (bin.length < ENTRY_SIZE) throw new PartitionTableError(`partition table is ${bin.length} bytes, too short`);
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const entries: PartitionEntry[] = [];
  let hasMd5 = false;
  const limit = Math.min(bin.length, PARTITION_TABLE_MAX_SIZE);
  let at = 0;
  for (; at + ENTRY_SIZE <= limit; at += ENTRY_SIZE) {
    const b0 = bin[at]!;
    const b1 = bin[at + 1]!;
    if (b0 === 0xff && b1 === 0xff) break; // end of table
    if (b0 === MD5_MAGIC[0] && b1 === MD5_MAGIC[1]) {
      const stored = Buffer.from(bin.subarray(at + 16, at + 32)).toString('hex');
      const actual = createHash('md5').update(bin.subarray(0, at)).digest('hex');
      if (stored !== actual) {
        throw new PartitionTableError(`partition table MD5 mismatch (stored ${stored}, computed ${actual}): the table is corrupted`);
      }
      hasMd5 = true;
      at += ENTRY_SIZE;
      break;
    }
    if (b0 !== MAGIC[0] || b1 !== MAGIC[1]) {
      throw new PartitionTableError(
        `not an ESP32 partition table: entry ${at / ENTRY_SIZE} at byte ${at} has magic ${hex(b0)} ${hex(b1)} (expected 0xaa 0x50)`,
      );
    }
    const type = bin[at + 2]!;
    const subtype = bin[at + 3]!;
    const labelBytes = bin.subarray(at + 12, at + 28);
    const nul = labelBytes.indexOf(0);
    const flags = view.getUint32(at + 28, true);
    entries.push({
      label: Buffer.from(labelBytes.subarray(0, nul < 0 ? 16 : nul)).toString('utf8'),
      type,
      subtype,
      typeName: typeName(type),
      subtypeName: subtypeName(type, subtype),
      offset: view.getUint32(at + 4, true),
      size: view.getUint32(at + 8, true),
      encrypted: (flags & 1) !== 0,
      readonly: (flags & 2) !== 0,
    });
  }
  // After the last entry only 0xFF may follow (within the table's area).
  for (let i = at; i < limit; i++) {
    if (bin[i] !== 0xff) {
      throw new PartitionTableError(`unexpected data after the end of the partition table at byte ${i}`);
    }
  }
  if (entries.length === 0) throw new PartitionTableError('the partition table has no partitions');
  if (options.requireMd5 && !hasMd5) throw new PartitionTableError('the partition table has no MD5 entry');
  validatePartitions(entries, options.flashSize);
  return { entries, hasMd5 };
}

/** Layout checks of gen_esp32part.py: alignment, overlaps, duplicate labels, table area, flash size. */
export function validatePartitions(entries: readonly PartitionEntry[], flashSize?: number): void {
  const labels = new Set<string>();
  for (const p of entries) {
    const name = `partition "${p.label}"`;
    if (labels.has(p.label)) throw new PartitionTableError(`${name} appears twice`);
    labels.add(p.label);
    const align = p.type === PartitionType.APP ? APP_ALIGN : DATA_ALIGN;
    if (p.offset % align !== 0) throw new PartitionTableError(`${name} offset ${hex(p.offset)} is not aligned to ${hex(align)}`);
    if (p.size === 0 || p.size % DATA_ALIGN !== 0) {
      throw new PartitionTableError(`${name} size ${hex(p.size)} is not a non-zero multiple of 0x1000`);
    }
    if (p.offset < FIRST_PARTITION_OFFSET) {
      throw new PartitionTableError(`${name} at ${hex(p.offset)} overlaps the bootloader or the partition table (must start at 0x9000 or later)`);
    }
    if (flashSize !== undefined && p.offset + p.size > flashSize) {
      throw new PartitionTableError(`${name} ends at ${hex(p.offset + p.size)}, beyond the ${flashSize / 0x100000} MB flash`);
    }
  }
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.offset < prev.offset + prev.size) {
      throw new PartitionTableError(
        `partitions "${prev.label}" (${hex(prev.offset)}+${hex(prev.size)}) and "${cur.label}" (${hex(cur.offset)}) overlap`,
      );
    }
  }
}

export function findPartition(table: PartitionTable, label: string): PartitionEntry | undefined {
  return table.entries.find((p) => p.label === label);
}

/** The partition with this label, checked to be of the expected kind (e.g. data/nvs for `tdscfg`). */
export function requirePartition(
  table: PartitionTable,
  label: string,
  expect: { type?: 'app' | 'data'; subtype?: string } = {},
): PartitionEntry {
  const p = findPartition(table, label);
  const labels = table.entries.map((e) => e.label).join(', ');
  if (!p) throw new PartitionTableError(`the partition table has no partition labelled "${label}" (it has: ${labels})`);
  if (expect.type && p.typeName !== expect.type) {
    throw new PartitionTableError(`partition "${label}" is of type ${p.typeName}, expected ${expect.type}`);
  }
  if (expect.subtype && p.subtypeName !== expect.subtype) {
    throw new PartitionTableError(`partition "${label}" has subtype ${p.subtypeName}, expected ${expect.subtype}`);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Builder (CSV → binary)

export interface PartitionSpec {
  label: string;
  type: 'app' | 'data' | number;
  subtype: string | number;
  /** Omitted: placed after the previous partition, aligned as gen_esp32part.py does. */
  offset?: number;
  size: number;
  encrypted?: boolean;
  readonly?: boolean;
}

function parseSize(text: string, what: string): number {
  const m = /^(0x[0-9a-f]+|\d+)\s*([km]?)$/i.exec(text.trim());
  if (!m) throw new PartitionTableError(`${what} "${text}" is not a number (use 0x…, decimal, or a K/M suffix)`);
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  return unit === 'k' ? n * 1024 : unit === 'm' ? n * 1024 * 1024 : n;
}

/** Parses a partitions.csv (`# Name, Type, SubType, Offset, Size, Flags`). */
export function parsePartitionCsv(text: string): PartitionSpec[] {
  const specs: PartitionSpec[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const where = `partitions CSV line ${i + 1}`;
    const [label = '', type = '', subtype = '', offset = '', size = '', flags = ''] = line.split(',').map((f) => f.trim());
    if (!label || !type || !subtype || !size) throw new PartitionTableError(`${where}: needs name, type, subtype and size`);
    if (Buffer.byteLength(label) > 16) throw new PartitionTableError(`${where}: name "${label}" is longer than 16 bytes`);
    const flagList = flags ? flags.split(':').map((f) => f.trim()) : [];
    for (const f of flagList) {
      if (f !== 'encrypted' && f !== 'readonly') throw new PartitionTableError(`${where}: unknown flag "${f}"`);
    }
    specs.push({
      label,
      type: type === 'app' || type === 'data' ? type : parseSize(type, `${where} type`),
      subtype: /^(0x[0-9a-f]+|\d+)$/i.test(subtype) ? Number(subtype) : subtype,
      ...(offset ? { offset: parseSize(offset, `${where} offset`) } : {}),
      size: parseSize(size, `${where} size`),
      encrypted: flagList.includes('encrypted'),
      readonly: flagList.includes('readonly'),
    });
  });
  return specs;
}

function resolveSpec(spec: PartitionSpec, nextFree: number): PartitionEntry {
  const type = spec.type === 'app' ? PartitionType.APP : spec.type === 'data' ? PartitionType.DATA : spec.type;
  let subtype: number;
  if (typeof spec.subtype === 'number') subtype = spec.subtype;
  else {
    const map = type === PartitionType.APP ? APP_SUBTYPES : type === PartitionType.DATA ? DATA_SUBTYPES : {};
    const known = map[spec.subtype];
    if (known === undefined) throw new PartitionTableError(`partition "${spec.label}": unknown subtype "${spec.subtype}" for type ${typeName(type)}`);
    subtype = known;
  }
  const align = type === PartitionType.APP ? APP_ALIGN : DATA_ALIGN;
  const offset = spec.offset ?? Math.ceil(nextFree / align) * align;
  return {
    label: spec.label,
    type,
    subtype,
    typeName: typeName(type),
    subtypeName: subtypeName(type, subtype),
    offset,
    size: spec.size,
    encrypted: spec.encrypted ?? false,
    readonly: spec.readonly ?? false,
  };
}

/** Builds the binary table (0xC00 bytes, with the MD5 entry unless `md5: false`). */
export function buildPartitionTable(input: string | readonly PartitionSpec[], options: { md5?: boolean } = {}): Uint8Array {
  const specs = typeof input === 'string' ? parsePartitionCsv(input) : input;
  const entries: PartitionEntry[] = [];
  let nextFree = FIRST_PARTITION_OFFSET;
  for (const spec of specs) {
    const entry = resolveSpec(spec, nextFree);
    entries.push(entry);
    nextFree = entry.offset + entry.size;
  }
  validatePartitions(entries);
  const withMd5 = options.md5 ?? true;
  if ((entries.length + (withMd5 ? 1 : 0)) * ENTRY_SIZE > PARTITION_TABLE_MAX_SIZE) {
    throw new PartitionTableError(`too many partitions (${entries.length})`);
  }
  const out = new Uint8Array(PARTITION_TABLE_MAX_SIZE).fill(0xff);
  const view = new DataView(out.buffer);
  entries.forEach((p, i) => {
    const at = i * ENTRY_SIZE;
    out.set(MAGIC, at);
    out[at + 2] = p.type;
    out[at + 3] = p.subtype;
    view.setUint32(at + 4, p.offset, true);
    view.setUint32(at + 8, p.size, true);
    out.fill(0, at + 12, at + 28);
    out.set(Buffer.from(p.label, 'utf8'), at + 12);
    view.setUint32(at + 28, (p.encrypted ? 1 : 0) | (p.readonly ? 2 : 0), true);
  });
  if (withMd5) {
    const at = entries.length * ENTRY_SIZE;
    out.set(MD5_MAGIC, at);
    out.set(createHash('md5').update(out.subarray(0, at)).digest(), at + 16);
  }
  return out;
}
