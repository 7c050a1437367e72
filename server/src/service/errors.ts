/** Errors of the service layer; the HTTP layer maps each to a status and `{error, details}`. */
import type { BootstrapErrorCode } from '../contract/bootstrap.js';
export class ValidationError extends Error {
  constructor(
    readonly field: string | undefined,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export class ForbiddenError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export class UnauthorizedError extends Error {}

/** Too many attempts; `retryAfterSeconds` goes into Retry-After. */
export class TooManyRequestsError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/**
 * A refusal on a device endpoint of zero-touch onboarding: its HTTP status, the stable
 * `details.code` firmware acts on (docs/zero-touch.md §3.10), and, for waits, Retry-After.
 */
export class DeviceError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 410 | 429,
    readonly code: BootstrapErrorCode,
    message: string,
    readonly extra: { field?: string; retryAfterSeconds?: number; details?: Record<string, unknown> } = {},
  ) {
    super(message);
  }
}

/** A feature this server cannot offer in its current set-up (e.g. no birth CA loaded): 503. */
export class UnavailableError extends Error {}
