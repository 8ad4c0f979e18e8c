import { API_ERROR_STATUS, type ApiErrorBody, type ApiErrorCode } from '@airlock/core'

/**
 * Every failure the server reports is a `ServerError` with an API error code; the one table
 * `API_ERROR_STATUS` (shared with clients in core's `api.ts`) maps codes to HTTP status. Messages
 * are for people and never carry tokens, codes, keys or names.
 */
export class ServerError extends Error {
  readonly code: ApiErrorCode
  /** Extra response headers (e.g. `Retry-After`, `Content-Range`). */
  readonly headers: Readonly<Record<string, string>>

  constructor(code: ApiErrorCode, message: string, headers: Record<string, string> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.code = code
    this.headers = headers
    this.name = new.target.name
  }

  get status(): number {
    return API_ERROR_STATUS[this.code]
  }

  toBody(): ApiErrorBody {
    return { error: { code: this.code, message: this.message } }
  }
}

export class BadRequestError extends ServerError {
  constructor(message = 'bad request') {
    super('BAD_REQUEST', message)
  }
}

export class InvalidBodyError extends ServerError {
  constructor(message = 'invalid request body') {
    super('INVALID_BODY', message)
  }
}

export class UnauthenticatedError extends ServerError {
  constructor(message = 'authentication required') {
    super('UNAUTHENTICATED', message)
  }
}

export class ForbiddenError extends ServerError {
  constructor(message = 'not allowed') {
    super('FORBIDDEN', message)
  }
}

/** An administrator disabled the account: no login, no session. */
export class AccountDisabledError extends ServerError {
  constructor() {
    super('ACCOUNT_DISABLED', 'this account has been disabled by an administrator')
  }
}

/** Also used for things that exist but belong to someone else, so existence never leaks. */
export class NotFoundError extends ServerError {
  constructor(message = 'not found') {
    super('NOT_FOUND', message)
  }
}

export class ConflictError extends ServerError {
  constructor(message: string) {
    super('CONFLICT', message)
  }
}

export class RateLimitedError extends ServerError {
  constructor(retryAfterSeconds: number) {
    super('RATE_LIMITED', 'too many requests; try again later', {
      'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))),
    })
  }
}

export class PayloadTooLargeError extends ServerError {
  constructor(message = 'request body is too large') {
    super('PAYLOAD_TOO_LARGE', message)
  }
}

export function isServerError(e: unknown, code?: ApiErrorCode): e is ServerError {
  return e instanceof ServerError && (code === undefined || e.code === code)
}
