/**
 * What a person carries from the new device to an existing one, and the QR key agreement.
 *
 * The QR/link payload is an `https://<server origin>/link#<base64url>` URL rather than a custom
 * scheme: a phone's camera opens it straight in the Airlock web app at the right server, while
 * the fragment, which holds the one-time secret, is never sent over the network (not to the
 * server, not in logs or `Referer`); the CLI parses the same string. The origin lives only in the
 * URL, so it cannot disagree with a copy inside the bytes. A browser may keep the URL in its
 * history; the secret is single-use and expires, so that leaks nothing still usable.
 *
 * Fragment bytes (v1): `0x01 ‖ secret(32) ‖ X25519 public key(32) ‖ expires(u64 BE, ms) ‖
 * len(1) ‖ mailbox(ASCII)`. Every payload has exactly one encoding, and parsing insists on it.
 */
import { x25519 } from '@noble/curves/ed25519.js'
import { concatBytes, fromBase64Url, randomBytes, toBase64Url, utf8 } from './bytes.js'
import { InvalidInputError, LinkExpiredError, LinkInvalidError } from './errors.js'
import { deriveLinkSecrets, type LinkCode, type LinkSecrets, lvCat } from './pake.js'

const MAILBOX_DIGITS = 4
const SECRET_DIGITS = 8

function randomDigits(n: number): string {
  let out = ''
  while (out.length < n) {
    // Rejection sampling above 249 keeps the digits uniform.
    for (const b of randomBytes(n)) if (b < 250 && out.length < n) out += String(b % 10)
  }
  return out
}

/**
 * A fresh short code: `mailbox` (4 digits, e.g. assigned by the server; random if omitted) and 8
 * random secret digits, 26.6 bits: one online guess succeeds with probability 10^-8, and a failed
 * guess burns the code. Throws `InvalidInputError` if `mailbox` is not 4 digits.
 */
export function generateLinkCode(mailbox = randomDigits(MAILBOX_DIGITS)): LinkCode {
  if (!/^[0-9]{4}$/.test(mailbox)) throw new InvalidInputError('mailbox must be 4 digits')
  return { mailbox, secret: randomDigits(SECRET_DIGITS) }
}

/** Formats a code for people as `MMMM-SSSS-SSSS`, mailbox first. Never throws. */
export function formatLinkCode(code: LinkCode): string {
  return `${code.mailbox}-${code.secret.slice(0, 4)}-${code.secret.slice(4)}`
}

/**
 * Parses a typed code, ignoring whitespace, dashes and letter case, and accepting full-width digits
 * (NFKC). Total: any input yields a code or throws `LinkInvalidError`. A typo is caught here only
 * if the digit count is wrong; otherwise it surfaces as `PakeError` and costs the code.
 */
export function parseLinkCode(input: string): LinkCode {
  if (typeof input !== 'string' || input.length > 64) throw new LinkInvalidError('malformed linking code')
  const digits = input
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s\p{Pd}\u2212]/gu, '')
  if (!/^[0-9]{12}$/.test(digits)) throw new LinkInvalidError('a linking code has 12 digits')
  return { mailbox: digits.slice(0, MAILBOX_DIGITS), secret: digits.slice(MAILBOX_DIGITS) }
}

/** The longest a link may be valid for; a later expiry marks a forged or broken payload. */
export const MAX_LINK_LIFETIME_MS = 24 * 60 * 60 * 1000
const VERSION = 1
const MAX_LINK_CHARS = 2048
const FIXED_BYTES = 1 + 32 + 32 + 8 + 1
const MAILBOX = /^[A-Za-z0-9_-]{1,64}$/
const FIELD_P = 2n ** 255n - 19n
// Clamped, so a multiple of 8 and non-zero mod the group order: the product is zero iff the
// point has low order.
const PROBE_SCALAR = new Uint8Array(32).fill(0x55)

/** The QR/link content shown by the new device. */
export interface LinkPayload {
  /** Server origin, e.g. `https://airlock.example` (http or https, no path). */
  origin: string
  /** Server mailbox id: 1–64 characters of `A–Z a–z 0–9 _ -`. */
  mailbox: string
  /** 32 random bytes, used once. */
  secret: Uint8Array
  /** The new device's ephemeral X25519 public key. */
  publicKey: Uint8Array
  /** Expiry in ms since the epoch. */
  expires: number
}

/** The new device's side of a QR link: the payload, its URL and the ephemeral private key. */
export interface LinkOffer {
  payload: LinkPayload
  link: string
  privateKey: Uint8Array
}

function isX25519PublicKey(key: Uint8Array): boolean {
  if (!(key instanceof Uint8Array) || key.length !== 32 || (key[31]! & 0x80) !== 0) return false
  let u = 0n
  for (let i = 31; i >= 0; i--) u = (u << 8n) | BigInt(key[i]!)
  if (u >= FIELD_P) return false
  try {
    x25519.getSharedSecret(PROBE_SCALAR, key)
    return true
  } catch {
    return false
  }
}

function check(p: LinkPayload, fail: (m: string) => Error): void {
  let origin: string | undefined
  try {
    const url = new URL(p.origin)
    if (url.protocol === 'https:' || url.protocol === 'http:') origin = url.origin
  } catch {}
  if (origin !== p.origin) throw fail('server origin is not a canonical http(s) origin')
  if (typeof p.mailbox !== 'string' || !MAILBOX.test(p.mailbox)) throw fail('malformed mailbox id')
  if (!(p.secret instanceof Uint8Array) || p.secret.length !== 32) throw fail('secret must be 32 bytes')
  if (!isX25519PublicKey(p.publicKey)) throw fail('invalid ephemeral public key')
  if (!Number.isSafeInteger(p.expires) || p.expires <= 0) throw fail('invalid expiry')
}

