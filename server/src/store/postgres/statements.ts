/**
 * The fixed SQL of the PostgreSQL store's core tables, run as named prepared statements (parsed and
 * planned once per connection), and a small typed runner for them and the other statement sets.
 * Queries whose WHERE clause depends on the filters given (lists, audit) are built in the
 * repository instead. Reads that decide a write take row locks (FOR UPDATE): with several server
 * instances, two writers of the same gateway or certificate queue behind each other instead of
 * acting on what the other is changing.
 */
import type pg from 'pg';
import { CERT_COLUMNS, type Row } from '../rows.js';
import { rethrow } from './pool.js';

const certCols = (alias: string, prefix: string): string => CERT_COLUMNS.map((c) => `${alias}.${c} AS ${prefix}${c}`).join(', ');
const gatewayWithCert = `SELECT g.*, ${certCols('c', 'c_')} FROM gateways g
  LEFT JOIN certificates c ON c.gateway_id = g.id AND c.status = 'active'`;
const LIVE = `status IN ('active', 'pending')`;

export const SQL = {
  insertAudit: `INSERT INTO audit_events (at, account_id, actor, action, object, source_ip, result, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
  insertAccount: 'INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING *',
  getAccount: 'SELECT * FROM accounts WHERE id = $1',
  lockAccount: 'SELECT id FROM accounts WHERE id = $1 FOR SHARE',
  listAccounts: 'SELECT * FROM accounts ORDER BY id',
  renameAccount: 'UPDATE accounts SET name = $1 WHERE id = $2 RETURNING *',
  insertToken: 'INSERT INTO api_tokens (account_id, role, token_hash, label, created_at, server_admin) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
  revokeToken: 'UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING *',
  getToken: 'SELECT * FROM api_tokens WHERE id = $1',
  findToken: 'SELECT t.*, a.is_active AS account_active FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = $1',
  listTokens: 'SELECT * FROM api_tokens WHERE account_id = $1 ORDER BY id',
  listAllTokens: 'SELECT * FROM api_tokens ORDER BY id',
  getGateway: `${gatewayWithCert} WHERE g.account_id = $1 AND g.id = $2`,
  lockGateway: 'SELECT * FROM gateways WHERE account_id = $1 AND id = $2 FOR UPDATE',
  lockGatewayById: 'SELECT id FROM gateways WHERE id = $1 FOR UPDATE',
  // Created, or the account's gateway of that MAC reused (renamed); `inserted` tells which.
  upsertGateway: `INSERT INTO gateways (account_id, codigo, mac, nome, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
     ON CONFLICT (account_id, mac) DO UPDATE SET codigo = EXCLUDED.codigo, nome = EXCLUDED.nome, updated_at = EXCLUDED.updated_at
     RETURNING *, (xmax = 0) AS inserted`,
  gatewayCertificates: 'SELECT * FROM certificates WHERE gateway_id = $1 ORDER BY id DESC',
  expireStale: `UPDATE certificates SET status = 'expired' WHERE kind = 'device' AND ${LIVE} AND subject_cn = $1 AND expires_at <= $2`,
  expireStalePending: `UPDATE certificates SET status = 'expired' WHERE kind = 'device' AND status = 'pending' AND subject_cn = $1 AND expires_at <= $2`,
  // The MAC-ownership claim: another gateway's live certificates that ran out are expired, then the
  // first live one still standing is the holder (the CTE's update is not visible to the SELECT, so
  // the SELECT skips what it expires by the same condition).
  claimMac: `WITH expired AS (
       UPDATE certificates SET status = 'expired'
       WHERE subject_cn = $1 AND ${LIVE} AND kind = 'device' AND expires_at <= $2 AND gateway_id IS DISTINCT FROM $3::bigint
     )
     SELECT account_id, gateway_id, status FROM certificates
     WHERE subject_cn = $1 AND ${LIVE} AND kind = 'device' AND expires_at > $2 AND gateway_id IS DISTINCT FROM $3::bigint
     ORDER BY status = 'pending', id LIMIT 1`,
  // Provisioning in one round trip (the hot path): the MAC claim of claimMac, then — only when no
  // live certificate holds the MAC — the gateway created or reused, the certificate, the sealed key
  // and the audit row. A holder comes back instead of a gateway; concurrent writers are still
  // stopped by the constraints (the caller maps their violations).
  provision: `WITH expired AS (
       UPDATE certificates SET status = 'expired'
       WHERE subject_cn = $1::text AND ${LIVE} AND kind = 'device' AND expires_at <= $2::text
       RETURNING id
     ), holder AS (
       -- Reading "expired" makes that update run first (an unread one would run after the inserts,
       -- whose constraint checks would still see the expired certificate as live).
       SELECT account_id, gateway_id, status FROM certificates
       WHERE subject_cn = $1::text AND ${LIVE} AND kind = 'device' AND expires_at > $2::text AND (SELECT count(*) FROM expired) >= 0
       ORDER BY status = 'pending', id LIMIT 1
     ), g AS (
       INSERT INTO gateways (account_id, codigo, mac, nome, created_at, updated_at)
       SELECT $3::bigint, $4::text, $1::text, $5::text, $2::text, $2::text WHERE NOT EXISTS (SELECT 1 FROM holder)
       ON CONFLICT (account_id, mac) DO UPDATE SET codigo = EXCLUDED.codigo, nome = EXCLUDED.nome, updated_at = EXCLUDED.updated_at
       RETURNING *, (xmax = 0) AS inserted
     ), c AS (
       INSERT INTO certificates (kind, serial_number, subject_cn, account_id, gateway_id, status, certificate_pem, key_origin, key_type, issued_at, expires_at)
       SELECT $6::text, $7::text, $1::text, $3::bigint, g.id, 'active', $8::text, $9::text, $10::text, $11::text, $12::text FROM g
       RETURNING *
     ), k AS (
       INSERT INTO pending_keys (certificate_id, sealed, created_at, expires_at)
       SELECT c.id, $13::bytea, $2::text, $14::text FROM c WHERE $13::bytea IS NOT NULL
     ), a AS (
       INSERT INTO audit_events (at, account_id, actor, action, object, source_ip, result, detail)
       SELECT $15::text, $16::bigint, $17::text, $18::text, 'gateway:' || g.id, $19::text, $20::text, $21::text FROM g WHERE $22::boolean
     )
     SELECT (SELECT row_to_json(h) FROM holder h) AS holder, (SELECT row_to_json(g) FROM g) AS gateway, (SELECT row_to_json(c) FROM c) AS certificate`,
  activeByMac: `SELECT * FROM certificates WHERE kind = 'device' AND subject_cn = $1 AND status = 'active' FOR UPDATE`,
  pendingByMac: `SELECT * FROM certificates WHERE kind = 'device' AND subject_cn = $1 AND status = 'pending' FOR UPDATE`,
  macHolder: `SELECT * FROM certificates WHERE kind = 'device' AND subject_cn = $1 AND ${LIVE} AND expires_at > $2 ORDER BY status = 'pending', id LIMIT 1`,
  pendingSuccessors: `SELECT * FROM certificates WHERE replaces_id = $1 AND status = 'pending' ORDER BY id FOR UPDATE`,
  insertCertificate: `INSERT INTO certificates (kind, serial_number, subject_cn, account_id, gateway_id, status, certificate_pem, key_origin, key_type, issued_at, expires_at, replaces_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
  revokeCertificate: `UPDATE certificates SET status = 'revoked', revoked_at = $1, revoke_reason = $2, revoke_note = $3 WHERE id = $4 RETURNING *`,
  liveOfGateway: `SELECT * FROM certificates WHERE gateway_id = $1 AND ${LIVE} ORDER BY id FOR UPDATE`,
  certBySerial: 'SELECT * FROM certificates WHERE serial_number = $1',
  lockCertBySerial: 'SELECT * FROM certificates WHERE serial_number = $1 FOR UPDATE',
  certById: 'SELECT * FROM certificates WHERE id = $1',
  lockCertById: 'SELECT * FROM certificates WHERE id = $1 FOR UPDATE',
  activateCertificate: `UPDATE certificates SET status = 'active' WHERE id = $1 RETURNING *`,
  expiring: `SELECT c.* FROM certificates c WHERE c.kind = 'device' AND c.status = 'active' AND c.expires_at < $1
       AND NOT EXISTS (SELECT 1 FROM certificates p WHERE p.replaces_id = c.id AND p.status = 'pending')
     ORDER BY c.expires_at, c.id`,
  insertPendingKey: 'INSERT INTO pending_keys (certificate_id, sealed, created_at, expires_at) VALUES ($1, $2, $3, $4)',
  getPendingKey: 'SELECT sealed, expires_at FROM pending_keys WHERE certificate_id = $1',
  lockPendingKey: 'SELECT sealed, expires_at FROM pending_keys WHERE certificate_id = $1 FOR UPDATE',
  deletePendingKey: 'DELETE FROM pending_keys WHERE certificate_id = $1',
  auditExpiredKeys: `INSERT INTO audit_events (at, account_id, actor, action, object, source_ip, result, detail)
     SELECT $1, c.account_id, 'server', 'device_key.destroyed', 'certificate:' || c.serial_number, NULL, 'ok', 'server-made key not downloaded in time'
     FROM pending_keys k JOIN certificates c ON c.id = k.certificate_id WHERE k.expires_at <= $1`,
  deleteExpiredKeys: 'DELETE FROM pending_keys WHERE expires_at <= $1',
  listRevoked: `SELECT serial_number, revoked_at, revoke_reason FROM certificates WHERE status = 'revoked' ORDER BY revoked_at, id`,
  reserveCrl: 'UPDATE crl_state SET last_number = last_number + 1 WHERE id = 1 RETURNING last_number',
  saveCrl: `UPDATE crl_state SET crl_number = $1, this_update = $2, next_update = $3, crl_pem = $4
     WHERE id = 1 AND (crl_number IS NULL OR crl_number < $1)`,
  getCrl: 'SELECT crl_number, this_update, next_update, crl_pem FROM crl_state WHERE id = 1',
  // The birth CA's CRL (zero-touch onboarding): the same, on its own state row and its own certificates.
  listRevokedBirth: `SELECT serial_number, revoked_at, revoke_reason FROM birth_certificates WHERE status = 'revoked' ORDER BY revoked_at, id`,
  reserveBirthCrl: 'UPDATE birth_crl_state SET last_number = last_number + 1 WHERE id = 1 RETURNING last_number',
  saveBirthCrl: `UPDATE birth_crl_state SET crl_number = $1, this_update = $2, next_update = $3, crl_pem = $4
     WHERE id = 1 AND (crl_number IS NULL OR crl_number < $1)`,
  getBirthCrl: 'SELECT crl_number, this_update, next_update, crl_pem FROM birth_crl_state WHERE id = 1',
  // A renewal made for delivery over MQTT (migration 5); the row is bookkeeping of the attempts.
  trackDelivery: `INSERT INTO renewal_deliveries (predecessor_id, mac, created_at) VALUES ($1, $2, $3) ON CONFLICT (predecessor_id) DO NOTHING`,
  // Delivered to every listening instance when the transaction commits (cluster.ts).
  notify: 'SELECT pg_notify($1, $2)',
} as const;

/** A set of named SQL texts (each prepared once per connection under its name). */
export type SqlSet = Readonly<Record<string, string>>;

/**
 * Runs the named statements of `sql` on one connection (a transaction) or on the pool (a single
 * read). Other statement sets (the zero-touch and fleet tables) run on the same connection through
 * `with`; their prefix keeps the prepared statements' names apart.
 */
export class SqlRunner<Q extends SqlSet> {
  constructor(
    private readonly db: pg.Pool | pg.PoolClient,
    private readonly sql: Q,
    private readonly prefix = '',
  ) {}

  /** The same connection (or pool) with another statement set. */
  with<R extends SqlSet>(sql: R, prefix: string): SqlRunner<R> {
    return new SqlRunner(this.db, sql, prefix);
  }

  private async exec(name: keyof Q & string, values: readonly unknown[]): Promise<pg.QueryResult<Row>> {
    try {
      return await this.db.query<Row>({ name: this.prefix + name, text: this.sql[name]!, values: [...values] });
    } catch (err) {
      rethrow(err);
    }
  }

  async one(name: keyof Q & string, ...values: unknown[]): Promise<Row | undefined> {
    return (await this.exec(name, values)).rows[0];
  }

  async all(name: keyof Q & string, ...values: unknown[]): Promise<Row[]> {
    return (await this.exec(name, values)).rows;
  }

  async run(name: keyof Q & string, ...values: unknown[]): Promise<number> {
    return (await this.exec(name, values)).rowCount ?? 0;
  }

  /** Dynamic SQL (filters); unnamed, so it is planned for each call. */
  async query(text: string, values: readonly unknown[]): Promise<Row[]> {
    try {
      return (await this.db.query<Row>(text, [...values])).rows;
    } catch (err) {
      rethrow(err);
    }
  }
}

/** The core statements of the repository. */
export type Statements = SqlRunner<typeof SQL>;

export const statements = (db: pg.Pool | pg.PoolClient): Statements => new SqlRunner(db, SQL);
