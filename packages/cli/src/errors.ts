import { describeError as describe, type ErrorKind, printable } from '@airlock/core'

/**
 * Failures only the CLI has: its command line, its home directory and files, its outbox, and the
 * checks only it makes. Everything else is one of core's `AirlockError`s (a server's error
 * response is core's `ServerError`); {@link describeError} turns any of them into one line for
 * people and an exit code.
 */
export type CliErrorCode =
  | 'USAGE'
  | 'CONFIG'
  | 'IO'
  | 'WEB_MISMATCH'
  | 'UPLOAD_PENDING'
  | 'SPOOL_GAP'
  | 'FINGERPRINT_MISMATCH'
  | 'NOT_ADMIN'
  | MovedToCore

/**
 * @deprecated Core has these as classes (`BadResponseError`, `NotFoundError`). Only session.ts and
 * items.ts, whose flows are moving into core, still throw them as `CliError`s; the codes go with
 * those throw sites.
 */
type MovedToCore = 'BAD_RESPONSE' | 'NOT_FOUND'

export class CliError extends Error {
  readonly code: CliErrorCode
  constructor(code: CliErrorCode, message: string) {
    super(message)
    this.code = code
    this.name = new.target.name
  }
}

/** True for a CLI error, optionally of one code. */
export function isCliError(e: unknown, code?: CliErrorCode): e is CliError {
  return e instanceof CliError && (code === undefined || e.code === code)
}

// Until the callers say ServerError/isServerError themselves.
export { isServerError as isApiError, ServerError as ApiError } from '@airlock/core'

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

/** The exit code of each kind of failure core describes. */
const KIND_EXIT = {
  security: EXIT.security,
  auth: EXIT.auth,
  setup: EXIT.config,
  input: EXIT.usage,
  notFound: EXIT.notFound,
  policy: EXIT.policy,
  conflict: EXIT.failure,
  refused: EXIT.failure,
  network: EXIT.network,
  cancelled: EXIT.cancelled,
  failed: EXIT.failure,
} as const satisfies Record<ErrorKind, number>

const CLI_EXIT = {
  USAGE: EXIT.usage,
  CONFIG: EXIT.config,
  IO: EXIT.failure,
  WEB_MISMATCH: EXIT.security,
  UPLOAD_PENDING: EXIT.pending,
  SPOOL_GAP: EXIT.pending,
  FINGERPRINT_MISMATCH: EXIT.security,
  NOT_ADMIN: EXIT.notAdmin,
  // As core's kinds of these codes say.
  BAD_RESPONSE: KIND_EXIT.security,
  NOT_FOUND: KIND_EXIT.notFound,
} as const satisfies Record<CliErrorCode, number>

/** One line for people, a stable code for scripts, and the process exit code. */
export function describeError(e: unknown): { code: string; message: string; exit: number } {
  if (e instanceof CliError) return { code: e.code, message: e.message, exit: CLI_EXIT[e.code] }
  const err = e as NodeJS.ErrnoException
  if (err && typeof err.code === 'string' && typeof err.syscall === 'string') {
    const what = err.code === 'ENOENT' ? 'no such file or directory' : err.code
    return { code: 'IO', message: `${what}${err.path ? `: ${printable(err.path)}` : ''}`, exit: EXIT.failure }
  }
  const d = describe(e)
  // A tampered access log has had its own exit code since before the kinds: scripts rely on it.
  const exit = d.code === 'ACCESS_LOG_TAMPERED' ? EXIT.tampered : KIND_EXIT[d.kind]
  return { code: d.code, message: d.message, exit }
}
