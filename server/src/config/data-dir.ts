/**
 * The server's data folder: database, CA certificate, sealed CA key, settings and the latest CRL.
 * Created with mode 0700; secrets inside with 0600.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { KEY_TYPES } from '../contract/api.js';
import { writeFileAtomic } from '../util/atomic-file.js';

export const DATA_FILES = {
  database: 'tds-server.db',
  caCert: 'ca.crt',
  caKey: 'ca.key.enc',
  settings: 'config.json',
  crl: 'crl.pem',
} as const;

export function dataPath(dataDir: string, file: keyof typeof DATA_FILES): string {
  return path.join(dataDir, DATA_FILES[file]);
}

const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const dnsLabelDomain = /^(?=.{1,200}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

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
  const parsed = settingsSchema.safeParse(JSON.parse(text));
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
  return existsSync(dataPath(dataDir, 'caKey')) || existsSync(dataPath(dataDir, 'database'));
}

export async function ensureDataDir(dataDir: string): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  await fs.chmod(dataDir, 0o700);
}
