/**
 * The SQLite side of the fleet operations (migration 005): renewals delivered over MQTT, the
 * presence history, the last run of each scheduled job, and the audit console's filtered query.
 * The repository delegates these methods here so its own file stays the core contract; writes go
 * through the repository's group commit like every other write.
 */
import type Database from 'better-sqlite3';
import type { AuditQuery, AuditRecord, PresenceEventRecord, RenewalDeliveryRecord, ScheduledRunRecord } from '../repository.js';
import { str, strOrNull, toAudit, toDelivery, type Row } from '../rows.js';

const DELIVERY_SELECT = `SELECT d.predecessor_id, d.mac, d.created_at, d.attempts, d.last_attempt_at, d.last_command_id,
    a.serial_number AS predecessor_serial, a.gateway_id, a.account_id, p.serial_number AS pending_serial, p.expires_at AS pending_expires_at,
    a.certificate_pem AS predecessor_pem, p.certificate_pem AS pending_pem
  FROM renewal_deliveries d
  JOIN certificates a ON a.id = d.predecessor_id AND a.status = 'active'
  JOIN certificates p ON p.replaces_id = a.id AND p.status = 'pending' AND p.expires_at > @now
  JOIN gateways g ON g.id = a.gateway_id`;

export class FleetStatements {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      insertDelivery: db.prepare(
        `INSERT INTO renewal_deliveries (predecessor_id, mac, created_at) VALUES (?, ?, ?)
         ON CONFLICT (predecessor_id) DO NOTHING`,
      ),
      deliveryById: db.prepare(`${DELIVERY_SELECT} WHERE d.predecessor_id = @id`),
      claimDelivery: db.prepare(
        `UPDATE renewal_deliveries SET attempts = attempts + 1, last_attempt_at = @at, last_command_id = @commandId
         WHERE predecessor_id = @id AND (last_attempt_at IS NULL OR last_attempt_at < @notBefore)`,
      ),
      pruneDeliveries: db.prepare(
        `DELETE FROM renewal_deliveries WHERE predecessor_id NOT IN (
           SELECT a.id FROM certificates a JOIN certificates p ON p.replaces_id = a.id
           WHERE a.status = 'active' AND p.status = 'pending' AND p.expires_at > ?)`,
      ),
      presenceBefore: db.prepare('SELECT online, at FROM presence_events WHERE gateway_id = ? AND at < ? ORDER BY at DESC, id DESC LIMIT 1'),
      presenceIn: db.prepare('SELECT online, at FROM presence_events WHERE gateway_id = ? AND at >= ? AND at < ? ORDER BY at, id LIMIT ?'),
      purgePresence: db.prepare('DELETE FROM presence_events WHERE at < ?'),
      upsertRun: db.prepare(
        `INSERT INTO scheduled_runs (job, started_at, finished_at, result, detail) VALUES (@job, @startedAt, @finishedAt, @result, @detail)
         ON CONFLICT (job) DO UPDATE SET started_at = excluded.started_at, finished_at = excluded.finished_at, result = excluded.result, detail = excluded.detail`,
      ),
      listRuns: db.prepare('SELECT * FROM scheduled_runs ORDER BY job'),
    };
  }

  /** Inside the transaction that adds the pending successor. */
  trackDelivery(predecessorId: number, mac: string, at: string): void {
    this.s.insertDelivery.run(predecessorId, mac, at);
  }

  listDeliveries(f: { mac?: string; onlineOnly?: boolean; gatewayId?: number; now: string }): RenewalDeliveryRecord[] {
    const where: string[] = [];
    const params: Record<string, unknown> = { now: f.now };
    if (f.mac !== undefined) {
      where.push('d.mac = @mac');
      params.mac = f.mac;
    }
    if (f.gatewayId !== undefined) {
      where.push('a.gateway_id = @gatewayId');
      params.gatewayId = f.gatewayId;
    }
    if (f.onlineOnly) where.push('g.is_online = 1');
    const sql = `${DELIVERY_SELECT}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY d.created_at, d.predecessor_id`;
    return (this.db.prepare(sql).all(params) as Row[]).map(toDelivery);
  }

  /** Inside a write: the attempt is recorded only when none was made at or after `notBefore`. */
  claimDelivery(predecessorId: number, at: string, notBefore: string, commandId: string): RenewalDeliveryRecord | undefined {
    const open = this.s.deliveryById.get({ id: predecessorId, now: at }) as Row | undefined;
    if (!open) return undefined;
    if (this.s.claimDelivery.run({ id: predecessorId, at, notBefore, commandId }).changes === 0) return undefined;
    return toDelivery(this.s.deliveryById.get({ id: predecessorId, now: at }) as Row);
  }

  pruneDeliveries(now: string): number {
    return this.s.pruneDeliveries.run(now).changes;
  }

  presence(gatewayId: number, from: string, to: string, limit: number): { before: PresenceEventRecord | null; events: PresenceEventRecord[] } {
    const map = (r: Row): PresenceEventRecord => ({ online: r.online === 1, at: str(r.at) });
    const before = this.s.presenceBefore.get(gatewayId, from) as Row | undefined;
    return { before: before ? map(before) : null, events: (this.s.presenceIn.all(gatewayId, from, to, limit) as Row[]).map(map) };
  }

  purgePresence(before: string): number {
    return this.s.purgePresence.run(before).changes;
  }

  recordRun(run: ScheduledRunRecord): void {
    this.s.upsertRun.run(run);
  }

  listRuns(): ScheduledRunRecord[] {
    return (this.s.listRuns.all() as Row[]).map((r) => ({
      job: r.job as ScheduledRunRecord['job'],
      startedAt: str(r.started_at),
      finishedAt: str(r.finished_at),
      result: r.result as ScheduledRunRecord['result'],
      detail: strOrNull(r.detail),
    }));
  }

  /** The audit console: one account's events (or all, for a server admin), filtered, newest first. */
  audit(accountId: number | undefined, q: AuditQuery): { count: number; rows: AuditRecord[] } {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: q.limit, offset: q.offset };
    const add = (clause: string, name: string, value: unknown): void => {
      where.push(clause);
      params[name] = value;
    };
    if (accountId !== undefined) add('account_id = @accountId', 'accountId', accountId);
    if (q.action !== undefined) add('action = @action', 'action', q.action);
    if (q.since !== undefined) add('at >= @since', 'since', q.since);
    if (q.until !== undefined) add('at < @until', 'until', q.until);
    if (q.actor !== undefined) add('actor = @actor', 'actor', q.actor);
    if (q.result !== undefined) add('result = @result', 'result', q.result);
    if (q.gatewayId !== undefined) {
      // On the gateway itself, or on one of its certificates (renewals, revocations by serial).
      add(
        `(object = @gatewayObject OR object IN (SELECT 'certificate:' || serial_number FROM certificates WHERE gateway_id = @gatewayId))`,
        'gatewayId',
        q.gatewayId,
      );
      // Bound as text: a JS number is bound as REAL, and 'gateway:' || 5.0 is not 'gateway:5'.
      params.gatewayObject = `gateway:${q.gatewayId}`;
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const count = (this.db.prepare(`SELECT count(*) AS n FROM audit_events ${clause}`).get(params) as { n: number }).n;
    const rows = this.db.prepare(`SELECT * FROM audit_events ${clause} ORDER BY id DESC LIMIT @limit OFFSET @offset`).all(params) as Row[];
    return { count, rows: rows.map(toAudit) };
  }
}
