import type { JobLogLineView } from '../../shared/views.js';
import { StationError } from '../../shared/ipc-errors.js';
import { isFinishedState, type JobSnapshot } from '../../shared/jobs.js';
import type { JobQueue } from '../jobs/queue.js';
import type { JobDefinition } from '../jobs/types.js';
import type { StationLog } from '../log/station-log.js';
import type { StationEventBus } from './dispatch.js';
import type { ResumeFile, ResumeSpec } from './job-resume.js';

/** A job a previous station core left unfinished: shown as interrupted, retried from its spec. */
export interface RestoredJob {
  snapshot: JobSnapshot;
  /** Absent when the previous core kept none (a job from before this version, a damaged file). */
  spec: ResumeSpec | undefined;
}

/** Progress-only updates of one job are pushed at most this often (UI stays smooth with 16 boards). */
const PROGRESS_INTERVAL_MS = 100;

function structuralKey(s: JobSnapshot): string {
  return `${s.state}|${s.steps.map((x) => x.status).join(',')}|${s.question?.id ?? ''}|${s.mac ?? ''}|${s.certificateSerial ?? ''}`;
}

/**
 * Bridges the job queue to the UI and the station log: every job is recorded (the log attaches to
 * the queue), snapshots are pushed as `job.updated` (state/step changes at once, progress ticks
 * coalesced), log lines as `job.log`, and `log.appended` when a job ends. What a retry needs is
 * kept per job (`ResumeSpec`; on disk while the job runs), so a job a stopped core left behind is
 * restored as interrupted and its retry rebuilt from the spec by the new core.
 */
export class JobsHub {
  /** Builds a job again from its spec (set by the station: the Bench or Field owns each kind). */
  rebuild: ((spec: ResumeSpec) => Promise<JobDefinition>) | undefined;
  private readonly specs = new Map<string, ResumeSpec>();
  private readonly restored = new Map<string, RestoredJob>();
  private readonly hidden = new Set<string>();
  private readonly lastKey = new Map<string, string>();
  private readonly pending = new Map<string, JobSnapshot>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly detach: Array<() => void> = [];

  constructor(
    readonly queue: JobQueue,
    private readonly log: StationLog,
    private readonly bus: StationEventBus,
    private readonly resume?: ResumeFile,
  ) {
    this.detach.push(log.attach(queue));
    this.detach.push(queue.onUpdate((s) => this.onUpdate(s)));
    this.detach.push(
      queue.onLog((l) => this.bus.emit('job.log', { jobId: l.jobId, at: l.at, step: l.step ?? null, level: l.level, text: l.text })),
    );
    this.detach.push(queue.onDrop((id) => this.forget(id)));
  }

  /** Queues a job; `spec` is what a retry needs if this core stops before the job ends. */
  submit(definition: JobDefinition, spec?: ResumeSpec, options: { retryOf?: string } = {}): string {
    const id = this.queue.submit(definition, options);
    if (spec) this.remember(id, spec);
    return id;
  }

  /**
   * `spec` changed (its job learnt something a retry needs): kept again for each unfinished job that
   * uses it (a job and its retries in this core share one spec).
   */
  specChanged(spec: ResumeSpec): void {
    for (const [id, s] of this.specs) {
      if (s === spec && !isFinishedState(this.queue.get(id)?.state ?? '')) this.resume?.put(id, s);
    }
  }

  /** Jobs a previous core left unfinished, already recorded as interrupted in the station log. */
  restore(jobs: RestoredJob[]): void {
    for (const j of jobs) {
      this.restored.set(j.snapshot.id, j);
      this.bus.emit('job.updated', j.snapshot);
    }
  }

  list(): JobSnapshot[] {
    const restored = [...this.restored.values()].map((r) => r.snapshot);
    return [...restored, ...this.queue.list()].filter((j) => !this.hidden.has(j.id));
  }

  get(jobId: string): JobSnapshot {
    const j = this.queue.get(jobId) ?? this.restored.get(jobId)?.snapshot;
    if (!j) throw new StationError('NOT_FOUND', `no job ${jobId} in this session`);
    return j;
  }

