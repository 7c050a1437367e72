/**
 * The prepared statements of the SQLite store, made once per connection. Queries whose WHERE
 * clause depends on the filters given (lists, audit) are built in the repository instead.
 */
import type Database from 'better-sqlite3';
import { CERT_COLUMNS } from '../rows.js';

const certCols = (alias: string, prefix: string): string => CERT_COLUMNS.map((c) => `${alias}.${c} AS ${prefix}${c}`).join(', ');
const gatewayWithCert = `SELECT g.*, ${certCols('c', 'c_')} FROM gateways g
  LEFT JOIN certificates c ON c.gateway_id = g.id AND c.status = 'active'`;
const SQL = {
  insertAudit: `INSERT INTO audit_events (at, account_id, actor, action, object, source_ip, result, detail)
     VALUES (@at, @accountId, @actor, @action, @object, @sourceIp, @result, @detail)`,
  insertAccount: 'INSERT INTO accounts (name, created_at) VALUES (?, ?) RETURNING *',
  getAccount: 'SELECT * FROM accounts WHERE id = ?',
  listAccounts: 'SELECT * FROM accounts ORDER BY id',
  renameAccount: 'UPDATE accounts SET name = ? WHERE id = ? RETURNING *',
  insertToken: 'INSERT INTO api_tokens (account_id, role, token_hash, label, created_at, server_admin) VALUES (?, ?, ?, ?, ?, ?) RETURNING *',
  revokeToken: 'UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING *',
  getToken: 'SELECT * FROM api_tokens WHERE id = ?',
  findToken: 'SELECT t.*, a.is_active AS account_active FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = ?',
  listTokens: 'SELECT * FROM api_tokens WHERE account_id = ? ORDER BY id',
  listAllTokens: 'SELECT * FROM api_tokens ORDER BY id',
  getGateway: `${gatewayWithCert} WHERE g.account_id = ? AND g.id = ?`,
  getGatewayByMac: 'SELECT * FROM gateways WHERE account_id = ? AND mac = ?',
  insertGateway: `INSERT INTO gateways (account_id, codigo, mac, nome, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *`,
  updateGateway: 'UPDATE gateways SET codigo = ?, nome = ?, updated_at = ? WHERE id = ? RETURNING *',
  gatewayCertificates: 'SELECT * FROM certificates WHERE gateway_id = ? ORDER BY id DESC',
  // Two statements so each can use its partial unique index.
  expireStaleActive: `UPDATE certificates SET status = 'expired' WHERE kind = 'device' AND status = 'active' AND subject_cn = ? AND expires_at <= ?`,
  expireStalePending: `UPDATE certificates SET status = 'expired' WHERE kind = 'device' AND status = 'pending' AND subject_cn = ? AND expires_at <= ?`,
  activeByMac: `SELECT * FROM certificates WHERE kind = 'device' AND subject_cn = ? AND status = 'active'`,
  pendingByMac: `SELECT * FROM certificates WHERE kind = 'device' AND subject_cn = ? AND status = 'pending'`,
  pendingSuccessors: `SELECT * FROM certificates WHERE replaces_id = ? AND status = 'pending'`,
  insertCertificate: `INSERT INTO certificates (kind, serial_number, subject_cn, account_id, gateway_id, status, certificate_pem, key_origin, key_type, issued_at, expires_at, replaces_id)
     VALUES (@kind, @serialNumber, @subjectCn, @accountId, @gatewayId, @status, @certificatePem, @keyOrigin, @keyType, @issuedAt, @expiresAt, @replacesId)
     RETURNING *`,
  revokeCertificate: `UPDATE certificates SET status = 'revoked', revoked_at = ?, revoke_reason = ?, revoke_note = ? WHERE id = ? RETURNING *`,
  liveOfGateway: `SELECT * FROM certificates WHERE gateway_id = ? AND status IN ('active', 'pending') ORDER BY id`,
  certBySerial: 'SELECT * FROM certificates WHERE serial_number = ?',
  certById: 'SELECT * FROM certificates WHERE id = ?',
  activateCertificate: `UPDATE certificates SET status = 'active' WHERE id = ? RETURNING *`,
  expiring: `SELECT c.* FROM certificates c WHERE c.kind = 'device' AND c.status = 'active' AND c.expires_at < ?
       AND NOT EXISTS (SELECT 1 FROM certificates p WHERE p.replaces_id = c.id AND p.status = 'pending')
     ORDER BY c.expires_at`,
  insertPendingKey: 'INSERT INTO pending_keys (certificate_id, sealed, created_at, expires_at) VALUES (?, ?, ?, ?)',
  getPendingKey: 'SELECT sealed, expires_at FROM pending_keys WHERE certificate_id = ?',
  deletePendingKey: 'DELETE FROM pending_keys WHERE certificate_id = ?',
  auditExpiredKeys: `INSERT INTO audit_events (at, account_id, actor, action, object, source_ip, result, detail)
     SELECT ?, c.account_id, 'server', 'device_key.destroyed', 'certificate:' || c.serial_number, NULL, 'ok', 'server-made key not downloaded in time'
     FROM pending_keys k JOIN certificates c ON c.id = k.certificate_id WHERE k.expires_at <= ?`,
  deleteExpiredKeys: 'DELETE FROM pending_keys WHERE expires_at <= ?',
  listRevoked: `SELECT serial_number, revoked_at, revoke_reason FROM certificates WHERE status = 'revoked' ORDER BY revoked_at, id`,
  reserveCrl: 'UPDATE crl_state SET last_number = last_number + 1 WHERE id = 1 RETURNING last_number',
  saveCrl: `UPDATE crl_state SET crl_number = ?, this_update = ?, next_update = ?, crl_pem = ?
     WHERE id = 1 AND (crl_number IS NULL OR crl_number < ?)`,
  getCrl: 'SELECT crl_number, this_update, next_update, crl_pem FROM crl_state WHERE id = 1',
} as const;

export type Statements = Record<keyof typeof SQL, Database.Statement>;

export function prepareStatements(db: Database.Database): Statements {
  return Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as Statements;
}
