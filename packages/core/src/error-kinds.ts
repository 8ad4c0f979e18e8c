import type { ApiErrorCode } from './api.js'
import { ColleagueKeysChangedError } from './directory.js'
import {
  AccessLogError,
  type AirlockError,
  AlreadySetUpError,
  ArmorError,
  BadResponseError,
  CancelledError,
  DeviceLogError,
  DeviceRemovedError,
  DowngradeError,
  type ErrorCode,
  ForkError,
  GroupLogError,
  HashMismatchError,
  HeaderError,
  HeaderMacError,
  IdMismatchError,
  InvalidInputError,
  isAirlockError,
  KeyFormatError,
  LimitError,
  LinkDeclinedError,
  LinkExpiredError,
  LinkInvalidError,
  LoginRefusedError,
  ManifestError,
  NetworkError,
  NoMatchError,
  NotAcceptedError,
  NotFoundError,
  NotRecipientError,
  NotSetUpError,
  PakeError,
  PayloadAuthError,
  RecipientsChangedError,
  RollbackError,
  ShareLinkError,
  SignatureError,
  TruncatedError,
  UnsafePathError,
  WrongPassphraseError,
} from './errors.js'
import { printable } from './filename.js'
import { PolicyError } from './policy.js'
import { ServerError } from './transport.js'

/**
 * What a failure means for the person, decided once for every client: the CLI turns a kind into
 * its exit code, the web app into its banner.
 *
 * - `security`: something did not verify (an item, a device or member list, a linking step, an
 *   access log, a server's answer). The only kind shown as a warning, in red.
 * - `auth`: this device, session, account or passphrase is not accepted.
 * - `setup`: this device holds no Airlock device yet, or already holds one.
 * - `input`: what the person gave is malformed (a key, a link, a value), found before asking anyone.
 * - `notFound`: it does not exist, or no longer: deleted, expired, used up or revoked.
 * - `policy`: the organisation's policy forbids it.
 * - `conflict`: something changed meanwhile (recipients, a log head, a name); look and try again.
 * - `refused`: the server or a limit says no for a reason of its own (quota, size, rate, request).
 * - `network`: the server cannot be reached, or cannot answer right now.
 * - `cancelled`: the person stopped it, or declined.
 * - `failed`: anything else: a bug, or local storage failing.
 */
export type ErrorKind =
  | 'security'
  | 'auth'
  | 'setup'
  | 'input'
  | 'notFound'
  | 'policy'
  | 'conflict'
  | 'refused'
  | 'network'
  | 'cancelled'
  | 'failed'

/**
 * What people are told, besides the sentence of the code:
 * - `sentence`: the sentence alone. For verification failures the error's own text is for
 *   developers, and every failure of one code reads the same.
 * - `message`: the error's own message, which its throw site wrote for people and which says more
 *   ("no item …", "cannot reach … at …"); the sentence is what the code means in general.
 * - `both`: the sentence, then the error's own message in parentheses as the detail.
 */
export type ErrorWording = 'sentence' | 'message' | 'both'

/**
 * Every code a description can carry besides the server's: core's codes, `LABEL_MISMATCH` (a
 * policy check that caught the server changing a signed label: tampering, not the organisation's
 * rule) and `INTERNAL` (anything that is not an Airlock error: a bug).
 */
export type DescribedCode = ErrorCode | 'LABEL_MISMATCH' | 'INTERNAL'

/**
 * Every sentence for people about a failure, in one table keyed by code (server codes as
 * `server.<CODE>`), so that a message catalogue can take it over as it is. Lower case and without
 * a final full stop: the CLI prints them after `airlock: `.
 */
