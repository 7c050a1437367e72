import type { Migration } from '../sqlite/migrate.js';

/**
 * Telemetry readings from the server's MQTT client (issue 3). Presence lives in the gateways
 * columns of migration 1 (is_online, last_seen, firmware_version).
 */
export const migration: Migration = {
  version: 2,
  name: 'telemetry readings; certificate lookups by CN for the broker ACL',
  sql: `
CREATE TABLE telemetry (
  id                INTEGER PRIMARY KEY,
  gateway_id        INTEGER NOT NULL REFERENCES gateways(id) ON DELETE CASCADE,
  measured_at       TEXT    NOT NULL,
  received_at       TEXT    NOT NULL,
  valor             REAL    NOT NULL,
  unidade           TEXT    NOT NULL,
  slave_id          INTEGER,
  register          INTEGER,
  firmware_version  TEXT
);
CREATE INDEX telemetry_gateway_received ON telemetry(gateway_id, received_at);
CREATE INDEX telemetry_received ON telemetry(received_at);
CREATE INDEX certificates_cn_status ON certificates(subject_cn, status);
`,
};
