/**
 * The server's data folder: database, CA certificates, sealed CA keys (or where the token holds them),
 * settings and the latest CRLs (device CA and birth CA).
 * Created with mode 0700; secrets inside with 0600.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { KEY_TYPES } from '../contract/api.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { defaultScheduleText, scheduleSchema } from './schedule.js';

export const DATA_FILES = {
  database: 'tds-server.db',
  caCert: 'ca.crt',
  caKey: 'ca.key.enc',
  /** Instead of caKey when the CA key is in a PKCS#11 token: where it is (no secrets). */
  caKeyPkcs11: 'ca.key.pkcs11.json',
  settings: 'config.json',
  crl: 'crl.pem',
  birthCaCert: 'birth-ca.crt',
  birthCaKey: 'birth-ca.key.enc',
  /** Instead of birthCaKey when the CA keys are in a PKCS#11 token. */
  birthCaKeyPkcs11: 'birth-ca.key.pkcs11.json',
  birthCrl: 'birth-crl.pem',
} as const;

export function dataPath(dataDir: string, file: keyof typeof DATA_FILES): string {
  return path.join(dataDir, DATA_FILES[file]);
}

const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const dnsLabelDomain = /^(?=.{1,200}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Zero-touch onboarding (docs/zero-touch.md §5). Every field has a default, so older config files load. */
export const bootstrapSettingsSchema = z.object({
  /** The open path (a device without a birth identity) is allowed. Off unless the admin turns it on. */
  openEnrolment: z.boolean().default(false),
  /** Lifetime of a pending request; the seed's 24 h is the upper bound. */
  pendingMinutes: z.number().int().min(1).max(1440).default(30),
  /** How long an approved request's certificate waits for the device before it is revoked. */
  fetchHours: z.number().int().min(1).max(168).default(24),
  pollSeconds: z.number().int().min(1).max(300).default(5),
  maxPendingPerMac: z.number().int().min(1).max(20).default(3),
  maxPendingTotal: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Nonce and bootstrap requests per source address per minute (each route); polls get five times that. */
  perAddressPerMinute: z.number().int().min(1).max(100_000).default(60),
  /** Nonce and bootstrap requests per second that reach validation, all addresses together. */
  admissionPerSecond: z.number().int().min(1).max(100_000).default(200),
  birthValidityDays: z.number().int().min(1).max(36_500).default(3652),
  /** The API base URL given to bench-born devices (their `bs_url`). */
  serverUrl: z.url({ protocol: /^https$/, error: 'serverUrl must be an https:// URL' }).max(253).optional(),
});
export type BootstrapSettings = z.infer<typeof bootstrapSettingsSchema>;

export const settingsSchema = z.object({
  format: z.literal('tds-server-settings/1'),
  device: z.object({
    /** Subject C/ST/L/O of device certificates (seed defaults). */
    subject: z.object({
      country: z.string().length(2).regex(printable),
      state: z.string().min(1).max(64),
      locality: z.string().min(1).max(64),
      organization: z.string().min(1).max(64),
    }),
    /** SAN dNSName is `<12 hex>.devices.<domain>`. */
    domain: z.string().regex(dnsLabelDomain, 'domain must be a lowercase DNS name like tds.com.br'),
    validityDays: z.number().int().min(1).max(36_500),
    keyType: z.enum(KEY_TYPES),
  }),
  crl: z.object({ nextUpdateDays: z.number().int().min(1).max(365) }),
  mqtt: z.object({ broker: z.string().min(1).max(253), port: z.number().int().min(1).max(65_535) }),
  /** How long a server-made key may wait (sealed) for its one ZIP download. */
  pendingKeyTtlHours: z.number().min(0).max(24),
  /**
   * SQLite durability. "normal" (WAL + synchronous=NORMAL) survives any process crash; "full" also
   * survives power loss at the cost of an fsync per write.
   */
  durability: z.enum(['normal', 'full']),
  /** When serve runs the renewal sweep and the CRL re-sign (config/schedule.ts). */
  schedule: scheduleSchema.default(defaultScheduleText()),
  /** How long each gateway's online/offline transitions are kept. */
  presenceHistoryDays: z.number().int().min(1).max(3_650).default(400),
  bootstrap: bootstrapSettingsSchema.default(() => bootstrapSettingsSchema.parse({})),
  /**
   * PostgreSQL instead of the SQLite file (several server instances): the URL (a password in it is
   * allowed here, the file is 0600) and this process's connection count. See config/database.ts.
   */
  database: z
    .object({
      url: z.string().min(1).max(2_000).optional(),
      poolSize: z.number().int().min(1).max(200).optional(),
    })
    .optional(),
});
export type Settings = z.infer<typeof settingsSchema>;

export function defaultSettings(): Settings {
  return {
    format: 'tds-server-settings/1',
    device: {
      subject: { country: 'BR', state: 'SP', locality: 'Sao Paulo', organization: 'TDS IoT' },
      domain: 'tds.com.br',
      validityDays: 3652,
      keyType: 'ec',
    },
    crl: { nextUpdateDays: 7 },
    mqtt: { broker: 'localhost', port: 8883 },
    pendingKeyTtlHours: 24,
    durability: 'normal',
    schedule: defaultScheduleText(),
    presenceHistoryDays: 400,
    bootstrap: bootstrapSettingsSchema.parse({}),
  };
}

export async function loadSettings(dataDir: string): Promise<Settings> {
  const file = dataPath(dataDir, 'settings');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new Error(`${file} is missing: is ${dataDir} a data folder made by "tds-server init"?`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON`);
  }
  const parsed = settingsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export async function saveSettings(dataDir: string, settings: Settings): Promise<void> {
  await writeFileAtomic(dataPath(dataDir, 'settings'), JSON.stringify(settingsSchema.parse(settings), null, 2) + '\n', 0o600);
}

export function isInitialised(dataDir: string): boolean {
  return existsSync(dataPath(dataDir, 'caKey')) || existsSync(dataPath(dataDir, 'caKeyPkcs11')) || existsSync(dataPath(dataDir, 'database'));
}

export async function ensureDataDir(dataDir: string): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  await fs.chmod(dataDir, 0o700);
}
