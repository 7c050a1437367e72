/**
 * `<data>/broker.json`: what `tds-server broker-kit` built and where the live broker files are, so
 * the running server (and the CLI) can push every new CRL and ACL to the broker and reload it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-file.js';
import { formatReloadTarget, parseReloadTarget, type ReloadTarget } from './reloader.js';

export const BROKER_CONFIG_FILE = 'broker.json';

const schema = z.object({
  format: z.literal('tds-broker/1'),
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65_535),
  installDir: z.string().startsWith('/'),
  /** Folder whose crl.pem and acl.conf the server keeps current; absent = the operator copies them. */
  publishDir: z.string().startsWith('/').nullable(),
  reload: z.string(),
  /** The kit loads the dynamic-security plugin (live-session cut-off); absent in kits made before it existed. */
  sessionControl: z.boolean().default(false),
  brokerCertificateSerial: z.string(),
  builtAt: z.string(),
});

export interface BrokerConfig {
  host: string;
  port: number;
  installDir: string;
  publishDir: string | null;
  reload: ReloadTarget;
  sessionControl: boolean;
  brokerCertificateSerial: string;
  builtAt: string;
}

export function brokerConfigPath(dataDir: string): string {
  return path.join(dataDir, BROKER_CONFIG_FILE);
}

export async function loadBrokerConfig(dataDir: string): Promise<BrokerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(brokerConfigPath(dataDir), 'utf8');
  } catch {
    return undefined;
  }
  const r = schema.safeParse(JSON.parse(text));
  if (!r.success) throw new Error(`${brokerConfigPath(dataDir)} is invalid (${r.error.issues[0]?.message ?? ''}); run "tds-server broker-kit" again`);
  return { ...r.data, reload: parseReloadTarget(r.data.reload) };
}

export async function saveBrokerConfig(dataDir: string, c: BrokerConfig): Promise<void> {
  const json = schema.parse({ format: 'tds-broker/1', ...c, reload: formatReloadTarget(c.reload) });
  await writeFileAtomic(brokerConfigPath(dataDir), JSON.stringify(json, null, 2) + '\n', { mode: 0o600 });
}
