import {
  type ApiErrorCode,
  type ErrorCode,
  isAirlockError,
  isServerError,
  PolicyError,
  printable,
  ServerError,
} from '@airlock/core'

/**
 * Failures of the CLI itself. Core's `AirlockError`s (verification, formats) pass through
 * unchanged; {@link describeError} turns either kind into one line for people and an exit code.
 */
export type CliErrorCode =
  | 'USAGE'
  | 'NOT_SET_UP'
  | 'ALREADY_SET_UP'
  | 'CONFIG'
  | 'NETWORK'
  | 'API'
  | 'BAD_RESPONSE'
  | 'LOGIN_FAILED'
  | 'DEVICE_REMOVED'
  | 'NOT_FOUND'
  | 'IO'
  | 'CANCELLED'
  | 'WEB_MISMATCH'
  | 'RECIPIENTS_CHANGED'
  | 'UPLOAD_PENDING'
  | 'SPOOL_GAP'
  | 'FINGERPRINT_MISMATCH'
  | 'NOT_ADMIN'
  | 'POLICY'

export class CliError extends Error {
  readonly code: CliErrorCode
  constructor(code: CliErrorCode, message: string) {
    super(message)
    this.code = code
    this.name = new.target.name
  }
}

/** An error response of the server: core's `ServerError`. */
export { ServerError as ApiError }

/** True for a CLI error, optionally of one code. */
export function isCliError(e: unknown, code?: CliErrorCode): e is CliError {
  return e instanceof CliError && (code === undefined || e.code === code)
}

/** True for a server error response of `apiCode`. */
export function isApiError(e: unknown, apiCode?: ApiErrorCode): e is ServerError {
  return isServerError(e, apiCode)
}

/** Exit codes, documented in `airlock --help`. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  config: 3,
  network: 4,
  auth: 5,
  /** Something did not verify: the item, the device log or a linking step. Nothing was written. */
  security: 6,
  notFound: 7,
  /** An upload was interrupted and is saved for `airlock resume`. */
  pending: 8,
  /** An item's access log does not verify: a stored row was edited, deleted or reordered. */
  tampered: 9,
  /** The command needs an administrator. */
  notAdmin: 10,
  /** The organisation's policy forbids it (a label rule, share links, the size limit). */
  policy: 11,
  cancelled: 130,
} as const

const SECURITY_MESSAGES: Partial<Record<ErrorCode, string>> = {
  SIGNATURE: 'the item is not signed by an active device of your verified device log',
  HASH_MISMATCH: 'the ciphertext the server sent does not match the signed hash',
  ID_MISMATCH: 'the server sent an item under another id or conversation',
  NOT_RECIPIENT: 'this device is not a recipient of the item',
  ROLLBACK:
    'SECURITY WARNING: the server presented an older device log than this device already verified (rollback)',
  FORK: 'SECURITY WARNING: the server presented a device log that contradicts the one this device verified (fork)',
  DEVICE_LOG: 'the device log from the server does not verify',
  DOWNGRADE: 'the item is not encrypted to post-quantum recipients only',
  HEADER: 'the encrypted data is malformed',
  HEADER_MAC: 'the encrypted header was altered',
  NO_MATCH: 'the item is not encrypted to this device',
  PAYLOAD_AUTH: 'the encrypted data was altered',
  TRUNCATED: 'the encrypted data is truncated',
  MANIFEST: 'the item manifest is malformed',
  PAKE_FAILED: 'the linking code did not match (or someone interfered); start again with a new code',
  LINK_INVALID: 'that is not a valid Airlock link or code',
  LINK_EXPIRED: 'the linking code has expired; start again on the new device',
  SHARE_LINK:
    'this is not a valid Airlock share link, or its key (after #) does not open it; copy the whole link',
  WRONG_PASSPHRASE: 'wrong passphrase for this share link',
}

