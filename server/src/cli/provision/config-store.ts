/**
 * tds-provision's saved settings: API URL, token and an optional pinned CA file, in
 * $TDS_PROVISION_CONFIG or $XDG_CONFIG_HOME/tds-provision/config.json (0600, folder 0700).
 * Environment ($TDS_API_URL, $TDS_API_TOKEN, $TDS_CA_FILE) and command-line options win; the token is
 * never a command-line value (provision/token-source.ts).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { CliError } from '../common.js';

const schema = z.object({
  api_url: z.string().url().optional(),
  token: z.string().optional(),
  ca_file: z.string().optional(),
});
export type ProvisionConfig = z.infer<typeof schema>;

export function configPath(): string {
  if (process.env.TDS_PROVISION_CONFIG) return path.resolve(process.env.TDS_PROVISION_CONFIG);
  const base = process.env.XDG_CONFIG_HOME ?? path.join(homedir(), '.config');
  return path.join(base, 'tds-provision', 'config.json');
}

export function readConfig(): ProvisionConfig {
  const file = configPath();
  if (!existsSync(file)) return {};
  try {
    return schema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new CliError(`${file} is not a valid tds-provision config (${(err as Error).message.split('\n')[0]}); run "tds-provision config" again`);
  }
}

export async function writeConfig(config: ProvisionConfig): Promise<string> {
  const file = configPath();
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify(schema.parse(config), null, 2) + '\n', 0o600);
  return file;
}

export interface Connection {
  apiUrl: string;
  token: string;
  caPem?: string;
}

export function resolveConnection(overrides: { apiUrl?: string; token?: string; caFile?: string }): Connection {
  const saved = readConfig();
  const env = (name: string): string | undefined => process.env[name] || undefined;
  const apiUrl = overrides.apiUrl ?? env('TDS_API_URL') ?? saved.api_url;
  const token = overrides.token ?? env('TDS_API_TOKEN') ?? saved.token;
  const caFile = overrides.caFile ?? env('TDS_CA_FILE') ?? saved.ca_file;
  if (!apiUrl) throw new CliError('no API URL: run "tds-provision config --api-url https://host/api/v1" (or set TDS_API_URL)');
  if (!token) throw new CliError('no API token: run "tds-provision config --token-file FILE" (or --token-stdin, or set TDS_API_TOKEN)');
  let caPem: string | undefined;
  if (caFile) {
    try {
      caPem = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read the CA file ${caFile}: ${(err as Error).message}`);
    }
  }
  return { apiUrl, token, ...(caPem ? { caPem } : {}) };
}
