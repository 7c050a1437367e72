import type { Migration } from '../sqlite/migrate.js';

/**
 * Whose clock dated a reading. A gateway whose clock is not set yet (no SNTP answer, no server
 * time) sends its readings without a timestamp; the server dates them with its receive time and
 * says so here ('server'), so nobody mistakes that time for the moment of measurement.
 */
export const migration: Migration = {
  version: 6,
  name: "telemetry: timestamp_source ('device' or 'server')",
  sql: `
ALTER TABLE telemetry ADD COLUMN timestamp_source TEXT NOT NULL DEFAULT 'device'
  CHECK (timestamp_source IN ('device', 'server'));
`,
  postgres: `
ALTER TABLE telemetry ADD COLUMN timestamp_source TEXT NOT NULL DEFAULT 'device'
  CHECK (timestamp_source IN ('device', 'server'));
`,
};
