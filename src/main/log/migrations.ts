import type Database from 'better-sqlite3';

/**
 * Versioned schema of the station log. Each entry runs once, in order, inside a transaction;
 * `PRAGMA user_version` holds the number of applied migrations. Never edit a released entry:
 * append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: jobs, steps, log lines
  `
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
];

export function migrate(db: Database.Database): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `station log schema version ${current} is newer than this station (${MIGRATIONS.length}); update the station software`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return MIGRATIONS.length;
}
