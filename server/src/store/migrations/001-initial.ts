import type { Migration } from '../sqlite/migrate.js';

export const migration: Migration = {
  version: 1,
  name: 'accounts, tokens, gateways, certificates, pending keys, CRL, audit',
  sql: `
CREATE TABLE accounts (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  created_at  TEXT    NOT NULL
);

-- Only a SHA-256 of each token is stored (tokens are 256-bit random, so a fast hash suffices).
CREATE TABLE api_tokens (
  id          INTEGER PRIMARY KEY,
  account_id  INTEGER NOT NULL REFERENCES accounts(id),
  role        TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
  token_hash  TEXT    NOT NULL UNIQUE,
  label       TEXT,
  created_at  TEXT    NOT NULL,
  revoked_at  TEXT
);

CREATE TABLE gateways (
  id                    INTEGER PRIMARY KEY,
  account_id            INTEGER NOT NULL REFERENCES accounts(id),
  codigo                TEXT    NOT NULL,
  mac                   TEXT    NOT NULL,
  nome                  TEXT    NOT NULL,
  qte_max_dispositivos  INTEGER NOT NULL DEFAULT 8,
  is_online             INTEGER NOT NULL DEFAULT 0,
  last_seen             TEXT,
  firmware_version      TEXT,
  created_at            TEXT    NOT NULL,
  updated_at            TEXT    NOT NULL,
  UNIQUE (account_id, mac)
);
CREATE INDEX gateways_mac ON gateways(mac);

CREATE TABLE certificates (
  id               INTEGER PRIMARY KEY,
  kind             TEXT    NOT NULL CHECK (kind IN ('device', 'service', 'broker')),
  serial_number    TEXT    NOT NULL UNIQUE,
  subject_cn       TEXT    NOT NULL,
  account_id       INTEGER REFERENCES accounts(id),
  gateway_id       INTEGER REFERENCES gateways(id),
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'revoked', 'expired')),
  certificate_pem  TEXT    NOT NULL,
  key_origin       TEXT    NOT NULL CHECK (key_origin IN ('device', 'station', 'server')),
  key_type         TEXT    NOT NULL,
  issued_at        TEXT    NOT NULL,
  expires_at       TEXT    NOT NULL,
  revoked_at       TEXT,
  revoke_reason    TEXT,
  revoke_note      TEXT,
  replaces_id      INTEGER REFERENCES certificates(id),
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL)),
  CHECK (kind <> 'device' OR (account_id IS NOT NULL AND gateway_id IS NOT NULL))
);
-- One active (and at most one pending) certificate per MAC across all accounts (DESIGN.md §3).
CREATE UNIQUE INDEX certificates_one_active_per_mac ON certificates(subject_cn) WHERE kind = 'device' AND status = 'active';
CREATE UNIQUE INDEX certificates_one_pending_per_mac ON certificates(subject_cn) WHERE kind = 'device' AND status = 'pending';
CREATE INDEX certificates_gateway ON certificates(gateway_id);
CREATE INDEX certificates_revoked ON certificates(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX certificates_active_expiry ON certificates(expires_at) WHERE status = 'active';

-- Server-made device keys, sealed with the CA key vault, until their one download (max 24 h).
CREATE TABLE pending_keys (
  certificate_id  INTEGER PRIMARY KEY REFERENCES certificates(id),
  sealed          BLOB    NOT NULL,
  created_at      TEXT    NOT NULL,
  expires_at      TEXT    NOT NULL
);

CREATE TABLE crl_state (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  last_number  INTEGER NOT NULL,
  crl_number   INTEGER,
  this_update  TEXT,
  next_update  TEXT,
  crl_pem      TEXT
);
INSERT INTO crl_state (id, last_number) VALUES (1, 0);

CREATE TABLE audit_events (
  id          INTEGER PRIMARY KEY,
  at          TEXT    NOT NULL,
  account_id  INTEGER,
  actor       TEXT    NOT NULL,
  action      TEXT    NOT NULL,
  object      TEXT,
  source_ip   TEXT,
  result      TEXT    NOT NULL CHECK (result IN ('ok', 'denied', 'error')),
  detail      TEXT
);
CREATE INDEX audit_events_account ON audit_events(account_id, id);
`,
};
