import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { MAX_BAUD_CHOICES, ProfileSchema } from '../../shared/profile.js';
import { LANGUAGES } from '../../shared/views.js';
import { readFileIfExists, writeFileAtomic } from '@tds/server/util';
import { renamedProfileFields } from '../cli/profile-renames.js';

/** The lowest speed cap: the ROM's own rate (no speed change). */
const SLOWEST_CAP = Math.min(...MAX_BAUD_CHOICES);

/**
 * A profile as settings.json holds it, former field names moved to their names now (the profile
 * files' rename table): the former fixed rate `esp32.baud` is read as the cap `esp32.maxBaud`. It
 * allowed rates below 115200, which a cap cannot be; such a profile gets the slowest cap instead of
 * making the whole file unreadable. 921600 was the form's default, not a choice anyone made, so it
 * becomes "automatic" (no cap): upgraded stations use their faster bridges without a visit to Settings.
 */
function storedProfile(stored: unknown): unknown {
  const formerDefault = isRecord(stored) && isRecord(stored.esp32) && stored.esp32.baud === FORMER_DEFAULT_BAUD;
  const { value } = renamedProfileFields(stored);
  const esp32 = isRecord(value) && isRecord(value.esp32) ? value.esp32 : undefined;
  if (esp32 && formerDefault) delete esp32.maxBaud;
  if (esp32 && typeof esp32.maxBaud === 'number' && esp32.maxBaud < SLOWEST_CAP) esp32.maxBaud = SLOWEST_CAP;
  return value;
}

/** The fixed rate every profile had before the station chose rates per bridge. */
const FORMER_DEFAULT_BAUD = 921600;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A Pi added by address; `mac` once a job on it has read it (for its online state). */
const ManualHostSchema = z.object({ id: z.string(), host: z.string(), port: z.number().int(), name: z.string().nullable(), mac: z.string().nullable().default(null) });

/** A Pi the Field screen worked on lately, with the user it logged in as (never a password or key). */
const RecentPiSchema = z.object({ host: z.string(), port: z.number().int(), username: z.string(), at: z.string() });

/**
 * What the Field screen remembers between runs, as Raspberry Pi Imager does: the last login user and
 * method, the key file's path (the file stays where it is and is read for each job), recent Pis.
 * Never a password, a key or a passphrase.
 */
const FieldMemorySchema = z.object({
  username: z.string().nullable().default(null),
  authMethod: z.enum(['password', 'key', 'keyFile', 'agent']).nullable().default(null),
  keyFile: z.string().nullable().default(null),
  waitForBoot: z.boolean().default(false),
  recentHosts: z.array(RecentPiSchema).default([]),
});

/** Everything the station remembers between runs, except secrets. */
export const PersistedSettingsSchema = z.object({
  version: z.literal(1),
  operator: z.string().default(''),
  language: z.enum(['auto', ...LANGUAGES]).default('auto'),
  stationId: z.string(),
  activeProfile: z.string().nullable().default(null),
  /** The first-run wizard finished (bundled) or a remote server was configured. */
  configured: z.boolean().default(false),
  server: z
    .object({
      mode: z.enum(['bundled', 'remote']).default('bundled'),
      url: z.string().nullable().default(null),
      caPem: z.string().nullable().default(null),
      accountId: z.number().int().nullable().default(null),
    })
    .default({ mode: 'bundled', url: null, caPem: null, accountId: null }),
  broker: z
    .object({
      mode: z.enum(['embedded', 'external']).default('embedded'),
      host: z.string().default('127.0.0.1'),
      port: z.number().int().default(8883),
      deviceHost: z.string().default('127.0.0.1'),
      caPem: z.string().nullable().default(null),
      /** Monitor identity certificate; its key is in the secret store. */
      monitor: z
        .object({ name: z.string(), certPem: z.string(), serialNumber: z.string().nullable(), expiresAt: z.string().nullable() })
        .nullable()
        .default(null),
      startEmbedded: z.boolean().default(false),
    })
    .default({ mode: 'embedded', host: '127.0.0.1', port: 8883, deviceHost: '127.0.0.1', caPem: null, monitor: null, startEmbedded: false }),
  /** Profiles as the domain model has them; their Wi-Fi passwords are in the secret store. */
  profiles: z.array(z.preprocess(storedProfile, ProfileSchema)).default([]),
  manualHosts: z.array(ManualHostSchema).default([]),
  field: FieldMemorySchema.default({ username: null, authMethod: null, keyFile: null, waitForBoot: false, recentHosts: [] }),
  /** The Bench: slot names by USB location, and how it behaves for the technician. */
  bench: z
    .object({
      slots: z.record(z.string(), z.string()).default({}),
      sound: z.boolean().default(false),
      notify: z.boolean().default(false),
      autoStart: z.boolean().default(false),
      autoPrint: z.boolean().default(false),
    })
    .default({ slots: {}, sound: false, notify: false, autoStart: false, autoPrint: false }),
  /** Profiles locked by an admin (the PIN's hash is in the secret store). */
  profileLock: z.object({ locked: z.boolean().default(false) }).default({ locked: false }),
});
export type PersistedSettings = z.output<typeof PersistedSettingsSchema>;

/** A default station id from the host name: lowercase letters, digits and dashes, ≤ 32 chars. */
export function defaultStationId(hostname = os.hostname()): string {
  const id = hostname
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32)
    .replace(/-+$/, '');
  return id || 'station';
}

/**
 * settings.json in the data folder: validated on load (a damaged file is reported, not silently
 * replaced), written atomically, changes serialised so two updates never interleave.
 */
export class SettingsStore {
  private current: PersistedSettings | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  readonly file: string;

  constructor(readonly dataDir: string) {
    this.file = path.join(dataDir, 'settings.json');
  }

  async load(): Promise<PersistedSettings> {
    if (this.current) return this.current;
    const text = await readFileIfExists(this.file);
    if (text === undefined) {
      this.current = PersistedSettingsSchema.parse({ version: 1, stationId: defaultStationId() });
      return this.current;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${this.file} is not valid JSON; fix it or move it away to start with fresh settings`);
    }
    const parsed = PersistedSettingsSchema.safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new Error(`${this.file} is damaged (${first?.path.join('.')}: ${first?.message}); fix it or move it away`);
    }
    this.current = parsed.data;
    return this.current;
  }

  /** Current settings (after `load`). */
  get(): PersistedSettings {
    if (!this.current) throw new Error('settings not loaded');
    return this.current;
  }

  /** Applies `change` to a copy and persists it; the in-memory copy changes only once written. */
  update(change: (draft: PersistedSettings) => void): Promise<PersistedSettings> {
    const run = this.chain.then(async () => {
      const draft = structuredClone(await this.load());
      change(draft);
      const valid = PersistedSettingsSchema.parse(draft);
      await writeFileAtomic(this.file, JSON.stringify(valid, null, 2) + '\n', { mode: 0o600, createDir: true });
      this.current = valid;
      return valid;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}
