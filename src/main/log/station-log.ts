import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { JobError } from '../../shared/errors.js';
import { FINISHED_STATES, isFinishedState, type JobKind, type JobSnapshot } from '../../shared/jobs.js';
import type { JobLogLine } from '../jobs/types.js';
import { buildWhere, toRecord, toStepRecord, type JobFilter, type JobRecord, type JobRow, type StepRecord, type StepRow } from './job-records.js';
import { dayFigures, type DayFigures } from './day-figures.js';
import { logCsv } from './log-csv.js';
import { buildEventWhere, isEventKind, StationEvents, type LogEntry, type LogEntryFilter, type StationEventInput, type StationEventRecord } from './station-events.js';
import { migrate } from './migrations.js';
import { redactSecrets } from './redact.js';
import { safeLine, safeLines } from './safe-text.js';

export type { JobFilter, JobRecord, StepRecord } from './job-records.js';
export type { DayFigures } from './day-figures.js';
export type { LogEntry, LogEntryFilter, StationEventInput, StationEventKind, StationEventRecord } from './station-events.js';

export interface StationLogOptions {
  /** This station's id (also in the monitor certificate name). */
  stationId: string;
  /** Max stored log lines per job (the rest are counted and dropped). Default 5000. */
  maxLinesPerJob?: number;
}


/**
 * The station's local provisioning log (better-sqlite3): one row per job, one per step, and the
 * job's log lines. Only facts, never secrets: every text goes through `redactSecrets` and jobs
 * never hand key material to it. Texts that may quote a device or a peer are stored with their
 * control characters escaped (`safe-text.ts`), whoever wrote them.
 */
export class StationLog {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly stationId: string;
  private readonly maxLines: number;
  private readonly lineCounts = new Map<string, number>();
  private readonly lastWritten = new Map<string, string>();
  private readonly events: StationEvents;

  private constructor(file: string, options: StationLogOptions) {
    this.file = file;
    this.stationId = options.stationId;
    this.maxLines = options.maxLinesPerJob ?? 5000;
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('secure_delete = ON');
    migrate(this.db);
    this.events = new StationEvents(this.db, this.stationId);
  }

  static open(file: string, options: StationLogOptions): StationLog {
    return new StationLog(file, options);
  }

  /** Records every job of `queue` from now on; returns a function that stops recording. */
  attach(queue: { onUpdate(l: (s: JobSnapshot) => void): () => void; onLog(l: (line: JobLogLine) => void): () => void }): () => void {
    const offUpdate = queue.onUpdate((s) => this.recordSnapshot(s));
    const offLog = queue.onLog((l) => this.appendLine(l));
    return () => {
      offUpdate();
      offLog();
    };
  }

