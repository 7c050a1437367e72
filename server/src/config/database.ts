/**
 * Which store the server uses: `--database postgres://…`, else `$TDS_DATABASE_URL`, else
 * `"database": {"url": …}` in the data folder's config.json (0600), else the SQLite file in the data
 * folder (the default). A password never goes on the command line, where every local user can read
 * it in the process list: with `--database` it comes from PGPASSWORD, ~/.pgpass (PGPASSFILE) or a
 * client certificate, as for any libpq program; the environment and the config file may hold a URL
 * with a password.
 */
import type { DatabaseConfig } from '../store/backend.js';
import { dataPath, type Settings } from './data-dir.js';

export const DATABASE_ENV = 'TDS_DATABASE_URL';

export type DatabaseSource = '--database' | typeof DATABASE_ENV | 'config.json';

/** Checks a PostgreSQL URL from `source`; returns it unchanged. */
export function checkPostgresUrl(value: string, source: DatabaseSource): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Error(`${source}: '${value.replace(/:[^:@/]*@/, ':***@')}' is not a URL like postgres://tds@db.example.com:5432/tds`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new Error(`${source} must be a postgres:// URL (SQLite in the data folder is the default: leave it out for SQLite), not ${u.protocol}//`);
  }
  if (source === '--database' && u.password !== '') {
    throw new Error(
      `--database must not carry a password (other local users can read the command line): put it in PGPASSWORD or ~/.pgpass, or give the whole URL in $${DATABASE_ENV} or config.json ("database": {"url": …})`,
    );
  }
  if (u.pathname === '' || u.pathname === '/') throw new Error(`${source}: name the database in the URL, e.g. postgres://tds@db.example.com:5432/tds`);
  return value;
}

export function resolveDatabase(o: { option?: string; dataDir: string; settings: Settings; env?: NodeJS.ProcessEnv }): DatabaseConfig {
  const env = o.env ?? process.env;
  const pool = o.settings.database?.poolSize !== undefined ? { poolSize: o.settings.database.poolSize } : {};
  if (o.option !== undefined) return { kind: 'postgres', url: checkPostgresUrl(o.option, '--database'), ...pool };
  const fromEnv = env[DATABASE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { kind: 'postgres', url: checkPostgresUrl(fromEnv, DATABASE_ENV), ...pool };
  if (o.settings.database?.url) return { kind: 'postgres', url: checkPostgresUrl(o.settings.database.url, 'config.json'), ...pool };
  return { kind: 'sqlite', file: dataPath(o.dataDir, 'database'), durability: o.settings.durability };
}
