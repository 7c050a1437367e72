import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KEY_TYPES } from '@tds/server/contract';
import { z } from 'zod';
import { PiModbusSchema } from '../../shared/pi-agent.js';
import { toFieldIssues } from '../../shared/validation.js';
import { JobFailure } from '../jobs/job-failure.js';

/**
 * A provisioning profile: everything a bench or field job needs besides the device itself.
 * Used by the headless CLI (`--profile FILE`, JSON) and by the UI's Settings screen.
 * Secrets may be given inline or as `{ "env": "VAR" }` so profile files can be committed to a
 * bench box's config without the secret.
 */
export const SecretRef = z.union([
  z.string().min(1),
  z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'environment variable name, e.g. TDS_TOKEN') }),
]);
export type SecretRef = z.infer<typeof SecretRef>;

const Pem = z.string().includes('-----BEGIN', { message: 'expected PEM text' });

export const ProfileSchema = z.object({
  name: z.string().min(1).max(80),
  server: z.object({
    url: z.url({ message: 'server.url must be an http(s) URL such as https://127.0.0.1:8443' }),
    token: SecretRef,
    /** PEM of the CA that signed the server's HTTPS certificate (pinned), when not publicly trusted. */
    caPem: Pem.optional(),
  }),
  /** Seed `conta_id` the gateways are created in. */
  contaId: z.number().int().positive(),
  gateway: z
    .object({
      /** Template for `codigo` when the operator does not scan/type one: {mac12}, {seq}. */
      codigoTemplate: z.string().min(1).max(30).default('GW-{mac12}'),
      nomeTemplate: z.string().min(1).max(100).default('Gateway {mac}'),
    })
    .default({ codigoTemplate: 'GW-{mac12}', nomeTemplate: 'Gateway {mac}' }),
  broker: z.object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(8883),
  }),
  /** This station's monitor identity (service certificate `station-monitor-<id>`). */
  monitor: z
    .object({
      certFile: z.string().min(1),
      keyFile: z.string().min(1),
      caFile: z.string().min(1),
      /** Address the station uses to reach the broker, when it differs from what devices use. */
      host: z.string().min(1).optional(),
      port: z.number().int().min(1).max(65535).optional(),
    })
    .optional(),
  certificate: z
    .object({
      keyType: z.enum(KEY_TYPES).default('ec'),
      /** Where the device key is born: `station` (in this process's memory) or `device` (our firmware's console / the Pi). */
      keyMode: z.enum(['station', 'device']).default('station'),
      validityDays: z.number().int().min(1).max(36500).optional(),
    })
    .default({ keyType: 'ec', keyMode: 'station' }),
  esp32: z
    .object({
      bundle: z.string().min(1),
      wifi: z.object({ ssid: z.string().min(1).max(32), password: SecretRef.optional() }),
      baud: z.number().int().positive().default(921600),
      resetMode: z.enum(['auto', 'usb-jtag', 'manual']).default('auto'),
      onlineTimeoutSec: z.number().int().positive().default(60),
    })
    .optional(),
  pi: z
    .object({
      /** Install prefix on the target ("/" on a real Pi; a folder in tests). */
      installPrefix: z.string().default('/'),
      serviceManager: z.enum(['systemd', 'none']).default('systemd'),
      onlineTimeoutSec: z.number().int().positive().default(60),
      /** The agent's `modbus` section of config.json, in the agent's own field names (see pi-agent.ts). */
      modbus: PiModbusSchema.optional(),
      /** System user the agent runs as (install.sh creates it when missing). */
      serviceUser: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a plain user name such as gateway-iot').optional(),
      /** Python 3 on the Pi (Debian's, with the python3-* packages). Default /usr/bin/python3. */
      python: z.string().startsWith('/', 'an absolute path such as /usr/bin/python3').optional(),
      /** More fields for the agent's config.json (commands.reboot, buffer, mqtt timing, renewal). */
      agentConfig: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
  operator: z.string().min(1).max(80).optional(),
});
export type Profile = z.infer<typeof ProfileSchema>;

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
