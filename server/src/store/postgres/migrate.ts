/**
 * The versioned migration runner for the PostgreSQL store: the same scheme and the same migration
 * list as SQLite (`sqlite/migrate.ts`, `migrations/`), applying each migration's `postgres` part.
 * Each migration runs once, in order, in its own transaction, recorded in `schema_migrations`
 * (version, name, time). Several server instances may start at once: a session advisory lock lets
 * one of them migrate while the others wait, then find nothing left to do. A database newer than
 * the code is refused with what to upgrade.
 */
import type pg from 'pg';
import { checkout } from './pool.js';
import type { Migration, MigrateOptions } from '../sqlite/migrate.js';

/** Advisory lock key of the migration runner ("tds-migr"). */
const MIGRATION_LOCK = 0x7464_732d_6d69_6772n;

const isoSeconds = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export async function migratePostgres(pool: pg.Pool, list: readonly Migration[], options: MigrateOptions): Promise<number> {
  for (let i = 1; i < list.length; i++) {
    if (list[i]!.version <= list[i - 1]!.version) throw new Error(`migration ${list[i]!.version} is out of order`);
  }
  const missing = list.find((m) => m.postgres === undefined);
  if (missing) throw new Error(`migration ${missing.version} (${missing.name}) has no PostgreSQL part; add its "postgres" SQL`);
  const { client, release } = await checkout(pool);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
      const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      const newest = Math.max(0, ...applied);
      const known = list.length > 0 ? list[list.length - 1]!.version : 0;
      if (newest > known) {
        throw new Error(`${options.database} schema (version ${newest}) is newer than this ${options.program} (knows up to ${known}); ${options.upgrade}`);
      }
      let at = newest;
      for (const m of list) {
        if (applied.has(m.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.postgres!);
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, isoSeconds()]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new Error(`PostgreSQL migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
        }
        at = Math.max(at, m.version);
      }
      return at;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]).catch(() => undefined);
    }
  } finally {
    release();
  }
}
