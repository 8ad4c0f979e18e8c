import { AirlockError, describeError as describe, type ErrorCode, type ErrorKind } from '@airlock/core'

/**
 * Failures only the web app has: a browser without what the app needs, or local storage failing.
 * Everything else is one of core's `AirlockError`s (a server's error response is core's
 * `ServerError`); {@link describeError} turns any of them into what the page shows.
 */
export type WebErrorCode = 'UNSUPPORTED' | 'STORAGE' | MovedToCore

/**
 * @deprecated Core has these as classes (`NotSetUpError`, `DeviceRemovedError`,
 * `InvalidInputError`, `NotFoundError`). Only worker/account.ts and worker/items.ts, whose flows
 * are moving into core, still throw them as `WebError`s; the codes go with those throw sites.
 */
type MovedToCore = 'NOT_SET_UP' | 'DEVICE_REMOVED' | 'USAGE' | 'NOT_FOUND'

const CORE_CODE = {
  NOT_SET_UP: 'NOT_SET_UP',
  DEVICE_REMOVED: 'DEVICE_REMOVED',
  USAGE: 'INVALID_INPUT',
  NOT_FOUND: 'NOT_FOUND',
} as const satisfies Record<MovedToCore, ErrorCode>

export class WebError extends Error {
  readonly code: WebErrorCode
  constructor(code: WebErrorCode, message: string) {
    super(message)
    this.name = 'WebError'
    this.code = code
  }
}

// Until the callers say ServerError/isServerError themselves.
export { isServerError as isApiError, ServerError as ApiError } from '@airlock/core'

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
  if (e instanceof WebError) {
    if (e.code === 'UNSUPPORTED' || e.code === 'STORAGE')
      return { code: e.code, kind: 'failed', message: e.message }
    return describe(new AirlockError(CORE_CODE[e.code], e.message))
  }
  if (e instanceof DOMException && e.name === 'QuotaExceededError')
    return { code: 'STORAGE', kind: 'failed', message: 'this browser has no room left for the file' }
  return describe(e)
}
