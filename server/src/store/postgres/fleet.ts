/**
 * The fleet tables of the PostgreSQL store (migration 5), as `sqlite/fleet.ts` is for SQLite:
 * renewals delivered over MQTT, the presence history, the last run of each scheduled job, and the
 * audit console's filtered query. The repository delegates these methods here; writes run inside
 * its transactions. A delivery attempt is claimed with the row locked, so two instances (or two
 * triggers in one) never ask the same device twice within `notBefore`.
 */
import type { AuditQuery, AuditRecord, PresenceEventRecord, RenewalDeliveryRecord, ScheduledRunRecord } from '../repository.js';
import { bool, str, strOrNull, toAudit, toDelivery, type Row } from '../rows.js';
import type { SqlRunner, SqlSet } from './statements.js';

const DELIVERY_SELECT = `SELECT d.predecessor_id, d.mac, d.created_at, d.attempts, d.last_attempt_at, d.last_command_id,
    a.serial_number AS predecessor_serial, a.gateway_id, a.account_id, p.serial_number AS pending_serial, p.expires_at AS pending_expires_at,
    a.certificate_pem AS predecessor_pem, p.certificate_pem AS pending_pem
  FROM renewal_deliveries d
  JOIN certificates a ON a.id = d.predecessor_id AND a.status = 'active'
  JOIN certificates p ON p.replaces_id = a.id AND p.status = 'pending' AND p.expires_at > $1
  JOIN gateways g ON g.id = a.gateway_id`;

export const FLEET_SQL = {
  deliveryById: `${DELIVERY_SELECT} WHERE d.predecessor_id = $2`,
  lockDelivery: 'SELECT last_attempt_at FROM renewal_deliveries WHERE predecessor_id = $1 FOR UPDATE',
  claimDelivery: `UPDATE renewal_deliveries SET attempts = attempts + 1, last_attempt_at = $2, last_command_id = $3
     WHERE predecessor_id = $1 AND (last_attempt_at IS NULL OR last_attempt_at < $4)`,
  pruneDeliveries: `DELETE FROM renewal_deliveries WHERE predecessor_id NOT IN (
       SELECT a.id FROM certificates a JOIN certificates p ON p.replaces_id = a.id
       WHERE a.status = 'active' AND p.status = 'pending' AND p.expires_at > $1)`,
  presenceBefore: 'SELECT online, at FROM presence_events WHERE gateway_id = $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT 1',
  presenceIn: 'SELECT online, at FROM presence_events WHERE gateway_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id LIMIT $4',
  purgePresence: 'DELETE FROM presence_events WHERE at < $1',
  upsertRun: `INSERT INTO scheduled_runs (job, started_at, finished_at, result, detail) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (job) DO UPDATE SET started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, result = EXCLUDED.result, detail = EXCLUDED.detail`,
  listRuns: 'SELECT * FROM scheduled_runs ORDER BY job',
} as const satisfies SqlSet;

type Fleet = SqlRunner<typeof FLEET_SQL>;

/** The fleet statements on the connection (or pool) of `s`. */
export const fleetOf = (s: SqlRunner<SqlSet>): Fleet => s.with(FLEET_SQL, 'fleet_');

const presence = (r: Row): PresenceEventRecord => ({ online: bool(r.online), at: str(r.at) });

export async function listDeliveries(f: Fleet, filter: { mac?: string; onlineOnly?: boolean; gatewayId?: number; now: string }): Promise<RenewalDeliveryRecord[]> {
  const values: unknown[] = [filter.now];
  const where: string[] = [];
  if (filter.mac !== undefined) {
    values.push(filter.mac);
    where.push(`d.mac = $${values.length}`);
  }
  if (filter.gatewayId !== undefined) {
    values.push(filter.gatewayId);
    where.push(`a.gateway_id = $${values.length}`);
  }
  if (filter.onlineOnly) where.push('g.is_online');
  const sql = `${DELIVERY_SELECT}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY d.created_at, d.predecessor_id`;
  return (await f.query(sql, values)).map(toDelivery);
}

/** Inside a transaction: the attempt is recorded only when the renewal is open and none was made at or after `notBefore`. */
export async function claimDelivery(f: Fleet, predecessorId: number, at: string, notBefore: string, commandId: string): Promise<RenewalDeliveryRecord | undefined> {
  if (!(await f.one('lockDelivery', predecessorId))) return undefined;
  if (!(await f.one('deliveryById', at, predecessorId))) return undefined;
  if ((await f.run('claimDelivery', predecessorId, at, commandId, notBefore)) === 0) return undefined;
  return toDelivery((await f.one('deliveryById', at, predecessorId))!);
}

export async function presenceEvents(f: Fleet, gatewayId: number, from: string, to: string, limit: number): Promise<{ before: PresenceEventRecord | null; events: PresenceEventRecord[] }> {
  const before = await f.one('presenceBefore', gatewayId, from);
  return { before: before ? presence(before) : null, events: (await f.all('presenceIn', gatewayId, from, to, limit)).map(presence) };
}

export async function recordRun(f: Fleet, run: ScheduledRunRecord): Promise<void> {
  await f.run('upsertRun', run.job, run.startedAt, run.finishedAt, run.result, run.detail);
}

export async function listRuns(f: Fleet): Promise<ScheduledRunRecord[]> {
  return (await f.all('listRuns')).map((r) => ({
    job: r.job as ScheduledRunRecord['job'],
    startedAt: str(r.started_at),
    finishedAt: str(r.finished_at),
    result: r.result as ScheduledRunRecord['result'],
    detail: strOrNull(r.detail),
  }));
}

/** The audit console: one account's events (or all, for a server admin), filtered, newest first. */
export async function listAudit(f: Fleet, accountId: number | undefined, q: AuditQuery): Promise<{ count: number; rows: AuditRecord[] }> {
  const values: unknown[] = [];
  const where: string[] = [];
  const add = (sql: (n: string) => string, value: unknown): void => {
    values.push(value);
    where.push(sql(`$${values.length}`));
  };
  if (accountId !== undefined) add((n) => `account_id = ${n}`, accountId);
  if (q.action !== undefined) add((n) => `action = ${n}`, q.action);
  if (q.since !== undefined) add((n) => `at >= ${n}`, q.since);
  if (q.until !== undefined) add((n) => `at < ${n}`, q.until);
  if (q.actor !== undefined) add((n) => `actor = ${n}`, q.actor);
  if (q.result !== undefined) add((n) => `result = ${n}`, q.result);
  if (q.gatewayId !== undefined) {
    // On the gateway itself, or on one of its certificates (renewals, revocations by serial).
    values.push(`gateway:${q.gatewayId}`, q.gatewayId);
    where.push(`(object = $${values.length - 1} OR object IN (SELECT 'certificate:' || serial_number FROM certificates WHERE gateway_id = $${values.length}))`);
  }
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const count = (await f.query(`SELECT count(*) AS n FROM audit_events ${clause}`, values))[0]!.n as number;
  const rows = await f.query(`SELECT * FROM audit_events ${clause} ORDER BY id DESC LIMIT $${values.length + 1} OFFSET $${values.length + 2}`, [...values, q.limit, q.offset]);
  return { count, rows: rows.map(toAudit) };
}