export const ERROR_SENTENCES = {
  HEADER: 'the encrypted data is malformed; it was refused',
  HEADER_MAC: 'the encrypted header was altered; it was refused',
  NO_MATCH: 'this item is not encrypted to this device',
  PAYLOAD_AUTH: 'the encrypted data was altered; it was refused',
  TRUNCATED: 'the encrypted data is truncated; it was refused',
  ARMOR: 'this is not valid armoured age data',
  SIGNATURE:
    'a signature does not verify, or is not by an active device of the verified device list; it was refused',
  ROLLBACK:
    'SECURITY WARNING: the server presented an older device list than this device already verified (rollback)',
  FORK: 'SECURITY WARNING: the server presented a device list that contradicts the one this device verified (fork)',
  DEVICE_LOG: 'the device list from the server does not verify',
  MANIFEST: 'the item description is malformed; it was refused',
  NOT_RECIPIENT: 'this device is not a recipient of this item',
  ID_MISMATCH: 'the server sent an item under another id or conversation; it was refused',
  HASH_MISMATCH: 'the encrypted data from the server does not match what the sender signed; it was refused',
  DOWNGRADE: 'the item is not encrypted with post-quantum keys only; it was refused',
  UNSAFE_PATH: 'the item names a file path that would land outside its folder; it was refused',
  LINK_EXPIRED: 'the linking code has expired; start again on the new device',
  LINK_INVALID: 'that is not a valid Airlock link or code',
  LINK_DECLINED:
    'the linking session ended: it was declined, a wrong code was tried, or it expired; start again',
  PAKE_FAILED: 'the linking code did not match (or someone interfered); start again with a new code',
  KEY_FORMAT: 'that key is malformed',
  LIMIT: 'that is more than Airlock accepts',
  INVALID_INPUT: 'that input is not valid',
  GROUP_LOG: 'the member list of this group from the server does not verify',
  KEYS_CHANGED:
    'SECURITY WARNING: the keys of a colleague changed in a way their own devices did not sign; nothing is sent to them until you compare safety fingerprints again',
  ACCESS_LOG_TAMPERED:
    "SECURITY WARNING: the access log of this item does not verify: the server's record of who downloaded it was edited, deleted or reordered",
  POLICY: 'your organisation’s policy does not allow this',
  LABEL_MISMATCH: 'SECURITY WARNING: the server changed this item’s sensitivity label; it was refused',
  SHARE_LINK:
    'this is not a valid Airlock share link, or its key (the part after #) does not open it; copy the whole link',
  WRONG_PASSPHRASE: 'wrong passphrase for this share link; check it with the person who sent you the link',
  SERVER: 'the server refused',
  NETWORK: 'cannot reach the Airlock server; check the connection',
  BAD_RESPONSE: 'the server sent a malformed answer; it was refused',
  LOGIN_REFUSED:
    'the server refused this device: it is not (or no longer) an active device of an account there, perhaps removed on another device; its keys are kept',
  DEVICE_REMOVED: 'this device was removed from the account',
  NOT_FOUND: 'not found (it may have been deleted or expired)',
  RECIPIENTS_CHANGED: 'the recipients changed while this was uploading; it was not sent, send it again',
  CANCELLED: 'cancelled',
  NOT_SET_UP: 'this device is not set up yet',
  ALREADY_SET_UP: 'this device already holds the keys of an Airlock device; forget them first, on purpose',
  NOT_ACCEPTED: 'this is a request or invitation you have not accepted; accept it first',
  INTERNAL: 'something went wrong inside Airlock',
  'server.BAD_REQUEST': 'the server did not accept that request',
  'server.INVALID_BODY': 'the server did not accept that input',
  'server.INVALID_LOG_ENTRY': 'the server did not accept that change to the device list',
  'server.INVALID_GROUP_ENTRY': 'the server did not accept that change to the group',
  'server.UNAUTHENTICATED': 'the session ended; try again',
  'server.BAD_SIGNATURE': 'the server refused this device’s login',
  'server.FORBIDDEN': 'the server does not allow this (for a code: it is unknown, used or expired)',
  'server.POLICY_FORBIDS': 'your organisation’s policy does not allow this',
  'server.ACCOUNT_DISABLED': 'an administrator has disabled this account',
  'server.BLOCKED': 'one of you blocked the other: nothing goes between you until it is lifted',
  'server.NOT_ACCEPTED':
    'this conversation is not accepted: accept the request or invitation first, or they declined yours',
  'server.NOT_FOUND': 'not found (it may have been deleted or expired)',
  'server.METHOD_NOT_ALLOWED': 'the server does not offer this (is it an older version?)',
  'server.CONFLICT': 'this changed on the server meanwhile; try again',
  'server.STALE_HEAD': 'this list changed on the server meanwhile; try again',
  'server.USERNAME_TAKEN': 'that username is taken',
  'server.UPLOAD_INCOMPLETE': 'the upload is not complete yet',
  'server.ALREADY_COMMITTED': 'this item was already sent',
  'server.GONE': 'this has expired or was closed',
  'server.SHARE_SUSPENDED': 'this share link is suspended while its owner’s account is disabled',
  'server.ITEM_TOO_LARGE': 'the file is larger than this server accepts',
  'server.QUOTA_EXCEEDED': 'your storage quota on this server is full',
  'server.PAYLOAD_TOO_LARGE': 'the request is larger than this server accepts',
  'server.UNSUPPORTED_MEDIA_TYPE': 'the server does not accept this kind of request',
  'server.RANGE_NOT_SATISFIABLE': 'the server cannot send that part of the file',
  'server.RATE_LIMITED': 'too many attempts; wait a minute and try again',
  'server.INTERNAL': 'the server failed; try again later',
  'server.UNAVAILABLE': 'the server is busy or restarting; try again shortly',
  'server.INSUFFICIENT_STORAGE': 'the server has no room left; tell its administrator',
} as const satisfies Record<DescribedCode | `server.${ApiErrorCode}`, string>

