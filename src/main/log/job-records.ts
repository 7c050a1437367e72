import type { JobKind, JobState } from '../../shared/jobs.js';
import type { LocalText } from '../../shared/local-text.js';

// The station log's records: what its queries return, the SQLite rows they are read from, and the
// WHERE clause of a filter (station-log.ts runs the queries).

/** One job as stored: who, where, which device and identity, which firmware, and how it ended. */
export interface JobRecord {
  id: string;
  retryOf: string | null;
  stationId: string;
  kind: JobKind;
  target: string;
  operator: string | null;
  mac: string | null;
  gatewayCode: string | null;
  gatewayId: number | null;
  accountId: number | null;
  certSerial: string | null;
  certExpiresAt: string | null;
  firmwareName: string | null;
  firmwareVersion: string | null;
  firmwareSha256: string | null;
  serverUrl: string | null;
  result: JobState;
  errorCode: string | null;
  errorMessage: string | null;
  errorHint: string | null;
  errorWhere: string | null;
  /** The error's message and hint for the renderer to translate, when the job gave them. */
  errorTexts: { text?: LocalText; hintText?: LocalText } | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** From start to end, waiting for the operator included. */
  durationMs: number | null;
  /** Time spent waiting for the operator's answers. */
  waitedMs: number | null;
}

export interface StepRecord {
  jobId: string;
  seq: number;
  name: string;
  status: string;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  waitedMs: number | null;
  detail: string | null;
  detailText: LocalText | null;
}

export interface JobFilter {
  /** Inclusive lower bound on the creation time (ISO string or Date). */
  from?: string | Date;
  /** Exclusive upper bound on the creation time. */
  to?: string | Date;
  /** Part of the operator's name (any case). */
  operator?: string;
  result?: JobState | JobState[];
  /** Part of the MAC, with or without separators ("de:00:01", "de0001"). */
  mac?: string;
  /** Part of the certificate serial (hexadecimal, colons ignored). */
  serial?: string;
  /** Part of the gateway code (any case). */
  gatewayCode?: string;
  /** Part of the station id. */
  station?: string;
  /** The error code, exactly. */
  errorCode?: string;
  /** Part of the firmware's name, version or SHA-256. */
  firmware?: string;
  kind?: JobKind;
  target?: string;
  /** Free text, found in any of the job's facts, its error, or its firmware. */
  text?: string;
  limit?: number;
  offset?: number;
}

/** A `jobs` row as SQLite returns it. */
export interface JobRow {
  id: string;
  retry_of: string | null;
  station_id: string;
  kind: JobKind;
  target: string;
  operator: string | null;
  mac: string | null;
  gateway_code: string | null;
  gateway_id: number | null;
  conta_id: number | null;
  cert_serial: string | null;
  cert_expires_at: string | null;
  firmware_name: string | null;
  firmware_version: string | null;
  firmware_sha256: string | null;
  server_url: string | null;
  result: JobState;
  error_code: string | null;
  error_message: string | null;
  error_hint: string | null;
  error_where: string | null;
  error_texts: string | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  waited_ms: number | null;
}

export interface StepRow {
  job_id: string;
  seq: number;
  name: string;
  status: string;
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  waited_ms: number | null;
  detail: string | null;
  detail_text: string | null;
}

export function toRecord(r: JobRow): JobRecord {
  return {
    id: r.id,
    retryOf: r.retry_of,
    stationId: r.station_id,
    kind: r.kind,
    target: r.target,
    operator: r.operator,
    mac: r.mac,
    gatewayCode: r.gateway_code,
    gatewayId: r.gateway_id,
    accountId: r.conta_id,
    certSerial: r.cert_serial,
    certExpiresAt: r.cert_expires_at,
    firmwareName: r.firmware_name,
    firmwareVersion: r.firmware_version,
    firmwareSha256: r.firmware_sha256,
    serverUrl: r.server_url,
    result: r.result,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    errorHint: r.error_hint,
    errorWhere: r.error_where,
    errorTexts: r.error_texts ? (JSON.parse(r.error_texts) as JobRecord['errorTexts']) : null,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    durationMs: r.duration_ms,
    waitedMs: r.waited_ms,
  };
}

