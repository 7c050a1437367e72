import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { JobKind } from '../../shared/jobs.js';
import { sharedClauses, type JobFilter, type JobRecord } from './job-records.js';
import { redactSecrets } from './redact.js';
import { safeLine } from './safe-text.js';

// What the station did that is not a provisioning job but belongs in the log an auditor reads: a
// certificate revoked from this station, a pinned SSH host key forgotten for a re-imaged Pi.

export const STATION_EVENT_KINDS = ['revocation', 'host-key'] as const;
export type StationEventKind = (typeof STATION_EVENT_KINDS)[number];

export interface StationEventInput {
  kind: StationEventKind;
  operator: string | null;
  /** `host:port` (host keys). */
  target?: string | null;
  mac?: string | null;
  gatewayCode?: string | null;
  gatewayId?: number | null;
  certSerial?: string | null;
  /** Revocation reason; for a host key, the fingerprint that was forgotten. */
  reason?: string | null;
  detail?: string | null;
}

export interface StationEventRecord extends Required<StationEventInput> {
  id: string;
  stationId: string;
  at: string;
}

interface EventRow {
  id: string;
  station_id: string;
  kind: StationEventKind;
  at: string;
  operator: string | null;
  target: string | null;
  mac: string | null;
  gateway_code: string | null;
  gateway_id: number | null;
  cert_serial: string | null;
  reason: string | null;
  detail: string | null;
}

/** One entry of the whole log: a job, or something the station did outside a job. */
export type LogEntry = { type: 'job'; job: JobRecord } | { type: 'event'; event: StationEventRecord };

/** A filter over the whole log: jobs of a kind, or events of a kind. */
export type LogEntryFilter = Omit<JobFilter, 'kind'> & { kind?: JobKind | StationEventKind };

export function isEventKind(kind: string | undefined): kind is StationEventKind {
  return (STATION_EVENT_KINDS as readonly string[]).includes(kind ?? '');
}

const EVENT_TEXT_COLUMNS = ['id', 'target', 'operator', 'mac', "replace(mac, ':', '')", 'gateway_code', 'cert_serial', 'reason', 'detail', 'station_id'];

/** The WHERE clause of `f` over events, or null when `f` can only match jobs (a result, error code, firmware, job kind). */
export function buildEventWhere(f: LogEntryFilter): { where: string; params: Record<string, unknown> } | null {
  if (f.result || f.errorCode || f.firmware || f.target || (f.kind && !isEventKind(f.kind))) return null;
  const { clauses, params } = sharedClauses(f, 'at', EVENT_TEXT_COLUMNS);
  if (f.kind) {
    clauses.push('kind = @kind');
    params.kind = f.kind;
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

/** The `events` table of the station log. */
export class StationEvents {
  constructor(
    private readonly db: Database.Database,
    private readonly stationId: string,
  ) {}

  record(e: StationEventInput, at = new Date()): StationEventRecord {
    const text = (v: string | null | undefined): string | null => (v ? safeLine(redactSecrets(v)) : null);
    const row: EventRow = {
      id: randomUUID(),
      station_id: this.stationId,
      kind: e.kind,
      at: at.toISOString(),
      operator: text(e.operator),
      target: text(e.target),
      mac: text(e.mac),
      gateway_code: text(e.gatewayCode),
      gateway_id: e.gatewayId ?? null,
      cert_serial: text(e.certSerial),
      reason: text(e.reason),
      detail: text(e.detail),
    };
    this.db
      .prepare(
        `INSERT INTO events (id, station_id, kind, at, operator, target, mac, gateway_code, gateway_id, cert_serial, reason, detail)
         VALUES (@id, @station_id, @kind, @at, @operator, @target, @mac, @gateway_code, @gateway_id, @cert_serial, @reason, @detail)`,
      )
      .run(row);
    return toEventRecord(row);
  }

  byIds(ids: readonly string[]): Map<string, StationEventRecord> {
    if (ids.length === 0) return new Map();
    const rows = this.db.prepare(`SELECT * FROM events WHERE id IN (${ids.map(() => '?').join(', ')})`).all(...ids) as EventRow[];
    return new Map(rows.map((r) => [r.id, toEventRecord(r)]));
  }

  query(f: LogEntryFilter): StationEventRecord[] {
    const w = buildEventWhere(f);
    if (!w) return [];
    return (this.db.prepare(`SELECT * FROM events ${w.where} ORDER BY at DESC, id`).all(w.params) as EventRow[]).map(toEventRecord);
  }
}

function toEventRecord(r: EventRow): StationEventRecord {
  return {
    id: r.id,
    stationId: r.station_id,
    kind: r.kind,
    at: r.at,
    operator: r.operator,
    target: r.target,
    mac: r.mac,
    gatewayCode: r.gateway_code,
    gatewayId: r.gateway_id,
    certSerial: r.cert_serial,
    reason: r.reason,
    detail: r.detail,
  };
}
