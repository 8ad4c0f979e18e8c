import { describeError as describe, type ErrorKind } from '@airlock/core'

/**
 * Failures only the web app has: a browser without what the app needs, or local storage failing.
 * Everything else is one of core's `AirlockError`s (a server's error response is core's
 * `ServerError`); {@link describeError} turns any of them into what the page shows.
 */
export type WebErrorCode = 'UNSUPPORTED' | 'STORAGE'

export class WebError extends Error {
  readonly code: WebErrorCode
  constructor(code: WebErrorCode, message: string) {
    super(message)
    this.name = 'WebError'
    this.code = code
  }
}

// Until the callers say ServerError/isServerError themselves.

/** What crosses from the worker to the page when something fails. */
export interface ErrorInfo {
  /** Core's code, the server's API code, or one of {@link WebErrorCode}. */
  code: string
  /** `security` is the only kind the page shows as a warning, in red. */
  kind: ErrorKind
  message: string
}

/** One message for people and its kind, for any error; core decides both but for the app's own. */
export function describeError(e: unknown): ErrorInfo {
  if (e instanceof WebError) return { code: e.code, kind: 'failed', message: e.message }
  if (e instanceof DOMException && e.name === 'QuotaExceededError')
    return { code: 'STORAGE', kind: 'failed', message: 'this browser has no room left for the file' }
  return describe(e)
}
