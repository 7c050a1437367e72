/**
 * The typed input of the NVS generator, validated at the boundary so a bad value fails with a
 * message naming the entry instead of producing an image the firmware cannot read.
 */
import { z } from 'zod';
import { ENTRIES_PER_PAGE, ENTRY_SIZE, KEY_MAX_LENGTH, MAX_VARLEN_SIZE, type NvsVersion } from './format.js';

export const NVS_INTEGER_TYPES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64'] as const;
export type NvsIntegerType = (typeof NVS_INTEGER_TYPES)[number];
export type NvsValueType = NvsIntegerType | 'string' | 'blob';

interface EntryBase {
  /** Namespace name (≤ 15 ASCII characters). Entries are written in order; namespaces are created on first use. */
  namespace: string;
  /** Key (≤ 15 ASCII characters). */
  key: string;
}
export type NvsIntegerEntry = EntryBase & { type: NvsIntegerType; value: number | bigint };
export type NvsStringEntry = EntryBase & { type: 'string'; value: string };
export type NvsBlobEntry = EntryBase & { type: 'blob'; value: Uint8Array };
export type NvsEntry = NvsIntegerEntry | NvsStringEntry | NvsBlobEntry;

export const INTEGER_RANGES: Record<NvsIntegerType, readonly [bigint, bigint]> = {
  u8: [0n, 0xffn],
  i8: [-0x80n, 0x7fn],
  u16: [0n, 0xffffn],
  i16: [-0x8000n, 0x7fffn],
  u32: [0n, 0xffffffffn],
  i32: [-0x80000000n, 0x7fffffffn],
  u64: [0n, 0xffffffffffffffffn],
  i64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

/**
 * Keys for which the reference generator silently writes extra Wi-Fi entries (sta.apinfo, ap.pmk_info…);
 * we refuse them rather than produce different bytes.
 */
export const RESERVED_KEYS = ['sta.ssid', 'sta.pswd', 'ap.ssid', 'ap.passwd', 'ap.authmode'] as const;

/** Largest string payload in bytes (UTF-8, without the terminating NUL) that fits one page. */
export function maxStringBytes(version: NvsVersion): number {
  // A string must fit in one page with its header: 1 + ceil((len + 1) / 32) < 126 entries (the
  // reference tool's page-full rule uses >=), and len + 1 must not exceed the format limit.
  const byPage = (ENTRIES_PER_PAGE - 2) * ENTRY_SIZE - 1;
  return Math.min(byPage, MAX_VARLEN_SIZE[version] - 1);
}

const name = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(KEY_MAX_LENGTH, `${what} must be at most ${KEY_MAX_LENGTH} characters`)
    .regex(/^[\x20-\x7e]+$/, `${what} must be printable ASCII`);

const base = { namespace: name('namespace'), key: name('key') };

const integerEntry = z.object({
  ...base,
  type: z.enum(NVS_INTEGER_TYPES),
  value: z.union([z.number().int(), z.bigint()], { error: 'value must be an integer (number or bigint)' }),
});
const stringEntry = z.object({ ...base, type: z.literal('string'), value: z.string({ error: 'value must be a string' }) });
const blobEntry = z.object({
  ...base,
  type: z.literal('blob'),
  value: z.instanceof(Uint8Array, { error: 'value must be a Uint8Array' }),
});

function entrySchema(version: NvsVersion) {
  return z.discriminatedUnion('type', [integerEntry, stringEntry, blobEntry]).superRefine((e, ctx) => {
    if ((RESERVED_KEYS as readonly string[]).includes(e.key)) {
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: `key "${e.key}" is reserved (the reference generator adds hidden Wi-Fi entries for it); use another name`,
      });
    }
    if (e.type === 'string') {
      if (e.value.includes('\0')) {
        ctx.addIssue({ code: 'custom', path: ['value'], message: 'string must not contain NUL characters' });
      }
      const bytes = Buffer.byteLength(e.value, 'utf8');
      const max = maxStringBytes(version);
      if (bytes > max) {
        ctx.addIssue({
          code: 'custom',
          path: ['value'],
          message: `string is ${bytes} bytes (UTF-8); at most ${max} bytes fit an NVS V${version} page — store it as a blob`,
        });
      }
    } else if (e.type === 'blob') {
      if (version === 1 && e.value.length > MAX_VARLEN_SIZE[1]) {
        ctx.addIssue({
          code: 'custom',
          path: ['value'],
          message: `blob is ${e.value.length} bytes; NVS V1 allows at most ${MAX_VARLEN_SIZE[1]} (use V2)`,
        });
      }
    } else {
      const [lo, hi] = INTEGER_RANGES[e.type];
      if (typeof e.value === 'number' && !Number.isSafeInteger(e.value)) {
        ctx.addIssue({ code: 'custom', path: ['value'], message: 'integer beyond ±2^53: pass a bigint' });
        return;
      }
      const v = BigInt(e.value);
      if (v < lo || v > hi) {
        ctx.addIssue({ code: 'custom', path: ['value'], message: `${v} is out of range for ${e.type} (${lo}…${hi})` });
      }
    }
  });
}

export class NvsInputError extends Error {
  override readonly name = 'NvsInputError';
}

/** Validates the generator input; throws NvsInputError naming the first bad entry(ies). */
export function validateNvsEntries(input: unknown, version: NvsVersion): NvsEntry[] {
  const result = z.array(entrySchema(version)).safeParse(input);
  if (!result.success) {
    const list = Array.isArray(input) ? (input as unknown[]) : [];
    const messages = result.error.issues.slice(0, 5).map((issue) => {
      const index = typeof issue.path[0] === 'number' ? issue.path[0] : undefined;
      const item = index === undefined ? undefined : (list[index] as { key?: unknown } | undefined);
      const where = index === undefined ? 'input' : `entry #${index}${typeof item?.key === 'string' ? ` ("${item.key}")` : ''}`;
      const field = issue.path.slice(1).join('.');
      return `${where}${field ? ` ${field}` : ''}: ${issue.message}`;
    });
    throw new NvsInputError(`invalid NVS entries — ${messages.join('; ')}`);
  }
  const namespaces = new Set(result.data.map((e) => e.namespace));
  if (namespaces.size > 254) throw new NvsInputError(`too many namespaces (${namespaces.size}); NVS allows 254`);
  return result.data as NvsEntry[];
}
