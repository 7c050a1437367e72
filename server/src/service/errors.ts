/** Errors of the service layer; the HTTP layer maps each to a status and `{error, details}`. */
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
