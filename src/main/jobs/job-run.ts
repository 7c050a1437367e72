import { randomUUID } from 'node:crypto';
import { isFinishedState, type FinishedState, type JobQuestion, type JobSnapshot, type StepSnapshot } from '../../shared/jobs.js';
import { localText, type LocalText } from '../../shared/local-text.js';
import { redactSecrets } from '../log/redact.js';
import { safeLine, safeLines, safeLogLines } from '../log/safe-text.js';
import { isAbortError, JobFailure, JobSkipped, toJobError } from './job-failure.js';
import { SecretValue } from './secret-value.js';
import { StepClock } from './step-clock.js';
import type { JobContext, JobDefinition, JobFacts, JobLogLine, QuestionInput, SecretAnswer, StepHandle, StepOptions } from './types.js';

export interface JobRunHooks {
  onUpdate(snapshot: JobSnapshot): void;
  onLog(line: JobLogLine): void;
}

/** Progress-only snapshot updates are sent at most this often per job. */
const PROGRESS_INTERVAL_MS = 100;
/** Secret answers at least this long are masked in the job's texts while it runs. */
const MIN_MASKED_SECRET = 4;

/**
 * One execution of a job definition: owns its snapshot, cancel signal and pending question. Longer
 * than most files because steps, questions, secrets masking and the snapshot share one state and
 * read best in one place.
 */
export class JobRun {
  readonly id: string;
  readonly definition: JobDefinition;
  private readonly controller = new AbortController();
  private readonly snap: JobSnapshot;
  private readonly weights = new Map<string, number>();
  private question: { q: JobQuestion; resolve(answer: SecretAnswer): void; reject(err: Error): void } | undefined;
  /** Secrets answered to this run, masked in every text it emits; dropped when it ends. */
  private readonly secrets = new Set<string>();
  private currentStep: string | undefined;
  private stepClock: StepClock | undefined;
  private lastProgressEmit = 0;
  private progressTimer: NodeJS.Timeout | undefined;

