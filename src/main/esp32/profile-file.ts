import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ProfileSchema, type Profile, type SecretRef } from '../../shared/profile.js';
import { JobFailure } from '../jobs/job-failure.js';
import { toFieldIssues } from '../../shared/validation.js';

/** Reads a profile JSON file and validates it; errors name the field (PROFILE_INVALID). */
export async function loadProfileFile(file: string): Promise<Profile> {
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
  const parsed = ProfileSchema.safeParse(json);
  if (!parsed.success) {
    // Every problem at once, in words (the schema's messages are i18n keys such as "range:1:247").
    const problems = toFieldIssues(parsed.error).map((i) => `${i.field || '(root)'}: ${i.message}`);
    throw new JobFailure('PROFILE_INVALID', `Profile ${file}: ${problems.join('; ')}`);
  }
  const profile = parsed.data;
  // Relative paths in a profile are relative to the profile file.
  const dir = path.dirname(path.resolve(file));
  if (profile.esp32) profile.esp32.bundle = path.resolve(dir, profile.esp32.bundle);
  if (profile.monitor) {
    profile.monitor.certFile = path.resolve(dir, profile.monitor.certFile);
    profile.monitor.keyFile = path.resolve(dir, profile.monitor.keyFile);
    profile.monitor.caFile = path.resolve(dir, profile.monitor.caFile);
  }
  return profile;
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