/**
 * The kind of every core error code and how it is worded. Decisions where the clients used to
 * disagree, made once:
 * - `LOGIN_REFUSED` is `auth`, not `security`: it is exactly what a removed device sees, and only
 *   the verified device log can prove a removal, so it is no evidence of an attack by itself.
 * - `LINK_EXPIRED` is `notFound`, not `security`: a code that timed out is gone, like an expired
 *   share link or the server's `GONE`; nothing failed to verify.
 * - `BAD_RESPONSE` is `security`: an answer the protocol does not allow comes from a server that
 *   is broken or lying, and what it sent is refused, as with a failed signature.
 * - `POLICY` is `policy`; the one policy check that catches the server changing a signed label is
 *   described as `LABEL_MISMATCH`, `security`.
 * - `LINK_INVALID` stays `security` (the other device or the mailbox sent something invalid, or
 *   the link is for another server); `LINK_DECLINED` is `cancelled`.
 * - `LIMIT` is `refused` (a size or count Airlock does not accept), `WRONG_PASSPHRASE` is `auth`.
 */
export const ERROR_KINDS = {
  HEADER: { kind: 'security', says: 'sentence' },
  HEADER_MAC: { kind: 'security', says: 'sentence' },
  NO_MATCH: { kind: 'security', says: 'sentence' },
  PAYLOAD_AUTH: { kind: 'security', says: 'sentence' },
  TRUNCATED: { kind: 'security', says: 'sentence' },
  ARMOR: { kind: 'input', says: 'sentence' },
  SIGNATURE: { kind: 'security', says: 'sentence' },
  ROLLBACK: { kind: 'security', says: 'sentence' },
  FORK: { kind: 'security', says: 'sentence' },
  DEVICE_LOG: { kind: 'security', says: 'sentence' },
  MANIFEST: { kind: 'security', says: 'sentence' },
  NOT_RECIPIENT: { kind: 'security', says: 'sentence' },
  ID_MISMATCH: { kind: 'security', says: 'sentence' },
  HASH_MISMATCH: { kind: 'security', says: 'sentence' },
  DOWNGRADE: { kind: 'security', says: 'sentence' },
  UNSAFE_PATH: { kind: 'security', says: 'sentence' },
  LINK_EXPIRED: { kind: 'notFound', says: 'sentence' },
  LINK_INVALID: { kind: 'security', says: 'sentence' },
  LINK_DECLINED: { kind: 'cancelled', says: 'message' },
  PAKE_FAILED: { kind: 'security', says: 'sentence' },
  KEY_FORMAT: { kind: 'input', says: 'message' },
  LIMIT: { kind: 'refused', says: 'message' },
  INVALID_INPUT: { kind: 'input', says: 'message' },
  GROUP_LOG: { kind: 'security', says: 'both' },
  KEYS_CHANGED: { kind: 'security', says: 'message' },
  ACCESS_LOG_TAMPERED: { kind: 'security', says: 'both' },
  POLICY: { kind: 'policy', says: 'both' },
  LABEL_MISMATCH: { kind: 'security', says: 'sentence' },
  SHARE_LINK: { kind: 'input', says: 'sentence' },
  WRONG_PASSPHRASE: { kind: 'auth', says: 'sentence' },
  // A ServerError is described by its API code (below); this is for one without.
  SERVER: { kind: 'refused', says: 'sentence' },
  NETWORK: { kind: 'network', says: 'message' },
  BAD_RESPONSE: { kind: 'security', says: 'message' },
  LOGIN_REFUSED: { kind: 'auth', says: 'message' },
  DEVICE_REMOVED: { kind: 'auth', says: 'message' },
  NOT_FOUND: { kind: 'notFound', says: 'message' },
  RECIPIENTS_CHANGED: { kind: 'conflict', says: 'sentence' },
  CANCELLED: { kind: 'cancelled', says: 'sentence' },
  NOT_SET_UP: { kind: 'setup', says: 'message' },
  ALREADY_SET_UP: { kind: 'setup', says: 'message' },
  NOT_ACCEPTED: { kind: 'refused', says: 'message' },
  INTERNAL: { kind: 'failed', says: 'message' },
} as const satisfies Record<DescribedCode, { kind: ErrorKind; says: ErrorWording }>

