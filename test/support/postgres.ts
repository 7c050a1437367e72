import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { freePort, waitForPort } from './ports.js';
import { startProcess, type StartedProcess } from './processes.js';
import { tempDir } from './temp.js';

/**
 * A real PostgreSQL 15 cluster (Debian's binaries) for tests: `initdb` in a temp folder owned by the
 * `postgres` system user (PostgreSQL refuses to run as root), the server on a free loopback port
 * with its socket in that folder, stopped by PID at the end — also on failure, through the process
 * registry of processes.ts. One cluster per test file; `createDatabase()` gives each test its own
 * fresh database. Durability is switched off (fsync, synchronous_commit): tests stop it cleanly, and
 * it keeps them quick.
 */
export interface PostgresCluster {
  host: string;
  port: number;
  /** PID of the postmaster. */
  readonly pid: number;
  /** The `postgres` maintenance database, superuser `postgres` (trust on loopback). */
  adminUrl: string;
  /** A new empty database; returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Runs SQL on a database (by URL) and returns the rows (BIGINT as numbers). */
  query<T extends Record<string, unknown> = Record<string, unknown>>(url: string, sql: string, params?: unknown[]): Promise<T[]>;
  /** Fast shutdown (SIGINT to the postmaster): every connection is cut, then the process exits. */
  stopServer(): Promise<void>;
  /** Starts the server again on the same port and data. */
  startServer(): Promise<void>;
  /** Stops the server and deletes the cluster. */
  stop(): Promise<void>;
}

const BIN = '/usr/lib/postgresql/15/bin';

/** uid/gid to run PostgreSQL as: the `postgres` user when we are root, else ourselves. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export async function startPostgres(options: { settings?: Record<string, string> } = {}): Promise<PostgresCluster> {
  if (!existsSync(path.join(BIN, 'postgres'))) throw new Error(`PostgreSQL 15 is not installed (${BIN}); run scripts/ensure-test-deps.sh`);
  const dir = tempDir('tds-pg-');
  const user = runAs();
  if (user) chownSync(dir.path, user.uid, user.gid);
  const data = path.join(dir.path, 'data');
  const spawnAs = user ? { uid: user.uid, gid: user.gid } : {};
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: dir.path };

  const init = startProcess('initdb', path.join(BIN, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions'], {
    ...spawnAs,
    env,
    cwd: dir.path,
  });
  const code = await init.exited();
  if (code !== 0) {
    dir.remove();
    throw new Error(`initdb failed (${code}):\n${init.output()}`);
  }

  const host = '127.0.0.1';
  const port = await freePort();
  const settings: Record<string, string> = {
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '200',
    shared_buffers: '64MB',
    ...(options.settings ?? {}),
  };
  let server: StartedProcess | undefined;
  const startServer = async (): Promise<void> => {
    const args = ['-D', data, '-k', dir.path, '-p', String(port), '-h', host, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    server = startProcess('postgres', path.join(BIN, 'postgres'), args, { ...spawnAs, env, cwd: dir.path });
    await server.waitForOutput(/database system is ready to accept connections/, 30_000);
    await waitForPort(port, host);
  };
  const stopServer = async (): Promise<void> => {
    const s = server;
    if (!s) return;
    server = undefined;
    const pidFile = path.join(data, 'postmaster.pid');
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : s.pid;
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      /* gone */
    }
    const timer = setTimeout(() => void s.kill(), 15_000);
    await s.exited();
    clearTimeout(timer);
  };

  try {
    await startServer();
  } catch (err) {
    await stopServer();
    dir.remove();
    throw err;
  }
  const adminUrl = `postgres://postgres@${host}:${port}/postgres`;
  const query = async <T extends Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> => {
    const client = new pg.Client({ connectionString: url, types: { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 && format !== 'binary' ? Number : pg.types.getTypeParser(oid, format)) } as typeof pg.types });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  let counter = 0;
  return {
    host,
    port,
    get pid() {
      return server?.pid ?? 0;
    },
    adminUrl,
    async createDatabase(prefix = 't') {
      const name = `${prefix}_${process.pid}_${++counter}_${Date.now().toString(36)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
      await query(adminUrl, `CREATE DATABASE ${name}`);
      return `postgres://postgres@${host}:${port}/${name}`;
    },
    query,
    stopServer,
    startServer,
    async stop() {
      await stopServer();
      dir.remove();
    },
  };
}
