import type { Migration } from '../sqlite/migrate.js';

/**
 * The MAC-ownership rule as a database guarantee: a device certificate may become active or
 * pending only if no active or pending certificate of the same MAC belongs to another account.
 * The repository checks the same rule first (with a clear error); these triggers are the backstop
 * for any write path. PostgreSQL expresses it as an exclusion constraint (btree_gist):
 *   EXCLUDE USING gist (subject_cn WITH =, account_id WITH <>) WHERE (kind = 'device' AND status IN ('active', 'pending'))
 */
export const MAC_OWNERSHIP_VIOLATION = 'mac-ownership: the MAC has an active or pending certificate in another account';

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
};