export function toStepRecord(r: StepRow): StepRecord {
  return {
    jobId: r.job_id,
    seq: r.seq,
    name: r.name,
    status: r.status,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    durationMs: r.duration_ms,
    waitedMs: r.waited_ms,
    detail: r.detail,
    detailText: r.detail_text ? (JSON.parse(r.detail_text) as LocalText) : null,
  };
}

export function iso(v: string | Date): string {
  const d = v instanceof Date ? v : new Date(v);
  if (Number.isNaN(d.getTime())) throw new Error(`'${String(v)}' is not a date (use YYYY-MM-DD or an ISO time)`);
  return d.toISOString();
}

/** `%part%` for LIKE … ESCAPE '\', with the caller's own % and _ taken literally. */
export function likePart(part: string): string {
  return `%${part.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The hexadecimal digits of a partial MAC or serial as typed ("DE-00:01" → "de0001"). */
export function hexPart(part: string): string {
  return part.toLowerCase().replace(/[^0-9a-f]/g, '');
}

/** Free text is looked for in these columns of a job (the MAC also without its colons). */
const JOB_TEXT_COLUMNS = ['id', 'target', 'operator', 'mac', "replace(mac, ':', '')", 'gateway_code', 'cert_serial', 'error_code', 'error_message', 'firmware_name', 'firmware_version', 'station_id'];

/** `lower(col) LIKE @p ESCAPE '\'` for each column, OR-ed. */
export function anyColumnLike(columns: readonly string[], param: string): string {
  return `(${columns.map((c) => `lower(COALESCE(${c}, '')) LIKE @${param} ESCAPE '\\'`).join(' OR ')})`;
}

/** The filter fields jobs and station events share. */
type SharedFilter = Pick<JobFilter, 'from' | 'to' | 'operator' | 'mac' | 'serial' | 'gatewayCode' | 'station' | 'text'>;

/**
 * The clauses of the fields jobs and station events share (time, parts of the operator, MAC, serial,
 * gateway code, station, free text), over `timeColumn` and the free-text columns given.
 */
export function sharedClauses(f: SharedFilter, timeColumn: string, textColumns: readonly string[]): { clauses: string[]; params: Record<string, unknown> } {
  const clauses: string[] = [];
  const params: Record<string, unknown> = {};
  if (f.from !== undefined) {
    clauses.push(`${timeColumn} >= @from`);
    params.from = iso(f.from);
  }
  if (f.to !== undefined) {
    clauses.push(`${timeColumn} < @to`);
    params.to = iso(f.to);
  }
  const like = (column: string, name: keyof SharedFilter, value: string): void => {
    clauses.push(`lower(COALESCE(${column}, '')) LIKE @${name} ESCAPE '\\'`);
    params[name] = likePart(value);
  };
  if (f.operator) like('operator', 'operator', f.operator);
  if (f.mac) {
    clauses.push(`replace(COALESCE(mac, ''), ':', '') LIKE @mac`);
    params.mac = `%${hexPart(f.mac)}%`;
  }
  if (f.serial) {
    clauses.push(`replace(lower(COALESCE(cert_serial, '')), ':', '') LIKE @serial`);
    params.serial = `%${hexPart(f.serial)}%`;
  }
  if (f.gatewayCode) like('gateway_code', 'gatewayCode', f.gatewayCode);
  if (f.station) like('station_id', 'station', f.station);
  if (f.text) {
    clauses.push(anyColumnLike(textColumns, 'text'));
    params.text = likePart(f.text);
  }
  return { clauses, params };
}

export function buildWhere(f: JobFilter): { where: string; params: Record<string, unknown> } {
  const { clauses, params } = sharedClauses(f, 'created_at', JOB_TEXT_COLUMNS);
  if (f.result) {
    const list = Array.isArray(f.result) ? f.result : [f.result];
    clauses.push(`result IN (${list.map((_, i) => `@r${i}`).join(', ')})`);
    list.forEach((r, i) => (params[`r${i}`] = r));
  }
  if (f.errorCode) {
    clauses.push('error_code = @errorCode');
    params.errorCode = f.errorCode;
  }
  if (f.firmware) {
    clauses.push(anyColumnLike(['firmware_name', 'firmware_version', 'firmware_sha256'], 'firmware'));
    params.firmware = likePart(f.firmware);
  }
  if (f.kind) {
    clauses.push('kind = @kind');
    params.kind = f.kind;
  }
  if (f.target) {
    clauses.push('target = @target');
    params.target = f.target;
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}
