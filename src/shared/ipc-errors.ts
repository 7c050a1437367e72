import type { ErrorCode } from './errors.js';
import type { FieldIssue } from './validation.js';

/** How a failed request crosses the boundary: a code the UI translates, a message, a hint, field issues. */

export type IpcErrorCode =
  | 'INVALID_INPUT'
  | 'UNKNOWN_CHANNEL'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'NOT_CONFIGURED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'BUSY'
  | 'UNAVAILABLE'
  | 'CREDENTIALS_NEEDED'
  | ErrorCode;

export interface IpcErrorBody {
  code: IpcErrorCode;
  message: string;
  hint?: string;
  /** Field problems for INVALID_INPUT (dotted paths into the request). */
  issues?: FieldIssue[];
}

/** Thrown by the core for failures the user can act on; crosses the boundary as its body. */
export class StationError extends Error {
  readonly code: IpcErrorCode;
  readonly hint: string | undefined;
  readonly issues: FieldIssue[] | undefined;
  constructor(code: IpcErrorCode, message: string, options: { hint?: string; issues?: FieldIssue[]; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StationError';
    this.code = code;
    this.hint = options.hint;
    this.issues = options.issues;
  }
  toBody(): IpcErrorBody {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}), ...(this.issues ? { issues: this.issues } : {}) };
  }
}

/** What a transport returns for one request. */
export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: IpcErrorBody };
