/** Errors thrown by ApiClient: the server answered with an error, or it could not be reached. */
import type { ApiErrorBody } from '../contract/api.js';

/** The server answered with a non-2xx status; `error` and `details` are its `{error, details?}`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly error: string,
    readonly details: ApiErrorBody['details'] | undefined,
    readonly method: string,
    readonly path: string,
    /** The answer's `Retry-After` in seconds (429 rate limits and lockouts, 503), when it had one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${method} ${path} → ${status}: ${error}`);
  }

  /** The input field the server blamed, if any. */
  get field(): string | undefined {
    return this.details?.field;
  }
}

export type UnreachableReason = 'refused' | 'timeout' | 'dns' | 'tls' | 'reset' | 'other';

/** No HTTP answer at all: refused, timed out, unknown host, TLS failure (e.g. wrong pinned CA), reset. */
export class ServerUnreachableError extends Error {
  override readonly name = 'ServerUnreachableError';
  constructor(
    readonly reason: UnreachableReason,
    readonly baseUrl: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}
