import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 } from '@noble/hashes/sha2.js'
import {
  Encrypter,
  generateHybridIdentity,
  generateX25519Identity,
  identityToRecipient,
} from 'age-encryption'
import { z } from 'zod'
import { fromBase64Url, toBase64Url } from './bytes.js'
import { type Canonical, canonicalBytes } from './canonical.js'
import { KeyFormatError, SignatureError } from './errors.js'

/**
 * A device's keys. Each enrolled device (CLI, browser, recovery key) has its own Ed25519 signing
 * key, a hybrid post-quantum age identity used for every device item, and an X25519 age identity
 * kept only so exports stay readable with age tools that predate post-quantum keys.
 */

export type DeviceKind = 'cli' | 'web' | 'recovery'

/** The public half of a device, as it appears in the device log. */
export interface DeviceRecord {
  /** Derived from `signKey` ({@link deviceIdFor}); 22 base64url characters. */
  readonly id: string
  readonly name: string
  readonly kind: DeviceKind
  /** Ed25519 public key, base64url (32 bytes). */
  readonly signKey: string
  /** Hybrid post-quantum age recipient, `age1pq1…`. */
  readonly recipient: string
  /** X25519 age recipient, `age1…`, for exports to the standard `age` tool only. */
  readonly x25519Recipient: string
  /** Creation time, ms since the epoch. */
  readonly created: number
}

/** A device's private keys and its public record. Never leaves the device. */
export interface DeviceSecrets {
  /** Ed25519 secret key (the 32-byte seed). */
  readonly signSecret: Uint8Array
  /** `AGE-SECRET-KEY-PQ-1…` */
  readonly ageIdentity: string
  /** `AGE-SECRET-KEY-1…` */
  readonly x25519Identity: string
  readonly record: DeviceRecord
}

const ID_CONTEXT = 'airlock device id v1'
const FINGERPRINT_CONTEXT = 'airlock device fingerprint v1'
const SECRETS_VERSION = 'airlock-device-secrets v1'
/** Signing contexts live in one namespace and cannot contain the newline that ends them. */
const SIGN_CONTEXT = /^airlock [a-z0-9 .-]{1,100} v[0-9]{1,4}$/
const B64URL_32 = /^[A-Za-z0-9_-]{43}$/
const B64URL_64 = /^[A-Za-z0-9_-]{86}$/
// Control characters, bidi overrides and line separators would let a name disguise itself.
const NAME_FORBIDDEN = /[\p{Cc}\u061C\u200E\u200F\u2028-\u202E\u2066-\u2069\uFEFF]/u

/** True for a device name fit to show to people: 1–64 characters, no controls or bidi tricks. */
export function isValidDeviceName(name: string): boolean {
  return name.length >= 1 && name.length <= 64 && name.trim() === name && !NAME_FORBIDDEN.test(name)
}

/**
 * The device id of an Ed25519 public key: base64url of the first 16 bytes of SHA-256 over the
 * domain-separated canonical encoding of the key. An id therefore names exactly one key.
 */
export function deviceIdFor(signKey: string): string {
  return toBase64Url(sha256(canonicalBytes(ID_CONTEXT, { signKey })).subarray(0, 16))
}

/** True if `s` is a canonical base64url Ed25519 public key of a point outside the small subgroup. */
export function isValidSignKey(s: string): boolean {
  if (!B64URL_32.test(s)) return false
  try {
    const point = ed25519.Point.fromBytes(fromBase64Url(s), false)
    return !point.isSmallOrder()
  } catch {
    return false
  }
}

/** True if `s` is a valid hybrid (`pq: true`) or X25519 (`pq: false`) age recipient string. */
export function isValidAgeRecipient(s: string, pq: boolean): boolean {
  if (
    !s.startsWith(pq ? 'age1pq1' : 'age1') ||
    (!pq && (s.startsWith('age1pq1') || s.startsWith('age1tag')))
  ) {
    return false
  }
  try {
    new Encrypter().addRecipient(s)
    return true
  } catch {
    return false
  }
}

