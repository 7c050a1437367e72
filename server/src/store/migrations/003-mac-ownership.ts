import type { Migration } from '../sqlite/migrate.js';

/**
 * The MAC-ownership rule as a database guarantee: a device certificate may become active or
 * pending only if no active or pending certificate of the same MAC belongs to another account.
 * The repository checks the same rule first (with a clear error); the database is the guarantee for
 * any write path and for concurrent writers: triggers in SQLite, an exclusion constraint in
 * PostgreSQL (btree_gist, a trusted extension the database owner may create), which also holds
 * between several server instances writing at the same time.
 */
export const MAC_OWNERSHIP_VIOLATION = 'mac-ownership: the MAC has an active or pending certificate in another account';

/** The PostgreSQL constraint's name: its violation (SQLSTATE 23P01) becomes a MacConflictError. */
export const MAC_OWNER_CONSTRAINT = 'certificates_mac_owner';

export const migration: Migration = {
  version: 3,
  name: 'MAC ownership: one account per MAC while it has an active or pending certificate',
  sql: `
CREATE TRIGGER certificates_mac_owner_insert
BEFORE INSERT ON certificates
WHEN NEW.kind = 'device' AND NEW.status IN ('active', 'pending')
BEGIN
  SELECT RAISE(ABORT, '${MAC_OWNERSHIP_VIOLATION}')
  WHERE EXISTS (
    SELECT 1 FROM certificates c
    WHERE c.subject_cn = NEW.subject_cn AND c.status IN ('active', 'pending') AND c.kind = 'device' AND c.account_id <> NEW.account_id
  );
END;
CREATE TRIGGER certificates_mac_owner_update
BEFORE UPDATE OF kind, status, subject_cn, account_id ON certificates
WHEN NEW.kind = 'device' AND NEW.status IN ('active', 'pending')
BEGIN
  SELECT RAISE(ABORT, '${MAC_OWNERSHIP_VIOLATION}')
  WHERE EXISTS (
    SELECT 1 FROM certificates c
    WHERE c.subject_cn = NEW.subject_cn AND c.status IN ('active', 'pending') AND c.kind = 'device' AND c.account_id <> NEW.account_id AND c.id <> NEW.id
  );
END;
`,
  postgres: `
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE certificates ADD CONSTRAINT ${MAC_OWNER_CONSTRAINT}
  EXCLUDE USING gist (subject_cn WITH =, account_id WITH <>) WHERE (kind = 'device' AND status IN ('active', 'pending'));
`,
};
