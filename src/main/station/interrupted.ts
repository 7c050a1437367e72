import { ERROR_TEXT, type JobError } from '../../shared/errors.js';
import type { JobSnapshot, StepSnapshot } from '../../shared/jobs.js';
import type { JobRecord, StationLog, StepRecord } from '../log/station-log.js';
import type { RestoredJob } from './jobs-hub.js';
import type { ResumeSpec } from './job-resume.js';

/** Said of a job found unfinished when the host gave no reason (the whole station stopped). */
export const UNKNOWN_STOP = 'the station stopped while it ran';

/**
 * At the start of a station core: every job the station log still shows as unfinished was left by a
 * core that stopped (crashed, hung and was killed, or the machine went down). Each is recorded as
 * failed with INTERRUPTED and the reason, and comes back as a finished job the UI shows and can retry
 * from its resume spec.
 */
export function recoverInterrupted(log: StationLog, specs: Map<string, ResumeSpec>, reason: string, now = new Date()): RestoredJob[] {
  const at = now.toISOString();
  return log.unfinished().map((record) => {
    const running = log.steps(record.id).find((s) => s.status === 'running');
    const error: JobError = {
      code: 'INTERRUPTED',
      message: `Interrupted: ${reason}${running ? ` during the step "${running.name}"` : ''}.`,
      hint: ERROR_TEXT.INTERRUPTED.hint,
      ...(running ? { where: running.name } : {}),
    };
    log.markInterrupted(record.id, error, at);
    return { snapshot: toSnapshot(log.get(record.id) ?? record, log.steps(record.id), error), spec: specs.get(record.id) };
  });
}

function toSnapshot(r: JobRecord, steps: StepRecord[], error: JobError): JobSnapshot {
  const view: StepSnapshot[] = steps.map((s) => ({
    name: s.name,
    status: s.status as StepSnapshot['status'],
    ...(s.startedAt ? { startedAt: s.startedAt } : {}),
    ...(s.endedAt ? { endedAt: s.endedAt } : {}),
    ...(s.detail ? { detail: s.detail } : {}),
  }));
  const done = view.filter((s) => s.status === 'done' || s.status === 'skipped').length;
  return {
    id: r.id,
    kind: r.kind,
    target: r.target,
    state: 'failed',
    progress: view.length ? done / view.length : 0,
    steps: view,
    error,
    createdAt: r.createdAt,
    ...(r.startedAt ? { startedAt: r.startedAt } : {}),
    ...(r.endedAt ? { endedAt: r.endedAt } : {}),
    ...(r.retryOf ? { retryOf: r.retryOf } : {}),
    ...(r.mac ? { mac: r.mac } : {}),
    ...(r.gatewayCode ? { gatewayCode: r.gatewayCode } : {}),
    ...(r.gatewayId !== null ? { gatewayId: r.gatewayId } : {}),
    ...(r.certSerial ? { certificateSerial: r.certSerial } : {}),
    ...(r.certExpiresAt ? { certificateExpiresAt: r.certExpiresAt } : {}),
    ...(r.firmwareName && r.firmwareVersion && r.firmwareSha256 ? { firmware: { name: r.firmwareName, version: r.firmwareVersion, sha256: r.firmwareSha256 } } : {}),
    ...(r.operator ? { operator: r.operator } : {}),
    ...(r.accountId !== null ? { accountId: r.accountId } : {}),
    ...(r.serverUrl ? { serverUrl: r.serverUrl } : {}),
  };
}