/**
 * The kind of every error response of the server. Its message is always shown after the sentence
 * as a short, escaped detail: the server is untrusted and could try to instruct the person.
 * `BAD_SIGNATURE` is `auth` for the reason `LOGIN_REFUSED` is; `INTERNAL` is `network`: the
 * server cannot answer right now, and trying later may help.
 */
export const SERVER_ERROR_KINDS = {
  BAD_REQUEST: 'refused',
  INVALID_BODY: 'refused',
  INVALID_LOG_ENTRY: 'refused',
  INVALID_GROUP_ENTRY: 'refused',
  UNAUTHENTICATED: 'auth',
  BAD_SIGNATURE: 'auth',
  FORBIDDEN: 'refused',
  POLICY_FORBIDS: 'policy',
  ACCOUNT_DISABLED: 'auth',
  BLOCKED: 'refused',
  NOT_ACCEPTED: 'refused',
  NOT_FOUND: 'notFound',
  METHOD_NOT_ALLOWED: 'refused',
  CONFLICT: 'conflict',
  STALE_HEAD: 'conflict',
  USERNAME_TAKEN: 'conflict',
  UPLOAD_INCOMPLETE: 'conflict',
  ALREADY_COMMITTED: 'conflict',
  GONE: 'notFound',
  SHARE_SUSPENDED: 'notFound',
  ITEM_TOO_LARGE: 'refused',
  QUOTA_EXCEEDED: 'refused',
  PAYLOAD_TOO_LARGE: 'refused',
  UNSUPPORTED_MEDIA_TYPE: 'refused',
  RANGE_NOT_SATISFIABLE: 'refused',
  RATE_LIMITED: 'refused',
  INTERNAL: 'network',
  UNAVAILABLE: 'network',
  INSUFFICIENT_STORAGE: 'refused',
} as const satisfies Record<ApiErrorCode, ErrorKind>

/** How much of a server's own message is shown. */
const MAX_SERVER_DETAIL = 200

/** A failure described for people: a stable code for scripts, its kind, and one line of text. */
export interface ErrorDescription {
  /** A {@link DescribedCode}, or the server's API code for a `ServerError`. */
  code: string
  kind: ErrorKind
  /** One line for people; anything from outside core's own sentences is escaped with `printable`. */
  message: string
}

/**
 * Describes any thrown value: an Airlock error by its code (a `ServerError` by its API code), an
 * `AbortError` as `CANCELLED`, anything else as `INTERNAL` (kind `failed`). Pure; never throws. The
 * message is one line: the server's text appears only escaped and shortened, core's own messages
 * only escaped. Clients add their own codes before calling this (the CLI's usage errors, the web
 * app's storage errors).
 */
