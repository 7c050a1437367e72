import { ERROR_TEXT, type ErrorCode, type JobError } from '../../shared/errors.js';
import type { LocalText } from '../../shared/local-text.js';

export interface FailureOptions {
  hint?: string;
  where?: string;
  attachment?: JobError['attachment'];
  cause?: unknown;
  /** The message and hint for the renderer to translate (the English ones stay for logs and the CLI). */
  text?: LocalText;
  hintText?: LocalText;
}

/** An error a technician can act on: code + message + hint (+ where it happened). */
export class JobFailure extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly where: string | undefined;
  readonly attachment: JobError['attachment'];
  readonly text: LocalText | undefined;
  readonly hintText: LocalText | undefined;

  constructor(code: ErrorCode, message?: string, options: FailureOptions = {}) {
    super(message ?? ERROR_TEXT[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'JobFailure';
    this.code = code;
    this.hint = options.hint ?? ERROR_TEXT[code].hint;
    this.where = options.where;
    this.attachment = options.attachment;
    this.text = options.text;
    this.hintText = options.hintText;
  }

  toJobError(): JobError {
    const e: JobError = { code: this.code, message: this.message, hint: this.hint };
    if (this.where !== undefined) e.where = this.where;
    if (this.attachment !== undefined) e.attachment = this.attachment;
    if (this.text !== undefined) e.text = this.text;
    if (this.hintText !== undefined) e.hintText = this.hintText;
    return e;
  }
}

/**
 * The job stops on purpose without having changed the device (e.g. the MAC is already provisioned
 * and the operator chose "stop"): it ends `skipped`, not `failed`, with this code and message as
 * the reason.
 */
export class JobSkipped extends JobFailure {
  constructor(code: ErrorCode, message?: string, options: FailureOptions = {}) {
    super(code, message, options);
    this.name = 'JobSkipped';
  }
}

/** The error AbortSignal-aware code throws when a job is cancelled. */
export function isAbortError(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR');
}

/** Any thrown value as a JobError (unknown errors become INTERNAL with their message). */
export function toJobError(err: unknown): JobError {
  if (err instanceof JobFailure) return err.toJobError();
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'INTERNAL', message: message || ERROR_TEXT.INTERNAL.message, hint: ERROR_TEXT.INTERNAL.hint };
}

/** Resolves after `ms`, rejects with AbortError when `signal` aborts first. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      const e = new Error('cancelled');
      e.name = 'AbortError';
      reject(e);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      const e = new Error('cancelled');
      e.name = 'AbortError';
      reject(e);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
