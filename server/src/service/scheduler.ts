/**
 * The clock of `tds-server serve`: runs each scheduled job (scheduled-jobs.ts) every `everyMs`, one
 * at a time, and knows its last and next run for `/healthz`. The next run follows the last one
 * recorded in the database, so a restart does not run a job again early, and a job that is overdue
 * (or never ran) runs shortly after start-up. A failed run is recorded and retried at the next
 * interval. Timers are unref'd: they never keep the process alive.
 *
 * Several instances on one database (`cluster`): every instance keeps its own timers, and a due job
 * runs in the instance that takes the job's lock, and only when no run (by any instance or the CLI)
 * finished within the period; the others follow the recorded run. So each job runs once per period
 * while any instance is up.
 */
import type { Cluster } from '../store/cluster.js';
import type { ScheduledJob, ScheduledRunRecord } from '../store/repository.js';

export interface SchedulerJob {
  /** null: not run by this process (e.g. a systemd timer runs it). */
  everyMs: number | null;
  run(): Promise<unknown>;
  /** A job that never ran waits one interval (default: it runs shortly after start-up). */
  firstRunAfterEvery?: boolean;
}

export interface JobStatus {
  enabled: boolean;
  everyMs: number | null;
  lastRun: string | null;
  lastResult: 'ok' | 'error' | null;
  nextRun: string | null;
}

export interface SchedulerOptions {
  /** Several server instances on one database: each job runs in one of them per period. */
  cluster?: Cluster;
  /** The first runs wait at least this long after start (default 5 s). */
  startDelayMs?: number;
  now?: () => number;
}

const START_DELAY_MS = 5_000;
/** While another instance runs a job, this instance looks again after at most this long. */
const RECHECK_MS = 30_000;
/** A run recorded this close to a full period ago counts as this period's (timers of instances drift). */
const slackMs = (everyMs: number): number => Math.min(everyMs / 10, 60_000);
/** The latest instant a recorded time may stand for: a time recorded to the second is the end of that second. */
const finishedAtLatest = (iso: string): number => Date.parse(iso) + (/\.\d+Z$/.test(iso) ? 0 : 999);
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class Scheduler {
  private readonly timers = new Map<ScheduledJob, NodeJS.Timeout>();
  private readonly next = new Map<ScheduledJob, number>();
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private knownRuns: ScheduledRunRecord[] = [];

  private readonly now: () => number;

  constructor(
    private readonly jobs: Record<ScheduledJob, SchedulerJob>,
    private readonly lastRuns: () => Promise<ScheduledRunRecord[]>,
    private readonly onError: (job: ScheduledJob, err: unknown) => void,
    private readonly options: SchedulerOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    const last = new Map((await this.lastRuns()).map((r) => [r.job, Date.parse(r.finishedAt)]));
    for (const job of Object.keys(this.jobs) as ScheduledJob[]) {
      const every = this.jobs[job].everyMs;
      if (every === null) continue;
      const previous = last.get(job);
      const due = previous !== undefined ? previous + every : this.jobs[job].firstRunAfterEvery ? this.now() + every : 0;
      this.schedule(job, Math.max(this.now() + (this.options.startDelayMs ?? START_DELAY_MS), due));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  async status(): Promise<Record<ScheduledJob, JobStatus>> {
    // While the database is away (PostgreSQL restarting), the runs last read.
    this.knownRuns = await this.lastRuns().catch(() => this.knownRuns);
    const runs = new Map(this.knownRuns.map((r) => [r.job, r]));
    const out = {} as Record<ScheduledJob, JobStatus>;
    for (const job of Object.keys(this.jobs) as ScheduledJob[]) {
      const r = runs.get(job);
      const next = this.next.get(job);
      out[job] = {
        enabled: this.jobs[job].everyMs !== null,
        everyMs: this.jobs[job].everyMs,
        lastRun: r?.finishedAt ?? null,
        lastResult: r?.result ?? null,
        nextRun: next === undefined ? null : iso(next),
      };
    }
    return out;
  }

  private schedule(job: ScheduledJob, at: number): void {
    if (this.stopped) return;
    this.next.set(job, at);
    // setTimeout holds at most ~24.8 days; a longer wait is taken in steps.
    const wait = Math.min(Math.max(0, at - this.now()), 2 ** 31 - 1);
    const t = setTimeout(() => {
      if (this.now() + 1_000 < at) return this.schedule(job, at);
      this.fire(job);
    }, wait);
    t.unref();
    this.timers.set(job, t);
  }

  /** Jobs run one after the other (a sweep and a re-sign never sign at the same time). */
  private fire(job: ScheduledJob): void {
    const every = this.jobs[job].everyMs!;
    this.chain = this.chain
      .then(() => this.runOnce(job, every))
      .catch((err: unknown) => {
        this.onError(job, err);
        return this.now() + every;
      })
      .then((next) => this.schedule(job, next));
  }

  /** Runs the job (with several instances: unless another one ran it this period); returns when it is next due. */
  private async runOnce(job: ScheduledJob, every: number): Promise<number> {
    const cluster = this.options.cluster;
    if (!cluster) {
      await this.jobs[job].run();
      return this.now() + every;
    }
    const r = await cluster.withLock(
      `schedule:${job}`,
      async () => {
        const last = (await this.lastRuns()).find((run) => run.job === job);
        const lastAt = last ? finishedAtLatest(last.finishedAt) : undefined;
        if (lastAt !== undefined && lastAt + every - slackMs(every) > this.now()) return lastAt + every;
        await this.jobs[job].run();
        return this.now() + every;
      },
      { wait: false },
    );
    // Another instance is running it right now: look again soon, and then follow its recorded run.
    return r.ran ? r.value : this.now() + Math.min(every, RECHECK_MS);
  }
}