  constructor(
    definition: JobDefinition,
    private readonly hooks: JobRunHooks,
    options: { id?: string; retryOf?: string } = {},
  ) {
    this.id = options.id ?? randomUUID();
    this.definition = definition;
    for (const s of definition.steps) this.weights.set(s.name, s.weight ?? 1);
    this.snap = {
      id: this.id,
      kind: definition.kind,
      target: definition.target,
      state: 'queued',
      progress: 0,
      steps: definition.steps.map((s) => ({ name: s.name, status: 'pending' })),
      createdAt: new Date().toISOString(),
    };
    if (options.retryOf) this.snap.retryOf = options.retryOf;
    if (definition.initial) this.applyFacts(definition.initial);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  snapshot(): JobSnapshot {
    return structuredClone(this.snap);
  }

  isFinished(): boolean {
    return isFinishedState(this.snap.state);
  }

  /** Cancels a queued or running job; a finished job is left alone. */
  cancel(): void {
    if (this.isFinished()) return;
    if (this.snap.state === 'queued') {
      this.controller.abort();
      this.finish('cancelled', { code: 'CANCELLED', message: 'Cancelled before it started.', hint: 'Start it again when ready.' });
      return;
    }
    this.controller.abort();
    this.question?.reject(abortError());
  }

  /** Answers the open question; `secret` only for a question marked secret, and goes to the asking step only. */
  answer(questionId: string, choice: string, secret?: string): void {
    const pending = this.question;
    if (!pending || pending.q.id !== questionId) throw new Error(`job ${this.id} has no open question ${questionId}`);
    if (!pending.q.choices.includes(choice)) {
      throw new Error(`'${choice}' is not one of the choices (${pending.q.choices.join(', ')})`);
    }
    if (secret !== undefined && !pending.q.secret) throw new Error(`question ${questionId} (${pending.q.kind}) does not take a secret`);
    if (secret !== undefined && secret.length >= MIN_MASKED_SECRET) this.secrets.add(secret);
    pending.resolve(secret !== undefined ? { choice, secret: new SecretValue(secret) } : { choice });
  }

  /** Runs the definition once; resolves with the final snapshot (never rejects). */
  async execute(): Promise<JobSnapshot> {
    if (this.isFinished()) return this.snapshot();
    this.snap.state = 'running';
    this.snap.startedAt = new Date().toISOString();
    this.emit();
    try {
      await this.definition.run(this.context());
      if (this.controller.signal.aborted) throw abortError();
      this.finish('succeeded');
    } catch (err) {
      const operatorStop = err instanceof JobFailure && err.code === 'CANCELLED';
      if (err instanceof JobSkipped && !this.controller.signal.aborted) {
        this.finish('skipped', err.toJobError());
      } else if ((isAbortError(err, this.controller.signal) && !(err instanceof JobFailure)) || operatorStop) {
        const where = this.failedStepName();
        const message = operatorStop ? (err as JobFailure).message : 'Cancelled by the operator.';
        this.finish('cancelled', { code: 'CANCELLED', message, hint: 'Start it again when ready.', ...(where ? { where } : {}) });
      } else {
        const e = toJobError(err);
        const where = this.failedStepName();
        if (where) e.where = e.where ? `${where}: ${e.where}` : where;
        this.finish('failed', e);
      }
    }
    return this.snapshot();
  }

  private failedStepName(): string | undefined {
    return this.snap.steps.find((s) => s.status === 'failed')?.name;
  }

  private finish(state: FinishedState, error?: JobSnapshot['error']): void {
    for (const s of this.snap.steps) {
      if (s.status === 'running') {
        s.status = state === 'succeeded' ? 'done' : state === 'skipped' ? 'skipped' : 'failed';
        s.endedAt = new Date().toISOString();
      } else if (state === 'skipped' && s.status === 'pending') s.status = 'skipped';
    }
    if (state === 'succeeded') this.snap.progress = 1;
    this.snap.state = state;
    if (error) {
      const e = safeError(this.maskError(error));
      if (e.text) e.text = this.safeText(e.text);
      if (e.hintText) e.hintText = this.safeText(e.hintText);
      this.snap.error = e;
    }
    delete this.snap.question;
    this.question = undefined;
    this.snap.endedAt = new Date().toISOString();
    if (this.progressTimer) clearTimeout(this.progressTimer);
    this.log(
      state === 'succeeded' ? 'job succeeded' : `job ${state}: ${error?.code ?? ''} ${error?.message ?? ''}${error?.where ? ` (at ${error.where})` : ''}`,
      state === 'succeeded' ? 'info' : state === 'skipped' ? 'warn' : 'error',
    );
    this.secrets.clear();
    this.emit();
  }

  private context(): JobContext {
    return {
      jobId: this.id,
      signal: this.controller.signal,
      step: (name, run, options) => this.runStep(name, run, options),
      skip: (name, reason, local) => {
        const s = this.stepSnap(name);
        s.status = 'skipped';
        this.setDetail(s, reason, local);
        this.recomputeProgress();
        this.emit();
      },
      ask: async (q) => (await this.ask(q)).choice,
      askSecret: (q) => this.ask({ ...q, secret: true }),
      update: (facts) => {
        this.applyFacts(facts);
        this.emit();
      },
      log: (text, level) => this.log(text, level ?? 'info'),
    };
  }

  private async runStep<T>(name: string, run: (step: StepHandle) => Promise<T>, options: StepOptions = {}): Promise<T> {
    if (this.controller.signal.aborted) throw abortError();
    // The step's own signal: aborted with the job, or alone when the step runs out of time.
    const stepController = new AbortController();
    const forwardAbort = (): void => stepController.abort(this.controller.signal.reason);
    this.controller.signal.addEventListener('abort', forwardAbort, { once: true });
    let timedOut: JobFailure | undefined;
    const limit = options.timeoutMs ?? this.definition.steps.find((d) => d.name === name)?.timeoutMs;
    let clock: StepClock | undefined;
    const deadline =
      limit === undefined
        ? undefined
        : new Promise<never>((_, reject) => {
            clock = new StepClock(limit, () => {
              timedOut = new JobFailure('STEP_TIMEOUT', `The step "${name}" did not finish within ${Math.round(limit / 1000)} s and was stopped.`, {
                where: name,
              });
              stepController.abort(timedOut);
              reject(timedOut);
            });
          });
    // Time spent waiting for the operator does not count against the step.
    this.stepClock = clock;
    const s = this.stepSnap(name);
    s.status = 'running';
    s.startedAt = new Date().toISOString();
    delete s.endedAt;
    delete s.progress;
    delete s.waitedMs;
    delete s.detailText;
    this.currentStep = name;
    this.log(`step ${name} started`, 'debug');
    this.emit();
    const t0 = performance.now();
    const handle: StepHandle = {
      name,
      signal: stepController.signal,
      progress: (fraction, detail, local) => {
        s.progress = Math.max(0, Math.min(1, fraction));
        if (detail !== undefined) this.setDetail(s, this.mask(detail), local);
        this.recomputeProgress();
        this.emitProgress();
      },
      detail: (text, local) => {
        this.setDetail(s, this.mask(redactSecrets(text)), local);
        this.emit();
      },
      log: (text, level) => this.log(text, level ?? 'info'),
    };
    try {
      const work = run(handle);
      // A step that ignores its signal may settle after its deadline: nobody waits for it then.
      work.catch(() => undefined);
      const result = deadline ? await Promise.race([work, deadline]) : await work;
      if (this.controller.signal.aborted) throw abortError();
      s.status = 'done';
      s.progress = 1;
      s.endedAt = new Date().toISOString();
      this.log(`step ${name} done in ${Math.round(performance.now() - t0)} ms`, 'debug');
      return result;
    } catch (caught) {
      // Whatever the step threw once its time was up (an AbortError from its signal), the cause is the timeout.
      const err = timedOut ?? caught;
      s.status = err instanceof JobSkipped ? 'skipped' : 'failed';
      s.endedAt = new Date().toISOString();
      if (!isAbortError(err, this.controller.signal) || err instanceof JobFailure) {
        const e = toJobError(err);
        // The renderer says why in its language: the job's own sentence, else the code's headline; the English text is for the log.
        this.setDetail(s, this.mask(redactSecrets(e.where ? `${e.message} (${e.where})` : e.message)), e.text ?? localText(`common:errors.code.${e.code}`));
      } else {
        this.setDetail(s, 'cancelled', localText('core:stepDetail.cancelled'));
      }
      this.log(`step ${name} ${s.status} after ${Math.round(performance.now() - t0)} ms: ${s.detail}`, 'error');
      throw err;
    } finally {
      clock?.stop();
      this.stepClock = undefined;
      this.controller.signal.removeEventListener('abort', forwardAbort);
      this.currentStep = undefined;
      this.recomputeProgress();
      this.emit();
    }
  }

  private ask(input: QuestionInput & { secret?: boolean }): Promise<SecretAnswer> {
    if (this.controller.signal.aborted) return Promise.reject(abortError());
    if (this.question) return Promise.reject(new Error('a question is already open'));
    const q: JobQuestion = { id: randomUUID(), ...input, message: safeLines(input.message) };
    if (input.facts) q.facts = safeValues(input.facts);
    if (input.text) q.text = this.safeText(input.text);
    return new Promise<SecretAnswer>((resolve, reject) => {
      this.stepClock?.pause();
      // Time waiting for the operator is kept apart: it is not the step's (nor the job's) work.
      const waitingSince = performance.now();
      const step = this.currentStep ? this.stepSnap(this.currentStep) : undefined;
      const done = (): void => {
        this.stepClock?.resume();
        const waited = Math.round(performance.now() - waitingSince);
        this.snap.waitedMs = (this.snap.waitedMs ?? 0) + waited;
        if (step) step.waitedMs = (step.waitedMs ?? 0) + waited;
        this.question = undefined;
        delete this.snap.question;
        if (this.snap.state === 'waiting-input') this.snap.state = 'running';
        this.emit();
      };
      this.question = {
        q,
        resolve: (answer) => {
          done();
          this.log(`operator answered '${answer.choice}' to ${q.kind}${answer.secret ? ' (with a secret, not shown)' : ''}`);
          resolve(answer);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      this.snap.question = q;
      this.snap.state = 'waiting-input';
      this.log(`waiting for the operator: ${q.message}`);
      this.emit();
    });
  }

  private setDetail(s: StepSnapshot, text: string, local: LocalText | undefined): void {
    s.detail = safeLine(text);
    if (local) s.detailText = this.safeText(local);
    else delete s.detailText;
  }

  private stepSnap(name: string): StepSnapshot {
    let s = this.snap.steps.find((x) => x.name === name);
    if (!s) {
      s = { name, status: 'pending' };
      this.snap.steps.push(s);
      this.weights.set(name, 1);
    }
    return s;
  }

  private applyFacts(facts: JobFacts): void {
    const { facts: extra, ...rest } = facts;
    // Facts may come from the device (its MAC, firmware name, chip): escaped like every log text.
    Object.assign(this.snap, safeValues(rest));
    if (rest.firmware) this.snap.firmware = safeValues(rest.firmware);
    if (extra) {
      const masked = Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, safeLine(this.mask(v))]));
      this.snap.facts = { ...(this.snap.facts ?? {}), ...masked };
    }
  }

