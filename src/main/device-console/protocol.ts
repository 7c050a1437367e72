/**
 * Wire format of the gateway firmware's serial console, protocol `tds-console/1`
 * (docs/firmware-esp32.md "Serial console"). Every request and reply is one line `TDS <json>\n`;
 * anything else on the port (ROM banner, ESP-IDF logs, Improv frames) is not ours and is skipped.
 */
import { crc32 } from 'node:zlib';
import { parseMac } from '@tds/server/contract';
import { z } from 'zod';

export const CONSOLE_PROTOCOL = 'tds-console/1';
export const LINE_PREFIX = 'TDS ';
/** Longest `data` of one chunk the firmware accepts (bytes). */
export const MAX_CHUNK_BYTES = 512;
/** Values longer than this are sent in chunks (keeps request lines well under the 2048-byte limit). */
export const DEFAULT_CHUNK_BYTES = 256;

/**
 * Keys of the `tdscfg` partition (namespace `tds`) the console accepts in `set`. `mac` is read-only.
 * All are NVS strings except `mqtt_port` (u16) and `cfg_ver` (u8); send those as numbers.
 */
export const CONSOLE_KEYS = [
  'ca_pem',
  'cert_pem',
  'key_pem',
  'wifi_ssid',
  'wifi_pass',
  'mqtt_host',
  'mqtt_port',
  'gw_code',
  'prov_at',
  'prov_by',
  'cfg_ver',
  'modbus',
  'ntp_host',
] as const;
export type ConsoleKey = (typeof CONSOLE_KEYS)[number];

/** Error codes the firmware answers with (`{"ok":false,"error":...}`). */
export type ConsoleErrorCode =
  | 'bad_request'
  | 'unknown_cmd'
  | 'bad_key'
  | 'bad_value'
  | 'read_only'
  | 'too_long'
  | 'seq'
  | 'crc'
  | 'invalid_config'
  | 'keygen_failed'
  | 'storage'
  | 'line_too_long';

/** The MAC a device reports, through the one MAC parser: canonical, or the reply is refused (nothing raw is kept). */
const DeviceMac = z.string().transform((s, ctx) => {
  const m = parseMac(s);
  if (m.ok) return m.mac;
  ctx.addIssue({ code: 'custom', message: `the device reports an invalid MAC: ${m.error}` });
  return z.NEVER;
});

export const InfoSchema = z.looseObject({
  proto: z.string(),
  mac: DeviceMac,
  fw: z.object({ name: z.string(), version: z.string() }),
  chip: z.looseObject({ model: z.string(), revision: z.number(), cores: z.number(), flash_size: z.number() }),
  state: z.string(),
  cert: z.looseObject({
    installed: z.boolean(),
    serial: z.string().optional(),
    cn: z.string().optional(),
    not_before: z.string().optional(),
    not_after: z.string().optional(),
    key_source: z.string(),
  }),
  device_key: z.object({ installed: z.boolean(), pending_csr: z.boolean() }),
  config: z.looseObject({ valid: z.boolean(), problems: z.array(z.string()), keys: z.array(z.string()) }),
  staged: z.array(z.string()),
  renewal: z.string().optional(),
});
export type DeviceInfo = z.infer<typeof InfoSchema>;

export const CsrSchema = z.object({ csr_pem: z.string().includes('BEGIN CERTIFICATE REQUEST'), key_type: z.string(), cn: z.string() });
export type CsrReply = z.infer<typeof CsrSchema>;

export const CommitSchema = z.object({
  valid: z.boolean(),
  problems: z.array(z.string()),
  key_source: z.string(),
  cert_serial: z.string().optional(),
  written: z.array(z.string()),
});
export type CommitReply = z.infer<typeof CommitSchema>;

/** Unsolicited lines: `boot` after every reset, `state` on every state change. */
export const EventSchema = z.looseObject({ event: z.string() });
export type ConsoleEvent = z.infer<typeof EventSchema> & Record<string, unknown>;

export function crc32Hex(text: string): string {
  return (crc32(Buffer.from(text, 'utf8')) >>> 0).toString(16).padStart(8, '0');
}

export function encodeLine(message: Record<string, unknown>): Uint8Array {
  return Buffer.from(`${LINE_PREFIX}${JSON.stringify(message)}\n`, 'utf8');
}

/**
 * Splits a value into chunk requests of at most `chunkBytes` UTF-8 bytes (never inside a character).
 * The last one carries `final`, the total `len` and `total_crc`.
 */
export function chunkRequests(key: ConsoleKey, value: string, chunkBytes = DEFAULT_CHUNK_BYTES): Record<string, unknown>[] {
  if (chunkBytes < 4 || chunkBytes > MAX_CHUNK_BYTES) throw new RangeError(`chunkBytes must be 4-${MAX_CHUNK_BYTES}`);
  const bytes = Buffer.from(value, 'utf8');
  const parts: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + chunkBytes, bytes.length);
    while (end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--; // not inside a UTF-8 sequence
    parts.push(bytes.subarray(start, end).toString('utf8'));
    start = end;
  }
  if (parts.length === 0) parts.push('');
  return parts.map((data, seq) => {
    const req: Record<string, unknown> = { cmd: 'set', key, seq, data, crc: crc32Hex(data) };
    if (seq === parts.length - 1) Object.assign(req, { final: true, len: bytes.length, total_crc: crc32Hex(value) });
    return req;
  });
}
