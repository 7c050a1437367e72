import type { JobLogLineView } from '../../shared/views.js';
import { StationError } from '../../shared/ipc-errors.js';
import type { JobSnapshot } from '../../shared/jobs.js';
import type { JobQueue } from '../jobs/queue.js';
import type { JobDefinition } from '../jobs/types.js';
import type { StationLog } from '../log/station-log.js';
import type { StationEventBus } from './dispatch.js';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
/** Progress-only updates of one job are pushed at most this often (UI stays smooth with 16 boards). */
const PROGRESS_INTERVAL_MS = 100;

function structuralKey(s: JobSnapshot): string {
  return `${s.state}|${s.steps.map((x) => x.status).join(',')}|${s.question?.id ?? ''}|${s.mac ?? ''}|${s.certificateSerial ?? ''}`;
}

/**
 * Bridges the job queue to the UI and the station log: every job is recorded (the log attaches to
 * the queue), snapshots are pushed as `job.updated` (state/step changes at once, progress ticks
 * coalesced), log lines as `job.log`, and `log.appended` when a job ends.
 */
export class JobsHub {
  private readonly hidden = new Set<string>();
  private readonly lastKey = new Map<string, string>();
  private readonly pending = new Map<string, JobSnapshot>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly detach: Array<() => void> = [];

  constructor(
    readonly queue: JobQueue,
    private readonly log: StationLog,
    private readonly bus: StationEventBus,
  ) {
    this.detach.push(log.attach(queue));
    this.detach.push(queue.onUpdate((s) => this.onUpdate(s)));
    this.detach.push(
      queue.onLog((l) => this.bus.emit('job.log', { jobId: l.jobId, at: l.at, step: l.step ?? null, level: l.level, text: l.text })),
    );
    this.detach.push(queue.onDrop((id) => this.forget(id)));
  }

  submit(definition: JobDefinition): string {
    return this.queue.submit(definition);
  }

  list(): JobSnapshot[] {
    return this.queue.list().filter((j) => !this.hidden.has(j.id));
  }

  get(jobId: string): JobSnapshot {
    const j = this.queue.get(jobId);
    if (!j) throw new StationError('NOT_FOUND', `no job ${jobId} in this session`);
    return j;
  }

  cancel(jobId: string): JobSnapshot {
    this.get(jobId);
    this.queue.cancel(jobId);
    return this.get(jobId);
  }

  retry(jobId: string): string {
    const j = this.get(jobId);
    if (!FINISHED.has(j.state)) throw new StationError('BUSY', `job ${jobId} is still ${j.state}; cancel it first`);
    return this.queue.retry(jobId);
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
    for (const j of this.queue.list()) {
      if (FINISHED.has(j.state) && !this.hidden.has(j.id)) {
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
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
    this.pending.delete(id);
    this.lastKey.delete(id);
    if (!this.hidden.delete(id)) this.bus.emit('job.removed', { jobId: id });
  }

  private onUpdate(s: JobSnapshot): void {
    const key = structuralKey(s);
    const structural = this.lastKey.get(s.id) !== key;
    this.lastKey.set(s.id, key);
    if (structural) {
      this.flush(s.id, s);
      if (FINISHED.has(s.state)) this.bus.emit('log.appended', { id: s.id });
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
