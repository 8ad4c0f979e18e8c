/**
 * Every failure in Airlock is an `AirlockError` with a stable `code`. Callers `switch` on `code`
 * (or use {@link isAirlockError}); messages are for people and never carry key material,
 * plaintext or filenames.
 */
export type ErrorCode =
  | 'HEADER'
  | 'HEADER_MAC'
  | 'NO_MATCH'
  | 'PAYLOAD_AUTH'
  | 'TRUNCATED'
  | 'ARMOR'
  | 'SIGNATURE'
  | 'ROLLBACK'
  | 'FORK'
  | 'DEVICE_LOG'
  | 'MANIFEST'
  | 'NOT_RECIPIENT'
  | 'ID_MISMATCH'
  | 'HASH_MISMATCH'
  | 'DOWNGRADE'
  | 'UNSAFE_PATH'
  | 'LINK_EXPIRED'
  | 'LINK_INVALID'
  | 'LINK_DECLINED'
  | 'PAKE_FAILED'
  | 'KEY_FORMAT'
  | 'LIMIT'
  | 'INVALID_INPUT'
  | 'GROUP_LOG'
  | 'KEYS_CHANGED'
  | 'ACCESS_LOG_TAMPERED'
  | 'POLICY'
  | 'SHARE_LINK'
  | 'WRONG_PASSPHRASE'
  | 'SERVER'
  | 'NETWORK'
  | 'BAD_RESPONSE'
  | 'LOGIN_REFUSED'
  | 'DEVICE_REMOVED'
  | 'NOT_FOUND'
  | 'RECIPIENTS_CHANGED'
  | 'CANCELLED'
  | 'NOT_SET_UP'
  | 'ALREADY_SET_UP'

export class AirlockError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string) {
    super(message)
    this.code = code
    this.name = new.target.name
  }
}

/** Malformed or non-canonical age header, or a matching stanza that is malformed. */
export class HeaderError extends AirlockError {
  constructor(message = 'malformed age header') {
    super('HEADER', message)
  }
}

/** The header MAC did not verify: the header was altered. */
export class HeaderMacError extends AirlockError {
  constructor() {
    super('HEADER_MAC', 'age header MAC does not verify')
  }
}

/** None of our identities can open this file: it is not addressed to us. */
export class NoMatchError extends AirlockError {
  constructor() {
    super('NO_MATCH', 'no identity matches any recipient of this file')
  }
}

/** A payload chunk failed authentication, or the chunk framing is wrong. */
export class PayloadAuthError extends AirlockError {
  constructor(message = 'payload failed authentication') {
    super('PAYLOAD_AUTH', message)
  }
}

/** The ciphertext ended before its final chunk. */
export class TruncatedError extends AirlockError {
  constructor(message = 'ciphertext is truncated') {
    super('TRUNCATED', message)
  }
}

export class ArmorError extends AirlockError {
  constructor(message = 'malformed ASCII armor') {
    super('ARMOR', message)
  }
}

/** A signature does not verify, or the signer is not an active device of the claimed log. */
export class SignatureError extends AirlockError {
  constructor(message = 'signature does not verify') {
    super('SIGNATURE', message)
  }
}

/** A device log older than the one already pinned was presented. */
export class RollbackError extends AirlockError {
  constructor(message = 'device log rolled back below the pinned state') {
    super('ROLLBACK', message)
  }
}

/** A device log that disagrees with the pinned one at the same or an earlier position. */
export class ForkError extends AirlockError {
  constructor(message = 'device log forked from the pinned history') {
    super('FORK', message)
  }
}

/** A device log that is structurally invalid (bad chain, bad op, bad encoding). */
export class DeviceLogError extends AirlockError {
  constructor(message: string) {
    super('DEVICE_LOG', message)
  }
}

/** A group membership log that is malformed, breaks its chain, or applies a change its signer may not make. */
export class GroupLogError extends AirlockError {
  constructor(message: string) {
    super('GROUP_LOG', message)
  }
}

export class ManifestError extends AirlockError {
  constructor(message: string) {
    super('MANIFEST', message)
  }
}

export class NotRecipientError extends AirlockError {
  constructor() {
    super('NOT_RECIPIENT', 'this device is not a recipient of the item')
  }
}

export class IdMismatchError extends AirlockError {
  constructor(message = 'item identifiers do not match the manifest') {
    super('ID_MISMATCH', message)
  }
}

export class HashMismatchError extends AirlockError {
  constructor() {
    super('HASH_MISMATCH', 'ciphertext does not match the signed hash')
  }
}

/** Recipient kinds that must not be mixed or accepted were presented (PQ downgrade, scrypt). */
export class DowngradeError extends AirlockError {
  constructor(message: string) {
    super('DOWNGRADE', message)
  }
}

