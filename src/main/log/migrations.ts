import type Database from 'better-sqlite3';
import { migrate as runMigrations, type Migration } from '@tds/server/sqlite-migrations';

/**
 * Versioned schema of the station log, applied by the project's one SQLite migration runner (the
 * server's store uses the same). Never edit a released entry: append a new one. Logs written
 * before the runner counted their migrations in `PRAGMA user_version`; the runner adopts that.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'jobs, steps, log lines',
    sql: `
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    retry_of TEXT,
    station_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    operator TEXT,
    mac TEXT,
    gateway_code TEXT,
    gateway_id INTEGER,
    conta_id INTEGER,
    cert_serial TEXT,
    cert_expires_at TEXT,
    firmware_name TEXT,
    firmware_version TEXT,
    firmware_sha256 TEXT,
    server_url TEXT,
    result TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    error_hint TEXT,
    error_where TEXT,
    error_attachment TEXT,
    facts TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT,
    duration_ms INTEGER
  );
  CREATE INDEX jobs_created ON jobs(created_at);
  CREATE INDEX jobs_mac ON jobs(mac);
  CREATE INDEX jobs_serial ON jobs(cert_serial);
  CREATE TABLE steps (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT,
    duration_ms INTEGER,
    detail TEXT,
    PRIMARY KEY (job_id, seq)
  );
  CREATE TABLE job_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    step TEXT,
    level TEXT NOT NULL,
    text TEXT NOT NULL
  );
  CREATE INDEX job_lines_job ON job_lines(job_id, id);
  `,
  },
  {
    version: 2,
    name: 'time waiting for the operator, translatable texts, station events',
    sql: `
  ALTER TABLE jobs ADD COLUMN waited_ms INTEGER;
  ALTER TABLE jobs ADD COLUMN error_texts TEXT;
  ALTER TABLE steps ADD COLUMN waited_ms INTEGER;
  ALTER TABLE steps ADD COLUMN detail_text TEXT;
  CREATE TABLE events (
    id TEXT PRIMARY KEY,
    station_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    operator TEXT,
    target TEXT,
    mac TEXT,
    gateway_code TEXT,
    gateway_id INTEGER,
    cert_serial TEXT,
    reason TEXT,
    detail TEXT
  );
  CREATE INDEX events_at ON events(at);
  `,
  },
];

/** Brings the log's schema up to date; returns its version. Refuses a log written by a newer station. */
export function migrate(db: Database.Database): number {
  return runMigrations(db, MIGRATIONS, { database: 'the station log', program: 'station', upgrade: 'update the station software' });
}