  /** A translatable text as shown and stored: its string parameters escaped and masked like every text. */
  private safeText(t: LocalText): LocalText {
    return t.params ? { key: t.key, params: Object.fromEntries(Object.entries(t.params).map(([k, v]) => [k, typeof v === 'string' ? safeLine(this.mask(redactSecrets(v))) : v])) } : { key: t.key };
  }

  /** Replaces every secret answered to this run (a last line of defence: steps must not echo them). */
  private mask(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('[secret]');
    return out;
  }

  private maskError(e: NonNullable<JobSnapshot['error']>): NonNullable<JobSnapshot['error']> {
    if (this.secrets.size === 0) return e;
    return {
      ...e,
      message: this.mask(e.message),
      ...(e.hint !== undefined ? { hint: this.mask(e.hint) } : {}),
      ...(e.where !== undefined ? { where: this.mask(e.where) } : {}),
      ...(e.attachment ? { attachment: { label: this.mask(e.attachment.label), text: this.mask(e.attachment.text) } } : {}),
    };
  }

  private recomputeProgress(): void {
    let total = 0;
    let done = 0;
    for (const s of this.snap.steps) {
      const w = this.weights.get(s.name) ?? 1;
      total += w;
      if (s.status === 'done' || s.status === 'skipped') done += w;
      else if (s.status === 'running' || s.status === 'failed') done += w * (s.progress ?? 0);
    }
    this.snap.progress = total > 0 ? Math.min(1, done / total) : 0;
  }

