import type { ValidRequestOf } from '../../shared/ipc.js';
import type { FileData, LogEventRow, LogJobDetail, LogJobRow, LogPage, TodayFigures } from '../../shared/views.js';
import { StationError } from '../../shared/ipc-errors.js';
import { isFinishedState, type StepStatus } from '../../shared/jobs.js';
import { workingTime } from '../log/day-figures.js';
import type { JobRecord, LogEntryFilter, StationEventRecord, StationLog } from '../log/station-log.js';

type Filter = ValidRequestOf<'log.query'>;

function localDay(s: string, plusDays = 0): Date {
  const [y, m, d] = s.split('-').map(Number) as [number, number, number];
  return new Date(y, m - 1, d + plusDays);
}

export function toEntryFilter(f: Filter): LogEntryFilter {
  return {
    ...(f.from ? { from: localDay(f.from) } : {}),
    ...(f.to ? { to: localDay(f.to, 1) } : {}),
    ...(f.operator ? { operator: f.operator } : {}),
    ...(f.result ? { result: f.result } : {}),
    ...(f.mac ? { mac: f.mac } : {}),
    ...(f.serial ? { serial: f.serial } : {}),
    ...(f.gatewayCode ? { gatewayCode: f.gatewayCode } : {}),
    ...(f.station ? { station: f.station } : {}),
    ...(f.errorCode ? { errorCode: f.errorCode } : {}),
    ...(f.firmware ? { firmware: f.firmware } : {}),
    ...(f.kind ? { kind: f.kind } : {}),
    ...(f.q ? { text: f.q } : {}),
  };
}

export function toLogRow(r: JobRecord): LogJobRow {
  const result = isFinishedState(r.result) ? r.result : 'running';
  return {
    type: 'job',
    id: r.id,
    kind: r.kind,
    startedAt: r.startedAt ?? r.createdAt,
    endedAt: r.endedAt,
    durationMs: workingTime(r),
    waitedMs: r.waitedMs ?? 0,
    operator: r.operator ?? '',
    stationId: r.stationId,
    target: r.target,
    mac: r.mac,
    gatewayCode: r.gatewayCode,
    accountId: r.accountId,
    certificateSerial: r.certSerial,
    certificateExpiresAt: r.certExpiresAt,
    firmware: r.firmwareName ? { name: r.firmwareName, version: r.firmwareVersion ?? '', sha256: r.firmwareSha256 ?? '' } : null,
    server: r.serverUrl,
    result,
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    errorHint: r.errorHint,
    errorText: r.errorTexts?.text ?? null,
    errorHintText: r.errorTexts?.hintText ?? null,
  };
}

function toEventRow(e: StationEventRecord): LogEventRow {
  return {
    type: 'event',
    id: e.id,
    kind: e.kind,
    at: e.at,
    operator: e.operator ?? '',
    stationId: e.stationId,
    target: e.target,
    mac: e.mac,
    gatewayCode: e.gatewayCode,
    gatewayId: e.gatewayId,
    certificateSerial: e.certSerial,
    reason: e.reason,
    detail: e.detail,
  };
}

/** A job's own log in its detail: at most this many of its last lines, and this many characters. */
const DETAIL_LINES = 1000;
const DETAIL_CHARS = 1_000_000;

function localDayString(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The Log screen's reads over the station log (filters in local calendar days). */
export class LogView {
  constructor(private readonly log: StationLog) {}

  query(f: Filter): LogPage {
    const filter = toEntryFilter(f);
    const rows = this.log.entries({ ...filter, limit: f.limit, offset: f.offset }).map((e) => (e.type === 'job' ? toLogRow(e.job) : toEventRow(e.event)));
    const total = f.offset === 0 && rows.length < f.limit ? rows.length : this.log.countEntries(filter);
    return { rows, total };
  }

  get(id: string): LogJobDetail {
    const r = this.log.get(id);
    if (!r) throw new StationError('NOT_FOUND', `no job ${id} in the station log`);
    const count = this.log.lineCount(id);
    const lines = this.log.lines(id, { last: DETAIL_LINES });
    // Long lines (a device's output) could make the answer too big: the newest fit, the oldest go.
    let chars = 0;
    let keepFrom = lines.length;
    while (keepFrom > 0 && chars + lines[keepFrom - 1]!.text.length <= DETAIL_CHARS) chars += lines[--keepFrom]!.text.length;
    const kept = lines.slice(keepFrom);
    return {
      ...toLogRow(r),
      steps: this.log.steps(id).map((s) => ({
        name: s.name,
        startedAt: s.startedAt,
        endedAt: s.endedAt,
        waitedMs: s.waitedMs ?? 0,
        status: s.status as StepStatus,
        detail: s.detail,
        detailText: s.detailText,
      })),
      lines: kept,
      linesOmitted: count - kept.length,
      attachment: this.log.attachment(id) ?? null,
    };
  }

  exportCsv(f: Filter, now = new Date()): FileData {
    const csv = this.log.exportCsv(toEntryFilter(f));
    return { fileName: `tds-station-log-${localDayString(now)}.csv`, mime: 'text/csv', base64: Buffer.from(csv, 'utf8').toString('base64') };
  }

  today(now = new Date()): TodayFigures {
    const fig = this.log.dayFigures(now);
    return { day: fig.day, provisioned: fig.provisioned, failed: fig.failed, skipped: fig.skipped, jobs: fig.jobs, medianMs: fig.medianDurationMs, byHour: fig.byHour };
  }
}