/**
 * Encodes a payload as its link (see the module comment). Throws `InvalidInputError` if a field is
 * invalid: non-canonical origin, malformed mailbox, wrong lengths, a non-canonical or low-order
 * public key, or an expiry that is not a positive safe integer.
 */
export function encodeLinkPayload(p: LinkPayload): string {
  check(p, (m) => new InvalidInputError(m))
  const fixed = new Uint8Array(8)
  const view = new DataView(fixed.buffer)
  view.setUint32(0, Math.floor(p.expires / 2 ** 32))
  view.setUint32(4, p.expires >>> 0)
  const bytes = concatBytes(Uint8Array.of(VERSION), p.secret, p.publicKey, fixed, prefixed(p.mailbox))
  return `${p.origin}/link#${toBase64Url(bytes)}`
}

function prefixed(mailbox: string): Uint8Array {
  return concatBytes(Uint8Array.of(mailbox.length), utf8(mailbox))
}

/**
 * Parses a scanned or pasted link (surrounding whitespace ignored). Total: any input yields a
 * payload or throws `LinkInvalidError` (malformed, non-canonical, unknown version, invalid key,
 * expiry more than {@link MAX_LINK_LIFETIME_MS} ahead) or `LinkExpiredError` (`now >= expires`).
 * Throws `InvalidInputError` only if `now` is not a safe integer.
 */
export function parseLinkPayload(input: string, now: number): LinkPayload {
  if (!Number.isSafeInteger(now)) throw new InvalidInputError('now must be ms since the epoch')
  if (typeof input !== 'string' || input.length > MAX_LINK_CHARS) throw new LinkInvalidError()
  const s = input.trim()
  const hash = s.indexOf('#')
  if (hash < 0 || !s.slice(0, hash).endsWith('/link')) throw new LinkInvalidError('not an Airlock link')
  let bytes: Uint8Array
  try {
    bytes = fromBase64Url(s.slice(hash + 1))
  } catch {
    throw new LinkInvalidError('malformed link encoding')
  }
  if (bytes.length < FIXED_BYTES || bytes[0] !== VERSION) throw new LinkInvalidError('unsupported link')
  if (bytes.length !== FIXED_BYTES + bytes[FIXED_BYTES - 1]!) throw new LinkInvalidError('malformed link')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const payload: LinkPayload = {
    origin: s.slice(0, hash - '/link'.length),
    mailbox: String.fromCharCode(...bytes.subarray(FIXED_BYTES)),
    secret: bytes.slice(1, 33),
    publicKey: bytes.slice(33, 65),
    expires: view.getUint32(65) * 2 ** 32 + view.getUint32(69),
  }
  check(payload, (m) => new LinkInvalidError(m))
  if (encodeLinkPayload(payload) !== s) throw new LinkInvalidError('non-canonical link')
  if (now >= payload.expires) throw new LinkExpiredError()
  if (payload.expires - now > MAX_LINK_LIFETIME_MS) throw new LinkInvalidError('expiry is too far ahead')
  return payload
}

/**
 * New device: makes the one-time secret and ephemeral key pair for a QR link. Throws
 * `InvalidInputError` for an invalid origin, mailbox or expiry (see {@link encodeLinkPayload}).
 */
export function createLinkOffer(opts: { origin: string; mailbox: string; expires: number }): LinkOffer {
  const { secretKey, publicKey } = x25519.keygen()
  const { origin, mailbox, expires } = opts
  const payload: LinkPayload = { origin, mailbox, secret: randomBytes(32), publicKey, expires }
  return { payload, link: encodeLinkPayload(payload), privateKey: secretKey }
}

/**
 * Existing device, after {@link parseLinkPayload}: makes its own ephemeral key, whose public half
 * it sends to the new device through the mailbox, and derives the key and fingerprint. Throws
 * `LinkInvalidError` if the payload's public key is invalid.
 */
export function acceptLinkOffer(payload: LinkPayload): LinkSecrets & { publicKey: Uint8Array } {
  const { secretKey, publicKey } = x25519.keygen()
  const secrets = qrSecrets(payload, sharedSecret(secretKey, payload.publicKey), publicKey)
  secretKey.fill(0)
  return { publicKey, ...secrets }
}

/**
 * New device, on the existing device's public key from the mailbox: derives the same key and
 * fingerprint. Throws `LinkInvalidError` if that key is malformed or of low order. Someone without
 * the secret derives another key, so their sealed messages fail to open with `PakeError`.
 */
export function completeLinkOffer(offer: LinkOffer, peerPublicKey: Uint8Array): LinkSecrets {
  return qrSecrets(offer.payload, sharedSecret(offer.privateKey, peerPublicKey), peerPublicKey)
}

function sharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (!isX25519PublicKey(publicKey)) throw new LinkInvalidError('invalid peer public key')
  return x25519.getSharedSecret(privateKey, publicKey)
}

function qrSecrets(payload: LinkPayload, dh: Uint8Array, responderKey: Uint8Array): LinkSecrets {
  // The transcript is the exact link plus the responder's key: whoever swaps either key ends up
  // with a different fingerprint on each side, and without the secret cannot derive the key at all.
  const transcript = lvCat(utf8('airlock link qr v1'), utf8(encodeLinkPayload(payload)), responderKey)
  return deriveLinkSecrets(dh, payload.secret, transcript)
}