  /** A text with line breaks becomes several lines of the job log; none of them carries a control character. */
  private log(text: string, level: JobLogLine['level'] = 'info'): void {
    const at = new Date().toISOString();
    for (const piece of safeLogLines(this.mask(redactSecrets(text)))) {
      const line: JobLogLine = { jobId: this.id, at, level, text: piece };
      if (this.currentStep) line.step = this.currentStep;
      this.hooks.onLog(line);
    }
  }

  private emit(): void {
    if (this.progressTimer) {
      clearTimeout(this.progressTimer);
      this.progressTimer = undefined;
    }
    this.lastProgressEmit = Date.now();
    this.hooks.onUpdate(this.snapshot());
  }

  private emitProgress(): void {
    const wait = PROGRESS_INTERVAL_MS - (Date.now() - this.lastProgressEmit);
    if (wait <= 0) this.emit();
    else if (!this.progressTimer) this.progressTimer = setTimeout(() => this.emit(), wait);
  }
}

/** Every string value escaped as one line; other values as they are. */
function safeValues<T extends object>(values: T): T {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === 'string' ? safeLine(v) : v])) as T;
}

/** A job's error as shown and stored: message and hint may span lines, the rest is one line each. */
function safeError(e: NonNullable<JobSnapshot['error']>): NonNullable<JobSnapshot['error']> {
  return {
    ...e,
    message: safeLines(e.message),
    ...(e.hint !== undefined ? { hint: safeLines(e.hint) } : {}),
    ...(e.where !== undefined ? { where: safeLine(e.where) } : {}),
    ...(e.attachment ? { attachment: { label: safeLine(e.attachment.label), text: safeLines(e.attachment.text) } } : {}),
  };
}

function abortError(): Error {
  const e = new Error('cancelled');
  e.name = 'AbortError';
  return e;
}
