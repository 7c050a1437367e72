import type { Migration } from '../sqlite/migrate.js';

/**
 * Zero-touch onboarding (docs/zero-touch.md): birth certificates from the separate birth CA with
 * their claim secret (hash only), the birth CA's own CRL state, attestation nonces, bootstrap
 * requests and the failed-claim counters the lockout rules read (in the database so they hold for
 * every server instance). PostgreSQL: the same tables; `birth_one_live_per_mac` is a partial unique
 * index there too.
 */
export const migration: Migration = {
  version: 4,
  name: 'zero-touch onboarding: birth certificates, birth CRL, nonces, bootstrap requests, claim failures',
  sql: `
CREATE TABLE birth_certificates (
  id                 INTEGER PRIMARY KEY,
  mac                TEXT    NOT NULL,
  serial_number      TEXT    NOT NULL UNIQUE,
  certificate_pem    TEXT    NOT NULL,
  key_type           TEXT    NOT NULL,
  model              TEXT,
  account_id         INTEGER NOT NULL REFERENCES accounts(id),
  status             TEXT    NOT NULL CHECK (status IN ('active', 'revoked')),
  claim_secret_hash  TEXT    NOT NULL,
  claimed_at         TEXT,
  issued_at          TEXT    NOT NULL,
  expires_at         TEXT    NOT NULL,
  revoked_at         TEXT,
  revoke_reason      TEXT,
  revoke_note        TEXT,
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE UNIQUE INDEX birth_one_live_per_mac ON birth_certificates(mac) WHERE status = 'active';
CREATE INDEX birth_revoked ON birth_certificates(revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE birth_crl_state (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  last_number  INTEGER NOT NULL,
  crl_number   INTEGER,
  this_update  TEXT,
  next_update  TEXT,
  crl_pem      TEXT
);
INSERT INTO birth_crl_state (id, last_number) VALUES (1, 0);

CREATE TABLE bootstrap_nonces (
  nonce       TEXT PRIMARY KEY,
  mac         TEXT NOT NULL,
  created_at  TEXT NOT NULL,
  expires_at  TEXT NOT NULL,
  used_at     TEXT,
  source_ip   TEXT
);
CREATE INDEX bootstrap_nonces_mac ON bootstrap_nonces(mac, expires_at);
CREATE INDEX bootstrap_nonces_expiry ON bootstrap_nonces(expires_at);

CREATE TABLE bootstrap_requests (
  id                TEXT    PRIMARY KEY CHECK (length(id) = 32),
  mac               TEXT    NOT NULL,
  path              TEXT    NOT NULL CHECK (path IN ('attested', 'open')),
  status            TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'issued', 'expired', 'rejected')),
  csr_pem           TEXT    NOT NULL,
  public_key_der    BLOB    NOT NULL,
  key_fingerprint   TEXT    NOT NULL,
  key_type          TEXT    NOT NULL,
  code_hash         TEXT,
  birth_serial      TEXT,
  model             TEXT,
  firmware_version  TEXT,
  source_ip         TEXT,
  created_at        TEXT    NOT NULL,
  expires_at        TEXT    NOT NULL,
  poll_interval     INTEGER NOT NULL,
  last_poll_at      TEXT,
  last_poll_ts      INTEGER,
  account_id        INTEGER REFERENCES accounts(id),
  gateway_id        INTEGER REFERENCES gateways(id),
  certificate_id    INTEGER REFERENCES certificates(id),
  decided_at        TEXT,
  decided_by        TEXT,
  status_reason     TEXT,
  fetched_at        TEXT,
  finished_at       TEXT,
  CHECK ((path = 'open') = (code_hash IS NOT NULL)),
  CHECK ((path = 'attested') = (birth_serial IS NOT NULL)),
  CHECK (status NOT IN ('approved', 'issued') OR certificate_id IS NOT NULL)
);
CREATE INDEX bootstrap_requests_mac ON bootstrap_requests(mac, status);
CREATE INDEX bootstrap_requests_live ON bootstrap_requests(status, expires_at);
CREATE INDEX bootstrap_requests_finished ON bootstrap_requests(finished_at) WHERE finished_at IS NOT NULL;

-- One row per wrong activation code or claim secret, per subject ("operator:token:<id>", "mac:<mac>").
CREATE TABLE claim_failures (
  id       INTEGER PRIMARY KEY,
  subject  TEXT NOT NULL,
  at       TEXT NOT NULL
);
CREATE INDEX claim_failures_subject ON claim_failures(subject, at);
`,
};
