import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ProfileEsp32Schema, ProfileSchema, zWifiPassword, type Profile } from '../../shared/profile.js';
import { toFieldIssues, V, zHttpUrl, zName, zPort } from '../../shared/validation.js';
import { JobFailure } from '../jobs/job-failure.js';
import { renamedProfileFields } from './profile-renames.js';

/**
 * A headless profile file (`--profile FILE`, JSON): the one profile model (src/shared/profile.ts)
 * plus what the UI keeps in the station settings (server, monitor identity, operator). Secrets may be
 * inline or `{ "env": "VAR" }`, so a file can sit in a bench box's config without them. Relative
 * paths are relative to the file.
 */
const EnvRef = z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name such as TDS_TOKEN') });
export type SecretRef = string | z.infer<typeof EnvRef>;

const ProfileFileSchema = ProfileSchema.extend({
  server: z.object({
    url: zHttpUrl,
    token: z.union([z.string().min(1, V.required), EnvRef]),
    /** PEM of the CA that signed the server's HTTPS certificate (pinned), when not publicly trusted. */
    caPem: z.string().includes('-----BEGIN', { message: V.pem }).optional(),
  }),
  /** This station's monitor identity (service certificate `station-monitor-<id>`). */
  monitor: z
    .object({
      certFile: z.string().min(1, V.required),
      keyFile: z.string().min(1, V.required),
      caFile: z.string().min(1, V.required),
      /** Address the station uses to reach the broker, when it differs from what devices use. */
      host: z.string().min(1, V.required).optional(),
      port: zPort.optional(),
    })
    .optional(),
  operator: zName(80).optional(),
  esp32: ProfileEsp32Schema.extend({ wifiPassword: z.union([zWifiPassword, EnvRef]).optional() }).optional(),
});
type ProfileFileData = z.output<typeof ProfileFileSchema>;

export interface ProfileFile {
  file: string;
  profile: Profile;
  /** The ESP32 Wi-Fi password as the file gives it (absent = open network). */
  wifiPassword: SecretRef | undefined;
  server: ProfileFileData['server'];
  monitor: ProfileFileData['monitor'];
  operator: string | undefined;
  /** Former field names the file still uses (loaded; the user should rename them). */
  warnings: string[];
}

/** Reads a profile JSON file and validates it; errors name every bad field (PROFILE_INVALID). */
export async function loadProfileFile(file: string): Promise<ProfileFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new JobFailure('PROFILE_INVALID', `Cannot read profile ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new JobFailure('PROFILE_INVALID', `Profile ${file} is not JSON: ${(err as Error).message}`);
  }
  const renamed = renamedProfileFields(json);
  if (renamed.conflicts.length > 0) {
    throw new JobFailure('PROFILE_INVALID', `Profile ${file}: ${renamed.conflicts.join('; ')}`, { hint: 'Remove the former name and keep the new one.' });
  }
  const parsed = ProfileFileSchema.safeParse(resolvePaths(renamed.value, path.dirname(path.resolve(file))));
  if (!parsed.success) {
    // Every problem at once, in words (the schema's messages are i18n keys such as "range:1:247").
    const problems = toFieldIssues(parsed.error).map((i) => `${i.field || '(root)'}: ${i.message}`);
    throw new JobFailure('PROFILE_INVALID', `Profile ${file}: ${problems.join('; ')}`);
  }
  const { server, monitor, operator, esp32, ...rest } = parsed.data;
  let profile: Profile = rest;
  let wifiPassword: SecretRef | undefined;
  if (esp32) {
    const { wifiPassword: password, ...esp } = esp32;
    profile = { ...profile, esp32: esp };
    wifiPassword = password === '' ? undefined : password;
  }
  return { file, profile, wifiPassword, server, monitor, operator, warnings: renamed.warnings.map((w) => `profile ${file}: ${w}`) };
}

/** Paths in a profile file are relative to the file: made absolute before validation. */
function resolvePaths(value: unknown, dir: string): unknown {
  if (!isRecord(value)) return value;
  const out = { ...value };
  const esp32 = out.esp32;
  if (isRecord(esp32) && typeof esp32.bundlePath === 'string' && esp32.bundlePath.trim() !== '') {
    out.esp32 = { ...esp32, bundlePath: path.resolve(dir, esp32.bundlePath) };
  }
  const monitor = out.monitor;
  if (isRecord(monitor)) {
    const m = { ...monitor };
    for (const key of ['certFile', 'keyFile', 'caFile']) if (typeof m[key] === 'string' && m[key] !== '') m[key] = path.resolve(dir, m[key]);
    out.monitor = m;
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value of an inline secret or of `{ "env": "VAR" }`; PROFILE_INVALID when the variable is unset. */
export function resolveSecret(ref: SecretRef, field: string, env: NodeJS.ProcessEnv = process.env): string {
  if (typeof ref === 'string') return ref;
  const value = env[ref.env];
  if (value === undefined || value === '') {
    throw new JobFailure('PROFILE_INVALID', `${field} comes from the environment variable ${ref.env}, which is not set.`, {
      hint: `Set ${ref.env} before starting the station (or put the value in the profile).`,
    });
  }
  return value;
}
