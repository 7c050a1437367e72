/**
 * The one versioned migration runner for the project's SQLite databases (the server's store and
 * the station's log). Each migration runs once, in order, in its own IMMEDIATE transaction and is
 * recorded in `schema_migrations` (version, name, time); `PRAGMA user_version` follows the newest
 * applied version so any SQLite tool can read it. A database older than this runner, which counted
 * its migrations only in `user_version`, is adopted: versions up to that number count as applied.
 * A database newer than the code is refused with a message that says what to upgrade.
 */
import type Database from 'better-sqlite3';

/**
 * A schema migration: applied once, in order, each in its own transaction. The server store's
 * migrations carry the same change for both backends under one version number (`sql` for SQLite,
 * `postgres` for PostgreSQL, applied by postgres/migrate.ts); the station log's are SQLite only.
 */
export interface Migration {
  /** Strictly increasing, never reused; never edit a released one, append a new one. */
  version: number;
  name: string;
  /** SQLite DDL/DML. */
  sql: string;
  /** The same change in PostgreSQL DDL/DML (server store: required, the PostgreSQL runner refuses a migration without it). */
  postgres?: string;
}

export interface MigrateOptions {
  /** What the database is, for the refusal message, e.g. "the database", "the station log". */
  database: string;
  /** Which program is too old, e.g. "tds-server", "station". */
  program: string;
  /** What to do about it, e.g. "upgrade tds-server". */
  upgrade: string;
}

const isoSeconds = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Applies the pending migrations of `list`; returns the schema version the database is at. */
export function migrate(db: Database.Database, list: readonly Migration[], options: MigrateOptions): number {
  for (let i = 1; i < list.length; i++) {
    if (list[i]!.version <= list[i - 1]!.version) throw new Error(`migration ${list[i]!.version} is out of order`);
  }
  const hadTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
  const userVersion = db.pragma('user_version', { simple: true }) as number;
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  const newest = Math.max(0, userVersion, ...applied);
  const known = list.length > 0 ? list[list.length - 1]!.version : 0;
  if (newest > known) {
    throw new Error(`${options.database} schema (version ${newest}) is newer than this ${options.program} (knows up to ${known}); ${options.upgrade}`);
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  if (!hadTable && userVersion > 0) {
    db.transaction(() => {
      for (const m of list) if (m.version <= userVersion) record.run(m.version, m.name, isoSeconds());
    }).immediate();
    for (const m of list) if (m.version <= userVersion) applied.add(m.version);
  }
  let at = Math.max(0, ...applied);
  for (const m of list) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, isoSeconds());
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
    at = Math.max(at, m.version);
  }
  if (userVersion !== at) db.pragma(`user_version = ${at}`);
  return at;
}
