import { stringify } from 'csv-stringify/sync';
import { spreadsheetSafe } from '@tds/server/util';
import type { JobRecord } from './job-records.js';
import type { LogEntry } from './station-events.js';

const CSV_COLUMNS: Array<[keyof JobRecord, string]> = [
  ['id', 'job_id'],
  ['retryOf', 'retry_of'],
  ['createdAt', 'created_at'],
  ['startedAt', 'started_at'],
  ['endedAt', 'ended_at'],
  ['durationMs', 'duration_ms'],
  ['waitedMs', 'waited_for_operator_ms'],
  ['stationId', 'station_id'],
  ['operator', 'operator'],
  ['kind', 'kind'],
  ['target', 'port_or_host'],
  ['mac', 'mac'],
  ['gatewayCode', 'gateway_code'],
  ['gatewayId', 'gateway_id'],
  ['accountId', 'conta_id'],
  ['certSerial', 'cert_serial'],
  ['certExpiresAt', 'cert_expires_at'],
  ['firmwareName', 'firmware_name'],
  ['firmwareVersion', 'firmware_version'],
  ['firmwareSha256', 'firmware_sha256'],
  ['serverUrl', 'server'],
  ['result', 'result'],
  ['errorCode', 'error_code'],
  ['errorMessage', 'error_message'],
  ['errorWhere', 'error_where'],
];

/**
 * The log as CSV, one line per entry: a job's columns, or a station event's (a revocation, a host key
 * forgotten) in the same columns — its kind in `kind`, its reason in `event_reason`.
 */
export function logCsv(entries: readonly LogEntry[]): string {
  const rows = entries.map((e) => {
    if (e.type === 'job') return [...CSV_COLUMNS.map(([k]) => e.job[k] ?? ''), ''];
    const ev = e.event;
    const asJob: Partial<Record<keyof JobRecord, unknown>> = {
      id: ev.id,
      createdAt: ev.at,
      startedAt: ev.at,
      endedAt: ev.at,
      stationId: ev.stationId,
      operator: ev.operator,
      kind: ev.kind as JobRecord['kind'],
      target: ev.target,
      mac: ev.mac,
      gatewayCode: ev.gatewayCode,
      gatewayId: ev.gatewayId,
      certSerial: ev.certSerial,
      result: 'succeeded',
    };
    return [...CSV_COLUMNS.map(([k]) => asJob[k] ?? ''), [ev.reason, ev.detail].filter(Boolean).join('; ')];
  });
  // Device-reported and typed values end up here: no text cell may become a spreadsheet formula.
  return stringify(rows, { header: true, columns: [...CSV_COLUMNS.map(([, h]) => h), 'event_reason'], cast: { string: spreadsheetSafe } });
}
