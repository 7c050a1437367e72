import { isFinishedState, type JobSnapshot } from '../../shared/jobs.js';
import { JobRun } from './job-run.js';
import type { JobDefinition, JobLogLine } from './types.js';

export interface JobQueueOptions {
  /** How many jobs run at the same time (e.g. one per USB port on the hub). Default 8. */
  concurrency?: number;
  /**
   * How many finished jobs stay in memory (for `get`, `list`, `retry`); older ones are dropped
   * (the station log keeps the history). Default 200.
   */
  keepFinished?: number;
}

export const DEFAULT_KEEP_FINISHED = 200;

type Listener<T> = (value: T) => void;

/**
 * Runs jobs with a concurrency limit. Jobs on the same target (serial port, host) never overlap.
 * Every snapshot change and log line is pushed to listeners (UI, station log, CLI printer).
 */
export class JobQueue {
  private readonly concurrency: number;
  private readonly keepFinished: number;
  private readonly runs = new Map<string, JobRun>();
  /** Finished jobs, oldest first: the ones dropped when there are more than `keepFinished`. */
  private readonly finishedOrder: string[] = [];
  private readonly order: string[] = [];
  private readonly running = new Set<string>();
  private readonly busyTargets = new Set<string>();
  private readonly finished = new Map<string, Promise<JobSnapshot>>();
  private readonly resolvers = new Map<string, (s: JobSnapshot) => void>();
  private readonly updateListeners = new Set<Listener<JobSnapshot>>();
  private readonly logListeners = new Set<Listener<JobLogLine>>();
  private readonly dropListeners = new Set<Listener<string>>();

  constructor(options: JobQueueOptions = {}) {
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.keepFinished = Math.max(0, options.keepFinished ?? DEFAULT_KEEP_FINISHED);
  }

  /** Queues a job; returns its id. */
  submit(definition: JobDefinition, options: { retryOf?: string } = {}): string {
    const run = new JobRun(
      definition,
      {
        onUpdate: (s) => this.onRunUpdate(s),
        onLog: (l) => {
          for (const f of this.logListeners) f(l);
        },
      },
      options,
    );
    this.runs.set(run.id, run);
    this.order.push(run.id);
    this.finished.set(
      run.id,
      new Promise((resolve) => {
        this.resolvers.set(run.id, resolve);
      }),
    );
    this.onRunUpdate(run.snapshot());
    // Start on a later tick, so the caller can attach listeners before the first step runs.
    queueMicrotask(() => this.pump());
    return run.id;
  }

  /** Runs the same definition again as a new job (a new row in the station log). */
  retry(jobId: string): string {
    const run = this.mustGet(jobId);
    if (!run.isFinished()) throw new Error(`job ${jobId} is still ${run.snapshot().state}`);
    return this.submit(run.definition, { retryOf: jobId });
  }

  cancel(jobId: string): void {
    this.mustGet(jobId).cancel();
    this.pump();
  }

  /**
   * Answers a job's open question. `secret` (a typed password) is accepted only by a question
   * marked secret and goes to the asking step alone: not to listeners, snapshots or logs.
   */
  answer(jobId: string, questionId: string, choice: string, options: { secret?: string } = {}): void {
    this.mustGet(jobId).answer(questionId, choice, options.secret);
  }

  get(jobId: string): JobSnapshot | undefined {
    return this.runs.get(jobId)?.snapshot();
  }

  list(): JobSnapshot[] {
    return this.order.map((id) => this.runs.get(id)!.snapshot());
  }

  /** Resolves with the final snapshot of the job. */
  wait(jobId: string): Promise<JobSnapshot> {
    const p = this.finished.get(jobId);
    if (!p) return Promise.reject(new Error(`no job ${jobId}`));
    return p;
  }

  /** Resolves when every submitted job has finished. */
  async idle(): Promise<JobSnapshot[]> {
    return Promise.all(this.order.map((id) => this.wait(id)));
  }

  onUpdate(listener: Listener<JobSnapshot>): () => void {
    this.updateListeners.add(listener);
    return () => this.updateListeners.delete(listener);
  }

  onLog(listener: Listener<JobLogLine>): () => void {
    this.logListeners.add(listener);
    return () => this.logListeners.delete(listener);
  }

  /** Called with the id of a finished job dropped from memory (see `keepFinished`). */
  onDrop(listener: Listener<string>): () => void {
    this.dropListeners.add(listener);
    return () => this.dropListeners.delete(listener);
  }

  /** Cancels everything and waits for running jobs to wind down. */
  async shutdown(): Promise<void> {
    for (const run of this.runs.values()) run.cancel();
    await this.idle();
  }

  private mustGet(jobId: string): JobRun {
    const run = this.runs.get(jobId);
    if (!run) throw new Error(`no job ${jobId}`);
    return run;
  }

  private onRunUpdate(snapshot: JobSnapshot): void {
    for (const f of this.updateListeners) {
      try {
        f(snapshot);
      } catch (err) {
        console.error('job update listener failed:', err);
      }
    }
    if (isFinishedState(snapshot.state)) {
      const resolve = this.resolvers.get(snapshot.id);
      if (resolve) {
        this.resolvers.delete(snapshot.id);
        resolve(snapshot);
        this.finishedOrder.push(snapshot.id);
        this.dropOldFinished();
      }
    }
  }

  private dropOldFinished(): void {
    while (this.finishedOrder.length > this.keepFinished) {
      const id = this.finishedOrder.shift()!;
      this.runs.delete(id);
      this.finished.delete(id);
      const i = this.order.indexOf(id);
      if (i >= 0) this.order.splice(i, 1);
      for (const f of this.dropListeners) {
        try {
          f(id);
        } catch (err) {
          console.error('job drop listener failed:', err);
        }
      }
    }
  }

  private pump(): void {
    for (const id of this.order) {
      if (this.running.size >= this.concurrency) return;
      const run = this.runs.get(id)!;
      if (this.running.has(id) || run.snapshot().state !== 'queued') continue;
      const target = run.definition.target;
      if (this.busyTargets.has(target)) continue;
      this.running.add(id);
      this.busyTargets.add(target);
      void run.execute().finally(() => {
        this.running.delete(id);
        this.busyTargets.delete(target);
        this.pump();
      });
    }
  }
}
