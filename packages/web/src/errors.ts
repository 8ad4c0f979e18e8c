import {
  ColleagueKeysChangedError,
  isAirlockError,
  isServerError,
  PolicyError,
  printable,
  ServerError,
} from '@airlock/core'

/**
 * What crosses from the worker to the page when something fails: a stable code and a message for
 * people. Core's codes (SIGNATURE, HASH_MISMATCH, ROLLBACK, …) pass through unchanged; the
 * app's own are below; the server's API codes arrive as `API_<CODE>`.
 */
export type WebErrorCode =
  | 'NETWORK'
  | 'BAD_RESPONSE'
  | 'NOT_SET_UP'
  | 'DEVICE_REMOVED'
  | 'RECIPIENTS_CHANGED'
  | 'UNSUPPORTED'
  | 'CANCELLED'
  | 'STORAGE'

export class WebError extends Error {
  readonly code: WebErrorCode | string
  constructor(code: WebErrorCode | string, message: string) {
    super(message)
    this.name = 'WebError'
    this.code = code
  }
}

/** An error response of the server: core's `ServerError`. */
export { ServerError as ApiError }

export function isApiError(e: unknown, apiCode?: ServerError['apiCode']): e is ServerError {
  return isServerError(e, apiCode)
}

export interface ErrorInfo {
  code: string
  message: string
  /** True when something did not verify: the page shows it as a security warning. */
  security: boolean
}

const SECURITY_MESSAGES: Record<string, string> = {
  SIGNATURE: 'This item is not signed by an active device of your verified device list. It was refused.',
  HASH_MISMATCH: 'The encrypted data from the server does not match what the sender signed. It was refused.',
  ID_MISMATCH: 'The server sent an item under another id or conversation. It was refused.',
  NOT_RECIPIENT: 'This device is not a recipient of this item.',
  ROLLBACK: 'Security warning: the server showed an older device list than this browser already verified.',
  FORK: 'Security warning: the server showed a device list that contradicts the one this browser verified.',
  DEVICE_LOG: 'The device list from the server does not verify.',
  GROUP_LOG: 'The member list of this group from the server does not verify.',
  DOWNGRADE: 'The item is not encrypted with post-quantum keys only. It was refused.',
  HEADER: 'The encrypted data is malformed. It was refused.',
  HEADER_MAC: 'The encrypted header was altered. It was refused.',
  NO_MATCH: 'This item is not encrypted to this device.',
  PAYLOAD_AUTH: 'The encrypted data was altered. It was refused.',
  TRUNCATED: 'The encrypted data is truncated. It was refused.',
  MANIFEST: 'The item description is malformed. It was refused.',
  PAKE_FAILED: 'The linking code did not match (or someone interfered). Start again with a new code.',
  LINK_INVALID: 'That is not a valid Airlock link or code.',
  LINK_EXPIRED: 'The linking code has expired. Start again on the new device.',
  ACCESS_LOG_TAMPERED:
    "Security warning: the server's record of who downloaded this item does not verify: an entry was edited, deleted or reordered.",
  SHARE_LINK: 'This link is incomplete or wrong: copy the whole link, including the part after #.',
  WRONG_PASSPHRASE: 'Wrong passphrase. Check it with the person who sent you the link.',
}

const CLIENT_SECURITY = {
  NETWORK: false,
  BAD_RESPONSE: true,
  LOGIN_REFUSED: false,
  DEVICE_REMOVED: false,
  NOT_FOUND: false,
  RECIPIENTS_CHANGED: false,
  CANCELLED: false,
}

const NOT_SECURITY = new Set([
  'INVALID_INPUT',
  'KEY_FORMAT',
  'LIMIT',
  'LINK_DECLINED',
  'LINK_EXPIRED',
  'SHARE_LINK',
  'WRONG_PASSPHRASE',
])

/** One message for people and whether it is a security failure, for any error. */
export function describeError(e: unknown): ErrorInfo {
  if (e instanceof ServerError) return describeApiError(e)
  if (isAirlockError(e, 'LOGIN_REFUSED'))
    return {
      code: e.code,
      message:
        'The server refuses this browser’s login. If you removed this device on another device, choose “Forget this browser”; if not, the server may be misbehaving. The keys are kept.',
      security: false,
    }
  // Core's client-side failures: only a malformed answer from the server is a security failure.
  if (isAirlockError(e) && e.code in CLIENT_SECURITY)
    return {
      code: e.code,
      message: e.message,
      security: CLIENT_SECURITY[e.code as keyof typeof CLIENT_SECURITY],
    }
  if (e instanceof WebError)
    return {
      code: e.code,
      message: e.message,
      security: e.code === 'BAD_RESPONSE',
    }
  // A label the server changed is tampering; any other policy refusal is the organisation's rule.
  if (e instanceof PolicyError)
    return e.rule === 'label-mismatch'
      ? {
          code: 'LABEL_MISMATCH',
          message: 'The server changed this item’s sensitivity label. It was refused.',
          security: true,
        }
      : {
          code: 'POLICY',
          message: `Your organisation’s policy does not allow this: ${e.message}`,
          security: false,
        }
  if (e instanceof ColleagueKeysChangedError)
    return {
      code: 'COLLEAGUE_KEYS_CHANGED',
      message: `Security warning: ${printable(e.message)}`,
      security: true,
    }
  if (isAirlockError(e))
    return {
      code: e.code,
      message: SECURITY_MESSAGES[e.code] ?? e.message,
      security: !NOT_SECURITY.has(e.code),
    }
  if (e instanceof DOMException && e.name === 'AbortError')
    return { code: 'CANCELLED', message: 'cancelled', security: false }
  if (e instanceof DOMException && e.name === 'QuotaExceededError')
    return { code: 'STORAGE', message: 'this browser has no room left for the file', security: false }
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e), security: false }
}

const API_MESSAGES: Record<string, string> = {
  UNAUTHENTICATED: 'the session ended; try again',
  FORBIDDEN: 'the server does not allow this (for a code: it is unknown, used or expired)',
  NOT_FOUND: 'not found (it may have been deleted or expired)',
  USERNAME_TAKEN: 'that username is taken',
  GONE: 'this has expired or was closed',
  SHARE_SUSPENDED: 'this link is suspended while its owner’s account is disabled',
  ITEM_TOO_LARGE: 'the file is larger than this server accepts',
  QUOTA_EXCEEDED: 'your storage quota on this server is full',
  RATE_LIMITED: 'too many attempts; wait a minute and try again',
  UNAVAILABLE: 'the server is busy or restarting; try again shortly',
  INVALID_BODY: 'the server did not accept that input',
  POLICY_FORBIDS: 'your organisation’s policy does not allow this',
  ACCOUNT_DISABLED: 'an administrator has disabled this account',
}

/**
 * A server error in the app's own words, chosen by its code. The server's text is untrusted (it
 * could try to instruct the user), so it is shown only as a short, escaped detail.
 */
function describeApiError(e: ServerError): ErrorInfo {
  const detail = printable(e.message).slice(0, 120)
  const own = API_MESSAGES[e.apiCode] ?? `the server refused (${e.apiCode})`
  return {
    code: `API_${e.apiCode}`,
    message: detail ? `${own} — server says: “${detail}”` : own,
    security: false,
  }
}