export function describeError(e: unknown): ErrorDescription {
  if (e instanceof ServerError) {
    const sentence: string = ERROR_SENTENCES[`server.${e.apiCode}`] ?? ERROR_SENTENCES.SERVER
    // Cut by code points, so that no surrogate pair is split.
    const detail = Array.from(shown(e.message)).slice(0, MAX_SERVER_DETAIL).join('')
    return {
      code: e.apiCode,
      kind: SERVER_ERROR_KINDS[e.apiCode] ?? 'refused',
      message: detail ? `${sentence} (the server says: “${detail}”)` : sentence,
    }
  }
  if (e instanceof PolicyError && e.rule === 'label-mismatch') return described('LABEL_MISMATCH', e.message)
  if (isAirlockError(e) && Object.hasOwn(ERROR_KINDS, e.code)) return described(e.code, e.message)
  // An aborted fetch or stream rejects with the signal's reason, by default a DOMException.
  if (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError')
    return described('CANCELLED', '')
  return described('INTERNAL', e instanceof Error ? e.message : String(e))
}

function described(code: DescribedCode, ownMessage: string): ErrorDescription {
  const { kind, says } = ERROR_KINDS[code]
  const sentence: string = ERROR_SENTENCES[code]
  const own = shown(ownMessage)
  const message =
    says === 'sentence' || !own || own === sentence
      ? sentence
      : says === 'message'
        ? own
        : `${sentence} (${own})`
  return { code, kind, message }
}

/** Escaped with `printable`, which also keeps it on one line: a line break could forge a second message. */
function shown(text: string): string {
  return printable(text.trim())
}

/** Every core error class by its code; a code new to `ErrorCode` must be added here. */
const ERROR_CLASSES = {
  HEADER: HeaderError,
  HEADER_MAC: HeaderMacError,
  NO_MATCH: NoMatchError,
  PAYLOAD_AUTH: PayloadAuthError,
  TRUNCATED: TruncatedError,
  ARMOR: ArmorError,
  SIGNATURE: SignatureError,
  ROLLBACK: RollbackError,
  FORK: ForkError,
  DEVICE_LOG: DeviceLogError,
  MANIFEST: ManifestError,
  NOT_RECIPIENT: NotRecipientError,
  ID_MISMATCH: IdMismatchError,
  HASH_MISMATCH: HashMismatchError,
  DOWNGRADE: DowngradeError,
  UNSAFE_PATH: UnsafePathError,
  LINK_EXPIRED: LinkExpiredError,
  LINK_INVALID: LinkInvalidError,
  LINK_DECLINED: LinkDeclinedError,
  PAKE_FAILED: PakeError,
  KEY_FORMAT: KeyFormatError,
  LIMIT: LimitError,
  INVALID_INPUT: InvalidInputError,
  GROUP_LOG: GroupLogError,
  KEYS_CHANGED: ColleagueKeysChangedError,
  ACCESS_LOG_TAMPERED: AccessLogError,
  POLICY: PolicyError,
  SHARE_LINK: ShareLinkError,
  WRONG_PASSPHRASE: WrongPassphraseError,
  SERVER: ServerError,
  NETWORK: NetworkError,
  BAD_RESPONSE: BadResponseError,
  LOGIN_REFUSED: LoginRefusedError,
  DEVICE_REMOVED: DeviceRemovedError,
  NOT_FOUND: NotFoundError,
  RECIPIENTS_CHANGED: RecipientsChangedError,
  CANCELLED: CancelledError,
  NOT_SET_UP: NotSetUpError,
  ALREADY_SET_UP: AlreadySetUpError,
  NOT_ACCEPTED: NotAcceptedError,
  // biome-ignore lint/suspicious/noExplicitAny: any constructor; only instances are compared
} as const satisfies Record<ErrorCode, abstract new (...args: any[]) => AirlockError>

/** The error class that carries `code`: `ErrorOf<'POLICY'>` is `PolicyError`. */
export type ErrorOf<C extends ErrorCode> = InstanceType<(typeof ERROR_CLASSES)[C]>

/**
 * True when `e` is the Airlock error of `code`, narrowed to its class, so that its fields are in
 * reach: `if (errorIs(e, 'POLICY')) e.rule`, `if (errorIs(e, 'SERVER')) e.apiCode`. For any code,
 * or one of several, use `isAirlockError`.
 */
export function errorIs<C extends ErrorCode>(e: unknown, code: C): e is ErrorOf<C> {
  return e instanceof ERROR_CLASSES[code] && (e as AirlockError).code === code
}