/** Wire schema of a {@link DeviceRecord}: every field checked, the id bound to the key. */
export const deviceRecordSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
    name: z.string().max(64).refine(isValidDeviceName, 'invalid device name'),
    kind: z.enum(['cli', 'web', 'recovery']),
    signKey: z.string().refine(isValidSignKey, 'invalid signing key'),
    recipient: z
      .string()
      .max(4096)
      .refine((s) => isValidAgeRecipient(s, true), 'invalid recipient'),
    x25519Recipient: z
      .string()
      .max(100)
      .refine((s) => isValidAgeRecipient(s, false), 'invalid recipient'),
    created: z.number().int().nonnegative(),
  })
  .refine((r) => r.id === deviceIdFor(r.signKey), 'device id does not match its key')

/** The canonical value of a record, for hashing and signing. */
export function recordValue(r: DeviceRecord): Canonical {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    signKey: r.signKey,
    recipient: r.recipient,
    x25519Recipient: r.x25519Recipient,
    created: r.created,
  }
}

/**
 * Generates a new device: fresh Ed25519, hybrid and X25519 keys. Throws `KeyFormatError` for a
 * name that {@link isValidDeviceName} rejects.
 */
export async function generateDevice(opts: {
  name: string
  kind: DeviceKind
  now?: number
}): Promise<DeviceSecrets> {
  return buildSecrets(
    ed25519.utils.randomSecretKey(),
    await generateHybridIdentity(),
    await generateX25519Identity(),
    opts.name,
    opts.kind,
    opts.now ?? Date.now(),
  )
}

async function buildSecrets(
  signSecret: Uint8Array,
  ageIdentity: string,
  x25519Identity: string,
  name: string,
  kind: DeviceKind,
  created: number,
): Promise<DeviceSecrets> {
  if (!isValidDeviceName(name)) throw new KeyFormatError('invalid device name')
  // 8.64e15 ms is the largest time a Date can hold.
  if (!Number.isSafeInteger(created) || created < 0 || created > 8.64e15) {
    throw new KeyFormatError('invalid creation time')
  }
  const signKey = toBase64Url(ed25519.getPublicKey(signSecret))
  const record: DeviceRecord = Object.freeze({
    id: deviceIdFor(signKey),
    name,
    kind,
    signKey,
    recipient: await identityToRecipient(ageIdentity),
    x25519Recipient: await identityToRecipient(x25519Identity),
    created,
  })
  return Object.freeze({ signSecret, ageIdentity, x25519Identity, record })
}

/** The public record of a device. */
export function deviceRecord(secrets: DeviceSecrets): DeviceRecord {
  return secrets.record
}

/**
 * The text form of a device's secrets (for a 0600 file or an IndexedDB value): a version line
 * and one `key value` line each, in a fixed order, LF-terminated. The name is a JSON string.
 */
export function serializeDeviceSecrets(s: DeviceSecrets): string {
  return [
    SECRETS_VERSION,
    `name ${JSON.stringify(s.record.name)}`,
    `kind ${s.record.kind}`,
    `created ${s.record.created}`,
    `sign ${toBase64Url(s.signSecret)}`,
    `age ${s.ageIdentity}`,
    `age-x25519 ${s.x25519Identity}`,
    '',
  ].join('\n')
}

/**
 * Parses {@link serializeDeviceSecrets} output strictly: exact version, keys, order and line
 * endings, canonical encodings only. Any deviation throws `KeyFormatError` (whose message never
 * contains key material).
 */
