import { cpSync } from 'node:fs';
import path from 'node:path';
import { ApiClient } from '@tds/server/client';
import { startProcess, type StartedProcess } from './processes.js';
import { TDS_SERVER_CLI, type TestServer } from './server.js';
import { tempDir } from './temp.js';

/**
 * Another `tds-server serve` of the same installation, as on a second machine: a copy of the first
 * server's data folder (CA certificate, sealed CA key, config.json with the PostgreSQL URL) and its
 * own process on its own port, sharing the store. Stopped by PID (also on failure, processes.ts).
 */
export interface ServerInstance {
  url: string;
  apiUrl: string;
  port: number;
  dataDir: string;
  readonly process: StartedProcess;
  client(role?: 'operator' | 'admin' | 'auditor' | null): ApiClient;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** SIGTERM (graceful drain); resolves with the exit code. */
  terminate(): Promise<number | string>;
  /** Stops it and deletes its data folder copy. */
  stop(): Promise<void>;
}

export interface InstanceOptions {
  extraServeArgs?: string[];
  env?: Record<string, string>;
  name?: string;
  /** Files of the data folder not to copy (e.g. broker.json: this machine publishes to no broker folder). */
  omit?: string[];
}

export async function startInstance(base: TestServer, o: InstanceOptions = {}): Promise<ServerInstance> {
  const dir = tempDir(`tds-${o.name ?? 'instance'}-`);
  const dataDir = path.join(dir.path, 'data');
  const omit = new Set((o.omit ?? []).map((f) => path.join(base.dataDir, f)));
  cpSync(base.dataDir, dataDir, { recursive: true, filter: (src) => !/tds-server\.db(-wal|-shm)?$/.test(src) && !omit.has(src) });
  const args = ['serve', '--data', dataDir, '--host', '127.0.0.1', '--port', '0', '--json', ...(o.extraServeArgs ?? [])];
  const proc = startProcess(`tds-server serve (${o.name ?? 'instance'})`, process.execPath, [TDS_SERVER_CLI, ...args], {
    env: { ...process.env, TDS_CA_PASSPHRASE: base.passphrase, ...(o.env ?? {}) },
  });
  let info: { url: string; api_url: string; port: number };
  try {
    const m = await proc.waitForOutput(/^(\{"event":"listening".*\})$/m, 30_000);
    info = JSON.parse(m[1]!) as typeof info;
  } catch (err) {
    await proc.stop();
    dir.remove();
    throw err;
  }
  return {
    url: info.url,
    apiUrl: info.api_url,
    port: info.port,
    dataDir,
    process: proc,
    client(role = 'operator') {
      return new ApiClient({ baseUrl: info.api_url, caPem: base.caPem, ...(role ? { token: base.tokens[role] } : {}) });
    },
    kill: () => proc.kill(),
    async terminate() {
      proc.child.kill('SIGTERM');
      return proc.exited();
    },
    async stop() {
      await proc.stop();
      dir.remove();
    },
  };
}