/** One line for people, a stable code for scripts, and the process exit code. */
export function describeError(e: unknown): { code: string; message: string; exit: number } {
  if (e instanceof ServerError) {
    const exit =
      e.apiCode === 'UNAUTHENTICATED' || e.apiCode === 'BAD_SIGNATURE' || e.apiCode === 'ACCOUNT_DISABLED'
        ? EXIT.auth
        : e.apiCode === 'POLICY_FORBIDS'
          ? EXIT.policy
          : e.apiCode === 'NOT_FOUND' || e.apiCode === 'GONE'
            ? EXIT.notFound
            : e.apiCode === 'UNAVAILABLE' || e.apiCode === 'INTERNAL'
              ? EXIT.network
              : EXIT.failure
    // The server is untrusted: its message is shown only after escaping.
    return { code: e.apiCode, message: `the server refused: ${printable(e.message).slice(0, 300)}`, exit }
  }
  if (e instanceof CliError) {
    const exit: Record<CliErrorCode, number> = {
      USAGE: EXIT.usage,
      NOT_SET_UP: EXIT.config,
      ALREADY_SET_UP: EXIT.config,
      CONFIG: EXIT.config,
      NETWORK: EXIT.network,
      API: EXIT.failure,
      BAD_RESPONSE: EXIT.security,
      LOGIN_FAILED: EXIT.auth,
      DEVICE_REMOVED: EXIT.auth,
      NOT_FOUND: EXIT.notFound,
      IO: EXIT.failure,
      CANCELLED: EXIT.cancelled,
      WEB_MISMATCH: EXIT.security,
      RECIPIENTS_CHANGED: EXIT.failure,
      UPLOAD_PENDING: EXIT.pending,
      SPOOL_GAP: EXIT.pending,
      FINGERPRINT_MISMATCH: EXIT.security,
      NOT_ADMIN: EXIT.notAdmin,
      POLICY: EXIT.policy,
    }
    return { code: e.code, message: e.message, exit: exit[e.code] }
  }
  if (isAirlockError(e) && e.code in CLIENT_EXIT) {
    return { code: e.code, message: e.message, exit: CLIENT_EXIT[e.code as keyof typeof CLIENT_EXIT] }
  }
  if (isAirlockError(e)) {
    const known = SECURITY_MESSAGES[e.code]
    if (e.code === 'ACCESS_LOG_TAMPERED') {
      return {
        code: e.code,
        message: `SECURITY WARNING: the access log of this item does not verify (${printable(e.message)}): the server's record of who downloaded it was edited, deleted or reordered`,
        exit: EXIT.tampered,
      }
    }
    // A label the server changed is tampering; any other policy refusal is the organisation's rule.
    if (isPolicyError(e)) {
      return e.rule === 'label-mismatch'
        ? { code: 'LABEL_MISMATCH', message: `SECURITY WARNING: ${e.message}`, exit: EXIT.security }
        : { code: 'POLICY', message: `refused by the organisation's policy: ${e.message}`, exit: EXIT.policy }
    }
    const exit =
      e.code === 'LINK_DECLINED'
        ? EXIT.cancelled
        : e.code === 'WRONG_PASSPHRASE'
          ? EXIT.auth
          : e.code === 'SHARE_LINK'
            ? EXIT.usage
            : e.code === 'INVALID_INPUT' || e.code === 'KEY_FORMAT' || e.code === 'LIMIT'
              ? 1
              : EXIT.security
    return { code: e.code, message: known ?? e.message, exit }
  }
  const err = e as NodeJS.ErrnoException
  if (err && typeof err.code === 'string' && typeof err.syscall === 'string') {
    const what = err.code === 'ENOENT' ? 'no such file or directory' : err.code
    return { code: 'IO', message: `${what}${err.path ? `: ${printable(err.path)}` : ''}`, exit: EXIT.failure }
  }
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e), exit: EXIT.failure }
}

/** Core's client-side failures (a flow's network, answer, login and state errors). */
const CLIENT_EXIT = {
  NETWORK: EXIT.network,
  BAD_RESPONSE: EXIT.security,
  LOGIN_REFUSED: EXIT.auth,
  DEVICE_REMOVED: EXIT.auth,
  NOT_FOUND: EXIT.notFound,
  RECIPIENTS_CHANGED: EXIT.failure,
  CANCELLED: EXIT.cancelled,
} satisfies Partial<Record<ErrorCode, number>>

function isPolicyError(e: unknown): e is PolicyError {
  return e instanceof PolicyError
}
