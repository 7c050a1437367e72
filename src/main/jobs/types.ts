import type { JobKind, JobQuestion, JobSnapshot } from '../../shared/jobs.js';
import type { LocalText } from '../../shared/local-text.js';
import type { SecretValue } from './secret-value.js';

/** One line of a job's log (esptool output, boot log, step notes). Never holds secrets. */
export interface JobLogLine {
  jobId: string;
  at: string;
  /** Step running when the line was written, if any. */
  step?: string;
  level: 'info' | 'warn' | 'error' | 'debug';
  text: string;
}

/** Fields a job may set on its snapshot as it learns them. */
export type JobFacts = Partial<
  Pick<
    JobSnapshot,
    'mac' | 'gatewayCode' | 'gatewayId' | 'certificateSerial' | 'certificateExpiresAt' | 'firmware' | 'operator' | 'accountId' | 'serverUrl'
  >
> & { facts?: Record<string, string> };

export interface StepOptions {
  /** Longest the step may run, in milliseconds. */
  timeoutMs?: number;
}

/** Handed to a running step. */
export interface StepHandle {
  readonly name: string;
  /** Aborted when the job is cancelled or the step runs out of time; pass it to everything that can wait. */
  readonly signal: AbortSignal;
  /**
   * Fraction 0..1 of this step and an optional short text ("0x10000: 128 KiB of 742 KiB"), with
   * the same for the renderer to translate (`local`).
   */
  progress(fraction: number, detail?: string, local?: LocalText): void;
  /** Short text shown next to the step and stored in the station log; `local`: the same for the renderer to translate. */
  detail(text: string, local?: LocalText): void;
  log(text: string, level?: JobLogLine['level']): void;
}

export type QuestionInput = Omit<JobQuestion, 'id' | 'secret'>;

/** The answer to a secret question: the choice, and the secret when the operator gave one. */
export interface SecretAnswer {
  choice: string;
  secret?: SecretValue;
}

/** What a job definition gets to drive its steps. */
export interface JobContext {
  readonly jobId: string;
  readonly signal: AbortSignal;
  /**
   * Runs one declared step: records status, timing, progress and failure. With `timeoutMs` the step
   * is stopped (its signal aborted) and the job fails with STEP_TIMEOUT when it runs longer, so no
   * device or peer that stops answering can leave a job hanging.
   */
  step<T>(name: string, run: (step: StepHandle) => Promise<T>, options?: StepOptions): Promise<T>;
  /** Marks a declared step as skipped (with the reason as its detail; `local`: the same for the renderer to translate). */
  skip(name: string, reason: string, local?: LocalText): void;
  /** Asks the operator; resolves with one of `choices`. Rejects when the job is cancelled. */
  ask(question: QuestionInput): Promise<string>;
  /**
   * Asks a question whose answer may carry a secret (a password): the question is marked `secret`
   * for the UI, and the value reaches only this caller — never the job log, a snapshot, an event or
   * the station log (and while the job runs, any log line or detail containing it is masked).
   */
  askSecret(question: QuestionInput): Promise<SecretAnswer>;
  /** Sets facts on the job snapshot (MAC, certificate serial, firmware, ...). */
  update(facts: JobFacts): void;
  log(text: string, level?: JobLogLine['level']): void;
}

export interface StepDeclaration {
  name: string;
  /** Share of the job's overall progress (relative; default 1). */
  weight?: number;
  /** Longest the step may run (time waiting for the operator not counted); see `JobContext.step`. */
  timeoutMs?: number;
}

/**
 * A job: its declared steps (so the UI can show them before they run) and `run`, which drives
 * them through the context. `run` must keep its state local so that a retry can run it again.
 */
export interface JobDefinition {
  kind: JobKind;
  /** Serial port path or `host:port`; two jobs on the same target never run at the same time. */
  target: string;
  steps: readonly StepDeclaration[];
  /** Facts known before the job starts (operator, account, server, firmware). */
  initial?: JobFacts;
  run(ctx: JobContext): Promise<void>;
}