export class UnsafePathError extends AirlockError {
  constructor(message = 'unsafe file path') {
    super('UNSAFE_PATH', message)
  }
}

export class LinkExpiredError extends AirlockError {
  constructor() {
    super('LINK_EXPIRED', 'the linking code has expired')
  }
}

export class LinkInvalidError extends AirlockError {
  constructor(message = 'invalid linking payload') {
    super('LINK_INVALID', message)
  }
}

/** The linking session ended without a device being added: declined, cancelled, burnt or expired. */
export class LinkDeclinedError extends AirlockError {
  constructor(
    message = 'the linking session ended: it was declined, a wrong code was tried, or it expired; start again',
  ) {
    super('LINK_DECLINED', message)
  }
}

/** The PAKE did not confirm: wrong code or an attacker in the middle. The session is burnt. */
export class PakeError extends AirlockError {
  constructor(message = 'linking code did not match; start again with a new code') {
    super('PAKE_FAILED', message)
  }
}

export class KeyFormatError extends AirlockError {
  constructor(message = 'malformed key') {
    super('KEY_FORMAT', message)
  }
}

export class LimitError extends AirlockError {
  constructor(message: string) {
    super('LIMIT', message)
  }
}

export class InvalidInputError extends AirlockError {
  constructor(message: string) {
    super('INVALID_INPUT', message)
  }
}

/**
 * An item's access log does not verify: an entry was edited, deleted, inserted or reordered, or
 * the log no longer contains (or contradicts) the head this client pinned before.
 */
export class AccessLogError extends AirlockError {
  constructor(message: string) {
    super('ACCESS_LOG_TAMPERED', message)
  }
}

/** A share link that is malformed, or whose key does not open the share it names. */
export class ShareLinkError extends AirlockError {
  constructor(message = 'this is not a valid Airlock share link, or its key does not open the share') {
    super('SHARE_LINK', message)
  }
}

/** The passphrase (with the link's key) does not open a passphrase-protected share. */
export class WrongPassphraseError extends AirlockError {
  constructor() {
    super('WRONG_PASSPHRASE', 'wrong passphrase for this share link')
  }
}

/** The server cannot be reached, or the connection broke off. */
export class NetworkError extends AirlockError {
  constructor(message = 'cannot reach the Airlock server') {
    super('NETWORK', message)
  }
}

/**
 * The server answered with something that is not what the protocol allows: a malformed body, an
 * item from another conversation, a page out of order, an upload address on another host.
 */
export class BadResponseError extends AirlockError {
  constructor(what = 'response') {
    super('BAD_RESPONSE', `the server sent a malformed ${what}`)
  }
}

/**
 * The server refuses this device's login (`BAD_SIGNATURE` or `UNAUTHENTICATED` at `/auth/session`):
 * usually because the device was removed. Only the verified device log can prove that, so keys
 * are never deleted on this error alone.
 */
export class LoginRefusedError extends AirlockError {
  constructor(
    message = 'the server refused this device: it is not (or no longer) an active device of an account there, perhaps removed on another device; its keys are kept',
  ) {
    super('LOGIN_REFUSED', message)
  }
}

/** The verified device log shows this device as removed. */
export class DeviceRemovedError extends AirlockError {
  constructor(message = 'this device was removed from the account') {
    super('DEVICE_REMOVED', message)
  }
}

/** What was asked for does not exist (or no longer): an item, a share, a pending upload. */
export class NotFoundError extends AirlockError {
  constructor(message = 'not found') {
    super('NOT_FOUND', message)
  }
}

/**
 * A device was removed, or a member left, between encrypting an item and committing it: it is
 * not committed, so nobody who should no longer get it does.
 */
export class RecipientsChangedError extends AirlockError {
  constructor(message = 'the recipients changed while this was uploading; it was not sent, send it again') {
    super('RECIPIENTS_CHANGED', message)
  }
}

/** The person cancelled (an abort signal fired, a prompt was declined). */
export class CancelledError extends AirlockError {
  constructor(message = 'cancelled') {
    super('CANCELLED', message)
  }
}

/** This device (a CLI home, a browser) holds no Airlock device yet, or has lost its keys. */
export class NotSetUpError extends AirlockError {
  constructor(message = 'this device is not set up yet') {
    super('NOT_SET_UP', message)
  }
}

/** This device already holds an Airlock device's keys; they are never overwritten by a new setup. */
export class AlreadySetUpError extends AirlockError {
  constructor(message = 'this device already holds the keys of an Airlock device') {
    super('ALREADY_SET_UP', message)
  }
}

/** Type guard for any Airlock error, optionally of one code. */
export function isAirlockError(e: unknown, code?: ErrorCode): e is AirlockError {
  return e instanceof AirlockError && (code === undefined || e.code === code)
}
