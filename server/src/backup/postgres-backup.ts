/**
 * The PostgreSQL side of `tds-server backup`/`restore` (the `StoreBackup` seam of store-backup.ts):
 * `pg_dump --format=custom` of the store's database into the staging folder — one consistent
 * snapshot while the servers keep writing — and, on restore, `pg_restore --single-transaction` of
 * that dump into a new, empty database. The tools are PostgreSQL's own (Debian's
 * `postgresql-client`), found on PATH. A password never goes on their command line: the URL is
 * passed without it and the password (when the URL has one) in the child's PGPASSWORD; otherwise
 * libpq reads PGPASSWORD or ~/.pgpass as for any PostgreSQL program.
 *
 * Before anything is written to the target database, the dump is read back (`pg_restore --list`,
 * and its `installation` and `schema_migrations` rows): it must belong to the restored data
 * folder's CA and be no newer than this tds-server. The target must hold no tables. Loaded only for
 * a PostgreSQL store (it brings pg).
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { resolveDatabase } from '../config/database.js';
import { dataPath, loadSettings, saveSettings } from '../config/data-dir.js';
import { caFingerprint, describePostgresUrl } from '../store/backend.js';
import { migrations } from '../store/migrations/index.js';
import { BackupRefused } from './container.js';
import type { StoreBackup } from './store-seam.js';

export const POSTGRES_DUMP = 'postgres.dump';
/** Large databases take a while; a tool that hangs longer than this is stopped. */
const TOOL_TIMEOUT_MS = 6 * 3_600_000;

/** The URL for a tool's command line (no password) and the environment that carries the password. */
function libpq(url: string): { url: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { url: u.toString(), env: password ? { ...process.env, PGPASSWORD: password } : { ...process.env } };
}

function tool(name: 'pg_dump' | 'pg_restore', args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(name, args, { env, timeout: TOOL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new Error(`${name} is not installed: install PostgreSQL's client programs (Debian: postgresql-client), of the server's major version or newer`));
      }
      reject(new Error(`${name} failed: ${(stderr || err.message).trim().split('\n').slice(-3).join(' ')}`));
    });
  });
}

async function query<T extends Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The rows of one table's COPY block in `pg_restore -f -` output (tab-separated, `\N` for NULL). */
function copyRows(sqlText: string, table: string): string[][] {
  const m = new RegExp(`^COPY [\\w."]*\\b${table}\\b[^\\n]* FROM stdin;\\n([\\s\\S]*?)^\\\\\\.$`, 'm').exec(sqlText);
  if (!m) return [];
  return m[1]!
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

/** The store backup of a PostgreSQL database (`url`: the data folder's store, for `snapshot`). */
export function postgresStoreBackup(url?: string): StoreBackup {
  return {
    kind: 'postgres',
    ownedFiles: [],

    async snapshot(_dataDir, stagingDir) {
      if (url === undefined) throw new Error('no PostgreSQL URL to back up');
      const target = describePostgresUrl(url);
      const { url: bare, env } = libpq(url);
      const file = path.join(stagingDir, POSTGRES_DUMP);
      // Consistent by itself (one repeatable-read snapshot); owners and grants belong to the target site.
      await tool('pg_dump', ['--format=custom', '--no-owner', '--no-privileges', `--file=${file}`, `--dbname=${bare}`], env).catch((err: unknown) => {
        throw new Error(`cannot back up ${target}: ${(err as Error).message}`);
      });
      const version = (await query<{ v: number | null }>(url, 'SELECT max(version) AS v FROM schema_migrations'))[0]?.v ?? null;
      return { files: [POSTGRES_DUMP], schemaVersion: version === null ? null : Number(version) };
    },

    async restore(targetDir, options) {
      const dump = path.join(targetDir, POSTGRES_DUMP);
      if (!existsSync(dump)) throw new BackupRefused(`the backup holds no ${POSTGRES_DUMP}; it cannot restore a PostgreSQL store`);
      // 1. The dump is readable and is this data folder's (its CA), from this tds-server or an older one.
      const env = { ...process.env };
      await tool('pg_restore', ['--list', dump], env).catch((err: unknown) => {
        throw new BackupRefused(`the backup's PostgreSQL dump cannot be read: ${(err as Error).message}`);
      });
      const data = await tool('pg_restore', ['--data-only', '--table=installation', '--table=schema_migrations', '--file=-', dump], env);
      const ca = copyRows(data, 'installation').find((r) => r[0] === 'ca_sha256')?.[1];
      const caPem = await fs.readFile(dataPath(targetDir, 'caCert'), 'utf8');
      if (ca !== caFingerprint(caPem)) throw new BackupRefused(`the backup's database belongs to another CA than its ca.crt; it cannot make a working installation`);
      const version = Math.max(0, ...copyRows(data, 'schema_migrations').map((r) => Number(r[0])));
      const known = migrations[migrations.length - 1]!.version;
      if (version > known) throw new BackupRefused(`the backup's database has schema version ${version}, newer than this tds-server (knows up to ${known}); restore it with a newer tds-server`);
      if (options.schemaVersion !== null && options.schemaVersion !== undefined && version !== options.schemaVersion) {
        throw new BackupRefused(`the backup's database has schema version ${version}, its manifest says ${options.schemaVersion}`);
      }

      // 2. Where to: --database, else $TDS_DATABASE_URL, else the database the backup's config.json names.
      const settings = await loadSettings(targetDir);
      let database;
      try {
        database = resolveDatabase({ dataDir: targetDir, settings, ...(options.database !== undefined ? { option: options.database } : {}) });
      } catch (err) {
        throw new BackupRefused((err as Error).message);
      }
      if (database.kind !== 'postgres') throw new BackupRefused('this backup holds a PostgreSQL store: name a new, empty database to restore it into with --database postgres://…');
      const target = describePostgresUrl(database.url);
      const tables = await query<{ n: number }>(database.url, `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema()`).catch((err: unknown) => {
        throw new BackupRefused(`cannot reach ${target}: ${(err as Error).message}`);
      });
      if (tables[0]!.n > 0) {
        throw new BackupRefused(`${target} is not empty (${tables[0]!.n} tables); restore into a new, empty database (createdb, then --database) — nothing was written`);
      }

      // 3. All of it or nothing.
      const { url: bare, env: withPassword } = libpq(database.url);
      await tool('pg_restore', ['--single-transaction', '--exit-on-error', '--no-owner', '--no-privileges', `--dbname=${bare}`, dump], withPassword).catch((err: unknown) => {
        throw new BackupRefused(`restoring into ${target} failed, nothing was kept there: ${(err as Error).message}`);
      });
      const restored = await query<{ value: string }>(database.url, `SELECT value FROM installation WHERE key = 'ca_sha256'`);
      if (restored[0]?.value !== ca) throw new BackupRefused(`${target} does not hold the restored store after pg_restore`);

      // The data folder uses the database it was restored into; the dump is not left lying in it.
      if (options.database !== undefined) await saveSettings(targetDir, { ...settings, database: { ...settings.database, url: options.database } });
      await fs.rm(dump, { force: true });
    },
  };
}
