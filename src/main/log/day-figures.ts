import { PROVISIONING_KINDS } from '../../shared/jobs.js';
import type { JobRecord } from './job-records.js';

// A day's figures count devices, not jobs: a board retried three times and then provisioned is one
// provisioned device, not one success and two failures. Times are working times (waiting for the
// operator's answers left out).

/** One local day's figures over the jobs created that day. */
export interface DayFigures {
  /** Local day the figures are for, YYYY-MM-DD. */
  day: string;
  /** Devices with a successful job that day. */
  provisioned: number;
  /** Devices whose jobs that day all ended without success, the last one failed. */
  failed: number;
  /** Devices left as they were on purpose (the last job stopped by the operator), none provisioned. */
  skipped: number;
  /** Devices whose last job was cancelled, none provisioned. */
  cancelled: number;
  /** Finished jobs behind these figures. */
  jobs: number;
  /** Median working time of the provisioned devices' successful jobs (ms; null when none). */
  medianDurationMs: number | null;
  /** Per local hour 0..23: devices provisioned (hour of their first success) and failed (hour of their last job). */
  byHour: { hour: number; succeeded: number; failed: number }[];
}

/** What identifies a device in the log: its MAC, else (it failed before the MAC was read) its port or host. */
export function deviceKey(r: Pick<JobRecord, 'mac' | 'kind' | 'target'>): string {
  return r.mac ?? `${r.kind}:${r.target}`;
}

export function workingTime(r: Pick<JobRecord, 'durationMs' | 'waitedMs'>): number | null {
  return r.durationMs === null ? null : Math.max(0, r.durationMs - (r.waitedMs ?? 0));
}

/** Figures for `day` from its finished jobs (any order); jobs that do not provision (a Pi probed) are not counted. */
export function dayFigures(day: string, all: readonly JobRecord[]): DayFigures {
  const jobs = all.filter((j) => PROVISIONING_KINDS.includes(j.kind));
  const byDevice = new Map<string, JobRecord[]>();
  for (const j of jobs) {
    const list = byDevice.get(deviceKey(j));
    if (list) list.push(j);
    else byDevice.set(deviceKey(j), [j]);
  }
  const fig: DayFigures = { day, provisioned: 0, failed: 0, skipped: 0, cancelled: 0, jobs: jobs.length, medianDurationMs: null, byHour: [] };
  const hours = Array.from({ length: 24 }, (_, hour) => ({ hour, succeeded: 0, failed: 0 }));
  const times: number[] = [];
  const endOf = (j: JobRecord): string => j.endedAt ?? j.createdAt;
  for (const list of byDevice.values()) {
    list.sort((a, b) => endOf(a).localeCompare(endOf(b)));
    const firstSuccess = list.find((j) => j.result === 'succeeded');
    if (firstSuccess) {
      fig.provisioned++;
      hours[new Date(endOf(firstSuccess)).getHours()]!.succeeded++;
      const t = workingTime(firstSuccess);
      if (t !== null) times.push(t);
      continue;
    }
    const last = list[list.length - 1]!;
    if (last.result === 'failed') {
      fig.failed++;
      hours[new Date(endOf(last)).getHours()]!.failed++;
    } else if (last.result === 'skipped') fig.skipped++;
    else if (last.result === 'cancelled') fig.cancelled++;
  }
  fig.byHour = hours;
  fig.medianDurationMs = median(times.sort((a, b) => a - b));
  return fig;
}

function median(sorted: number[]): number | null {
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}