export async function parseDeviceSecrets(text: string): Promise<DeviceSecrets> {
  const lines = text.split('\n')
  const keys = ['name', 'kind', 'created', 'sign', 'age', 'age-x25519']
  if (lines.length !== keys.length + 2 || lines[0] !== SECRETS_VERSION || lines.at(-1) !== '') {
    throw new KeyFormatError('not an Airlock device key file (or an unsupported version)')
  }
  const v: string[] = []
  keys.forEach((k, i) => {
    const line = lines[i + 1]!
    if (!line.startsWith(`${k} `)) throw new KeyFormatError('malformed device key file')
    v.push(line.slice(k.length + 1))
  })
  const [nameJson, kind, created, sign, age, x25519] = v as [string, string, string, string, string, string]
  let name: unknown
  try {
    name = JSON.parse(nameJson)
  } catch {
    throw new KeyFormatError('malformed device name')
  }
  if (typeof name !== 'string' || JSON.stringify(name) !== nameJson)
    throw new KeyFormatError('malformed device name')
  if (kind !== 'cli' && kind !== 'web' && kind !== 'recovery') throw new KeyFormatError('unknown device kind')
  if (!/^(0|[1-9][0-9]{0,15})$/.test(created)) throw new KeyFormatError('malformed creation time')
  if (!B64URL_32.test(sign)) throw new KeyFormatError('malformed signing key')
  if (
    !/^AGE-SECRET-KEY-PQ-1[02-9AC-HJ-NP-Z]{58}$/.test(age) ||
    !/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/.test(x25519)
  ) {
    throw new KeyFormatError('malformed age identity')
  }
  try {
    return await buildSecrets(fromBase64Url(sign), age, x25519, name, kind, Number(created))
  } catch (e) {
    if (e instanceof KeyFormatError) throw e
    throw new KeyFormatError('malformed device key file')
  }
}

/**
 * The identity file the standard `age` tool reads (`age -d -i FILE`), in `age-keygen`'s layout.
 * By default only the X25519 identity, because age before 1.3 (Debian's 1.1.1) rejects the whole
 * file on a post-quantum line; `includePq` adds the hybrid identity first, for age ≥ 1.3.
 */
export function exportAgeIdentity(secrets: DeviceSecrets, opts: { includePq?: boolean } = {}): string {
  const created = new Date(secrets.record.created).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const lines = [`# Airlock device ${secrets.record.id}`, `# created: ${created}`]
  if (opts.includePq) lines.push(`# public key: ${secrets.record.recipient}`, secrets.ageIdentity)
  lines.push(`# public key: ${secrets.record.x25519Recipient}`, secrets.x25519Identity, '')
  return lines.join('\n')
}

function signedMessage(context: string, value: Canonical): Uint8Array {
  if (!SIGN_CONTEXT.test(context)) throw new KeyFormatError('invalid signing context')
  return canonicalBytes(context, value)
}

/**
 * Signs the canonical encoding of `value` under `context` (which must look like
 * `airlock <purpose> v<n>`), so a signature made for one purpose never verifies for another.
 * Returns the 64-byte signature in base64url.
 */
export function signCanonical(secrets: DeviceSecrets, context: string, value: Canonical): string {
  return toBase64Url(ed25519.sign(signedMessage(context, value), secrets.signSecret))
}

/**
 * Verifies a {@link signCanonical} signature under RFC 8032 strict rules (no ZIP-215 leniency,
 * so each message has one valid encoding of each signature). Throws `SignatureError` otherwise,
 * including for malformed keys or signatures.
 */
export function verifyCanonical(signKey: string, context: string, value: Canonical, sig: string): void {
  const msg = signedMessage(context, value)
  let ok = false
  try {
    ok =
      B64URL_64.test(sig) &&
      isValidSignKey(signKey) &&
      ed25519.verify(fromBase64Url(sig), msg, fromBase64Url(signKey), { zip215: false })
  } catch {
    ok = false
  }
  if (!ok) throw new SignatureError()
}

/**
 * A safety number people compare aloud or side by side: six groups of five digits (about 100
 * bits) from SHA-256 over the canonical value under a domain-separated context.
 */
export function safetyNumber(context: string, value: Canonical): string {
  const h = sha256(canonicalBytes(context, value))
  const groups: string[] = []
  for (let g = 0; g < 6; g++) {
    let n = 0
    for (let i = 0; i < 5; i++) n = n * 256 + h[g * 5 + i]!
    groups.push(String(n % 100000).padStart(5, '0'))
  }
  return groups.join(' ')
}

/** The safety number of a device record (covers every field, so a changed name shows too). */
export function deviceFingerprint(record: DeviceRecord): string {
  return safetyNumber(FINGERPRINT_CONTEXT, recordValue(record))
}