  /** Writes the job row and its step rows (skips progress-only changes). */
  recordSnapshot(s: JobSnapshot): void {
    const key = JSON.stringify([
      s.state,
      s.mac,
      s.gatewayCode,
      s.gatewayId,
      s.certificateSerial,
      s.firmware,
      s.error,
      s.facts,
      s.waitedMs,
      s.steps.map((st) => [st.status, st.detail, st.startedAt, st.endedAt, st.waitedMs]),
    ]);
    if (this.lastWritten.get(s.id) === key) return;
    this.lastWritten.set(s.id, key);
    const duration = s.startedAt && s.endedAt ? Date.parse(s.endedAt) - Date.parse(s.startedAt) : null;
    const write = this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO jobs (id, retry_of, station_id, kind, target, operator, mac, gateway_code, gateway_id, conta_id,
             cert_serial, cert_expires_at, firmware_name, firmware_version, firmware_sha256, server_url, result,
             error_code, error_message, error_hint, error_where, error_attachment, error_texts, facts, created_at, started_at, ended_at,
             duration_ms, waited_ms)
           VALUES (@id, @retryOf, @stationId, @kind, @target, @operator, @mac, @gatewayCode, @gatewayId, @accountId,
             @certSerial, @certExpiresAt, @firmwareName, @firmwareVersion, @firmwareSha256, @serverUrl, @result,
             @errorCode, @errorMessage, @errorHint, @errorWhere, @errorAttachment, @errorTexts, @facts, @createdAt, @startedAt, @endedAt,
             @durationMs, @waitedMs)
           ON CONFLICT(id) DO UPDATE SET operator=excluded.operator, mac=excluded.mac, gateway_code=excluded.gateway_code,
             gateway_id=excluded.gateway_id, conta_id=excluded.conta_id, cert_serial=excluded.cert_serial,
             cert_expires_at=excluded.cert_expires_at, firmware_name=excluded.firmware_name,
             firmware_version=excluded.firmware_version, firmware_sha256=excluded.firmware_sha256,
             server_url=excluded.server_url, result=excluded.result, error_code=excluded.error_code,
             error_message=excluded.error_message, error_hint=excluded.error_hint, error_where=excluded.error_where,
             error_attachment=excluded.error_attachment, error_texts=excluded.error_texts, facts=excluded.facts,
             started_at=excluded.started_at, ended_at=excluded.ended_at, duration_ms=excluded.duration_ms, waited_ms=excluded.waited_ms`,
        )
        .run({
          id: s.id,
          retryOf: s.retryOf ?? null,
          stationId: this.stationId,
          kind: s.kind,
          target: s.target,
          operator: s.operator ?? null,
          mac: s.mac ? safeLine(s.mac) : null,
          gatewayCode: s.gatewayCode ? safeLine(s.gatewayCode) : null,
          gatewayId: s.gatewayId ?? null,
          accountId: s.accountId ?? null,
          certSerial: s.certificateSerial ?? null,
          certExpiresAt: s.certificateExpiresAt ?? null,
          firmwareName: s.firmware?.name ?? null,
          firmwareVersion: s.firmware?.version ?? null,
          firmwareSha256: s.firmware?.sha256 ?? null,
          serverUrl: s.serverUrl ?? null,
          result: s.state,
          errorCode: s.error?.code ?? null,
          errorMessage: s.error ? safeLines(redactSecrets(s.error.message)) : null,
          errorHint: s.error?.hint ? safeLines(s.error.hint) : null,
          errorWhere: s.error?.where ? safeLine(s.error.where) : null,
          errorAttachment: s.error?.attachment ? redactAttachment(s.error.attachment) : null,
          errorTexts: s.error?.text || s.error?.hintText ? storedTexts({ text: s.error.text, hintText: s.error.hintText }) : null,
          facts: s.facts ? redactSecrets(JSON.stringify(Object.fromEntries(Object.entries(s.facts).map(([k, v]) => [k, safeLine(v)])))) : null,
          createdAt: s.createdAt,
          startedAt: s.startedAt ?? null,
          endedAt: s.endedAt ?? null,
          durationMs: duration,
          waitedMs: s.waitedMs ?? null,
        });
      const upsertStep = this.db.prepare(
        `INSERT INTO steps (job_id, seq, name, status, started_at, ended_at, duration_ms, waited_ms, detail, detail_text)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(job_id, seq) DO UPDATE SET name=excluded.name, status=excluded.status, started_at=excluded.started_at,
           ended_at=excluded.ended_at, duration_ms=excluded.duration_ms, waited_ms=excluded.waited_ms, detail=excluded.detail,
           detail_text=excluded.detail_text`,
      );
      s.steps.forEach((st, i) => {
        const d = st.startedAt && st.endedAt ? Date.parse(st.endedAt) - Date.parse(st.startedAt) : null;
        upsertStep.run(
          s.id,
          i,
          st.name,
          st.status,
          st.startedAt ?? null,
          st.endedAt ?? null,
          d,
          st.waitedMs ?? null,
          st.detail ? safeLine(redactSecrets(st.detail)) : null,
          st.detailText ? storedTexts(st.detailText) : null,
        );
      });
    });
    write();
    if (isFinishedState(s.state)) {
      this.lastWritten.delete(s.id);
      this.lineCounts.delete(s.id);
    }
  }

  /**
   * Jobs the log shows as not finished (queued, running, waiting for an answer): after a clean stop
   * there are none, so at start these are the jobs a stopped station core left behind.
   */
  unfinished(): JobRecord[] {
    return this.query({ result: ['queued', 'running', 'waiting-input'], limit: 100_000 });
  }

  /**
   * Records that a job stopped because its process did: result `failed` with `error` (code
   * INTERRUPTED and the reason), ended `at`; the step that was running is marked failed. Other facts
   * of the row stay as the job left them.
   */
  markInterrupted(jobId: string, error: JobError, at: string): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE jobs SET result = 'failed', error_code = @code, error_message = @message, error_hint = @hint, error_where = @where,
             ended_at = @at, duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE CAST(round((julianday(@at) - julianday(started_at)) * 86400000) AS INTEGER) END
           WHERE id = @id`,
        )
        .run({
          id: jobId,
          code: error.code,
          message: safeLines(redactSecrets(error.message)),
          hint: error.hint ? safeLines(error.hint) : null,
          where: error.where ? safeLine(error.where) : null,
          at,
        });
      this.db
        .prepare(
          `UPDATE steps SET status = 'failed', ended_at = @at,
             duration_ms = CASE WHEN started_at IS NULL THEN NULL ELSE CAST(round((julianday(@at) - julianday(started_at)) * 86400000) AS INTEGER) END
           WHERE job_id = @id AND status = 'running'`,
        )
        .run({ id: jobId, at });
    })();
    this.lastWritten.delete(jobId);
    this.lineCounts.delete(jobId);
  }

  appendLine(line: JobLogLine): void {
    const n = (this.lineCounts.get(line.jobId) ?? 0) + 1;
    this.lineCounts.set(line.jobId, n);
    if (n > this.maxLines) return;
    const exists = this.db.prepare('SELECT 1 FROM jobs WHERE id = ?').get(line.jobId);
    if (!exists) return; // lines before the first snapshot cannot happen with JobQueue; be safe
    const text = n === this.maxLines ? `[further lines of this job not stored (limit ${this.maxLines})]` : safeLine(redactSecrets(line.text));
    this.db
      .prepare('INSERT INTO job_lines (job_id, at, step, level, text) VALUES (?, ?, ?, ?, ?)')
      .run(line.jobId, line.at, line.step ?? null, line.level, text);
  }

  query(filter: JobFilter = {}): JobRecord[] {
    const { where, params } = buildWhere(filter);
    const limit = Math.min(Math.max(filter.limit ?? 1000, 1), 100_000);
    const offset = Math.max(filter.offset ?? 0, 0);
    const rows = this.db
      .prepare(`SELECT * FROM jobs ${where} ORDER BY created_at DESC, id LIMIT ${limit} OFFSET ${offset}`)
      .all(params) as JobRow[];
    return rows.map(toRecord);
  }

  /** Records something the station did outside a job (a revocation, a forgotten host key). */
  recordEvent(e: StationEventInput): StationEventRecord {
    return this.events.record(e);
  }

  /**
   * One page of the whole log, newest first: jobs and station events that match `filter` (a filter
   * only jobs have — result, error code, firmware, a job kind — leaves the events out).
   */
  entries(filter: LogEntryFilter = {}): LogEntry[] {
    const { sql, params } = this.entriesSql(filter);
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 100_000);
    const offset = Math.max(filter.offset ?? 0, 0);
    // Entries written in the same millisecond keep the order they were written in.
    const page = this.db.prepare(`${sql} ORDER BY at DESC, seq DESC LIMIT ${limit} OFFSET ${offset}`).all(params) as Array<{ type: 'job' | 'event'; id: string }>;
    const jobIds = page.filter((p) => p.type === 'job').map((p) => p.id);
    const jobs = new Map(
      jobIds.length ? (this.db.prepare(`SELECT * FROM jobs WHERE id IN (${jobIds.map(() => '?').join(', ')})`).all(...jobIds) as JobRow[]).map((r) => [r.id, toRecord(r)]) : [],
    );
    const events = this.events.byIds(page.filter((p) => p.type === 'event').map((p) => p.id));
    return page.map((p) => (p.type === 'job' ? { type: 'job', job: jobs.get(p.id)! } : { type: 'event', event: events.get(p.id)! }));
  }

  /** How many entries match `filter` (its `limit`/`offset` ignored). */
  countEntries(filter: LogEntryFilter = {}): number {
    const { sql, params } = this.entriesSql(filter);
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM (${sql})`).get(params) as { n: number }).n;
  }

  private entriesSql(filter: LogEntryFilter): { sql: string; params: Record<string, unknown> } {
    const parts: string[] = [];
    const params: Record<string, unknown> = {};
    if (!isEventKind(filter.kind)) {
      const j = buildWhere({ ...filter, kind: filter.kind as JobKind | undefined });
      parts.push(`SELECT 'job' AS type, id, created_at AS at, rowid AS seq FROM jobs ${prefixParams(j.where, 'j_')}`);
      for (const [k, v] of Object.entries(j.params)) params[`j_${k}`] = v;
    }
    const e = buildEventWhere(filter);
    if (e) {
      parts.push(`SELECT 'event' AS type, id, at, rowid AS seq FROM events ${prefixParams(e.where, 'e_')}`);
      for (const [k, v] of Object.entries(e.params)) params[`e_${k}`] = v;
    }
    return { sql: parts.join(' UNION ALL '), params };
  }

  /** How many jobs match `filter` (its `limit`/`offset` are ignored): the total behind a page of `query`. */
  count(filter: JobFilter = {}): number {
    const { where, params } = buildWhere(filter);
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs ${where}`).get(params) as { n: number }).n;
  }

  get(jobId: string): JobRecord | undefined {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(jobId) as JobRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** The attachment of a failed job (e.g. the boot log), if any. */
  attachment(jobId: string): { label: string; text: string } | undefined {
    const row = this.db.prepare('SELECT error_attachment AS a FROM jobs WHERE id = ?').get(jobId) as { a: string | null } | undefined;
    return row?.a ? (JSON.parse(row.a) as { label: string; text: string }) : undefined;
  }

  steps(jobId: string): StepRecord[] {
    return (this.db.prepare('SELECT * FROM steps WHERE job_id = ? ORDER BY seq').all(jobId) as StepRow[]).map(toStepRecord);
  }

  /** How many lines of `jobId`'s log are stored. */
  lineCount(jobId: string): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM job_lines WHERE job_id = ?').get(jobId) as { n: number }).n;
  }

  /** The stored lines of `jobId`'s log, oldest first; with `last`, only that many of the newest. */
  lines(jobId: string, options: { last?: number } = {}): Array<Omit<JobLogLine, 'step'> & { step: string | null }> {
    const newest = options.last !== undefined ? `ORDER BY id DESC LIMIT ${Math.max(0, Math.floor(options.last))}` : 'ORDER BY id';
    return (
      this.db.prepare(`SELECT * FROM (SELECT id, job_id, at, step, level, text FROM job_lines WHERE job_id = ? ${newest}) ORDER BY id`).all(jobId) as Array<{
        job_id: string;
        at: string;
        step: string | null;
        level: JobLogLine['level'];
        text: string;
      }>
    ).map((r) => ({ jobId: r.job_id, at: r.at, step: r.step, level: r.level, text: r.text }));
  }

  /** CSV (header + one line per entry, newest first) of the jobs and station events matching `filter`. */
  exportCsv(filter: LogEntryFilter = {}): string {
    return logCsv(this.entries({ ...filter, limit: 100_000, offset: 0 }));
  }

  /** Figures for one local calendar day (default: today), counted in devices (day-figures.ts). */
  dayFigures(now: Date = new Date()): DayFigures {
    const start = new Date(now.getFullYear(), now.getMonth(), now.getDate());
    const end = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
    const pad = (n: number): string => String(n).padStart(2, '0');
    const day = `${start.getFullYear()}-${pad(start.getMonth() + 1)}-${pad(start.getDate())}`;
    return dayFigures(day, this.query({ from: start, to: end, result: [...FINISHED_STATES], limit: 100_000 }));
  }

  close(): void {
    this.db.close();
  }
}

/** Translatable texts as stored: their parameters may quote a device or a peer, so they are escaped and redacted too. */
function storedTexts(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' ? safeLine(redactSecrets(v)) : v));
}

function redactAttachment(a: { label: string; text: string }): string {
  // Redact before cutting, so a cut can never leave a key body without its BEGIN line.
  const clean = safeLines(redactSecrets(a.text, Number.POSITIVE_INFINITY));
  return JSON.stringify({ label: safeLine(a.label), text: clean.length > 64_000 ? clean.slice(-64_000) : clean });
}

/** Named parameters `@x` of a WHERE clause renamed `@<prefix>x` (two clauses share one statement). */
function prefixParams(where: string, prefix: string): string {
  return where.replace(/@(\w+)/g, `@${prefix}$1`);
}