  cancel(jobId: string): JobSnapshot {
    const j = this.get(jobId);
    if (this.restored.has(jobId)) return j;
    this.queue.cancel(jobId);
    return this.get(jobId);
  }

  async retry(jobId: string): Promise<string> {
    const j = this.get(jobId);
    if (!isFinishedState(j.state)) throw new StationError('BUSY', `job ${jobId} is still ${j.state}; cancel it first`);
    const restored = this.restored.get(jobId);
    if (!restored) {
      const id = this.queue.retry(jobId);
      const spec = this.specs.get(jobId);
      if (spec) this.remember(id, spec);
      return id;
    }
    if (!restored.spec || !this.rebuild) {
      throw new StationError('CONFLICT', 'This interrupted job cannot be retried (the station kept nothing to rebuild it from).', { hint: 'Start a new job for this device.' });
    }
    const definition = await this.rebuild(restored.spec);
    return this.submit(definition, restored.spec, { retryOf: jobId });
  }

  /** Answers a job's question; `secret` (a typed password) only for a question marked secret. */
  answer(jobId: string, questionId: string, choice: string, secret?: string): JobSnapshot {
    const j = this.get(jobId);
    if (!j.question || j.question.id !== questionId) throw new StationError('CONFLICT', 'that question was already answered or withdrawn');
    if (!j.question.choices.includes(choice)) {
      throw new StationError('INVALID_INPUT', `choice must be one of: ${j.question.choices.join(', ')}`, {
        issues: [{ field: 'choice', key: 'choice', message: 'Pick one of the options.' }],
      });
    }
    if (secret !== undefined && !j.question.secret) {
      throw new StationError('INVALID_INPUT', 'this question does not take a secret', { issues: [{ field: 'secret', key: 'choice', message: 'This question takes no password.' }] });
    }
    this.queue.answer(jobId, questionId, choice, secret !== undefined ? { secret } : {});
    return this.get(jobId);
  }

  /** Hides finished jobs from the live screens (they stay in the station log). */
  clearFinished(): JobSnapshot[] {
    for (const j of [...this.restored.values()].map((r) => r.snapshot).concat(this.queue.list())) {
      if (isFinishedState(j.state) && !this.hidden.has(j.id)) {
        this.hidden.add(j.id);
        this.bus.emit('job.removed', { jobId: j.id });
      }
    }
    return this.list();
  }

  isHidden(jobId: string): boolean {
    return this.hidden.has(jobId);
  }

  lines(jobId: string): JobLogLineView[] {
    return this.log.lines(jobId).map((l) => ({ jobId: l.jobId, at: l.at, step: l.step, level: l.level, text: l.text }));
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const d of this.detach) d();
  }

  /** A finished job the queue dropped from memory: the screens drop it too (the station log keeps it). */
  private forget(id: string): void {
    this.specs.delete(id);
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
    this.pending.delete(id);
    this.lastKey.delete(id);
    if (!this.hidden.delete(id)) this.bus.emit('job.removed', { jobId: id });
  }

  private remember(id: string, spec: ResumeSpec): void {
    this.specs.set(id, spec);
    if (!isFinishedState(this.queue.get(id)?.state ?? '')) this.resume?.put(id, spec);
  }

  private onUpdate(s: JobSnapshot): void {
    if (isFinishedState(s.state)) this.resume?.remove(s.id);
    const key = structuralKey(s);
    const structural = this.lastKey.get(s.id) !== key;
    this.lastKey.set(s.id, key);
    if (structural) {
      this.flush(s.id, s);
      if (isFinishedState(s.state)) this.bus.emit('log.appended', { id: s.id });
      return;
    }
    this.pending.set(s.id, s);
    if (!this.timers.has(s.id)) {
      this.timers.set(
        s.id,
        setTimeout(() => {
          this.timers.delete(s.id);
          const latest = this.pending.get(s.id);
          if (latest) this.flush(s.id, latest);
        }, PROGRESS_INTERVAL_MS),
      );
    }
  }

  private flush(id: string, s: JobSnapshot): void {
    this.pending.delete(id);
    const t = this.timers.get(id);
    if (t) {
      clearTimeout(t);
      this.timers.delete(id);
    }
    this.bus.emit('job.updated', s);
  }
}
