import type { Migration } from '../sqlite/migrate.js';

/**
 * Running the fleet for years: renewals the server delivers over MQTT, every presence transition of
 * a gateway (its online/offline history), the last run of each scheduled job, server-wide admin
 * tokens, and indexes for the admin console's audit filters.
 * (Version 4 is the device-claim tables; the versions are independent of each other.)
 */
export const migration: Migration = {
  version: 5,
  name: 'renewal deliveries, presence history, scheduled runs, server admin tokens, audit filters',
  sql: `
-- A pending successor made for delivery (renewal sweep, "renew and deliver"): the server asks the
-- device (cert_renew) when it is online. Keyed by the certificate being renewed; the row is only
-- bookkeeping of the attempts, the certificates table says whether the renewal is still open.
CREATE TABLE renewal_deliveries (
  predecessor_id   INTEGER PRIMARY KEY REFERENCES certificates(id),
  mac              TEXT    NOT NULL,
  created_at       TEXT    NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_attempt_at  TEXT,
  last_command_id  TEXT
);
CREATE INDEX renewal_deliveries_mac ON renewal_deliveries(mac);

-- Presence transitions (the seed logs every status change; these are kept for the retention period).
CREATE TABLE presence_events (
  id          INTEGER PRIMARY KEY,
  gateway_id  INTEGER NOT NULL REFERENCES gateways(id) ON DELETE CASCADE,
  online      INTEGER NOT NULL CHECK (online IN (0, 1)),
  at          TEXT    NOT NULL
);
CREATE INDEX presence_events_gateway_at ON presence_events(gateway_id, at);
CREATE INDEX presence_events_at ON presence_events(at);

-- The last run of each scheduled job (renewal sweep, CRL re-sign), by the server or the CLI.
CREATE TABLE scheduled_runs (
  job          TEXT PRIMARY KEY CHECK (job IN ('renewal', 'crl')),
  started_at   TEXT NOT NULL,
  finished_at  TEXT NOT NULL,
  result       TEXT NOT NULL CHECK (result IN ('ok', 'error')),
  detail       TEXT
);

-- An admin token of the server (every account, accounts, tokens, CRL and broker state), not only of its account.
ALTER TABLE api_tokens ADD COLUMN server_admin INTEGER NOT NULL DEFAULT 0
  CHECK (server_admin IN (0, 1) AND (server_admin = 0 OR role = 'admin'));

CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_object ON audit_events(object);
`,
};
