import { createHash, randomBytes } from 'node:crypto'

/**
 * A random id: 16 bytes, unpadded base64url (22 characters). Never derived from content. It never
 * starts with '-', which command lines (ours, and the shell tools people paste ids into) read as an
 * option; that costs under 0.03 bits.
 */
export function randomId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (id[0] !== '-') return id
  }
}

/** A random secret (session token, challenge, mailbox secret): 32 bytes base64url (43 characters). */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url')
}

/** SHA-256 of a secret, base64url: what the database stores instead of the secret. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url')
}

// Crockford base32 without I, L, O, U: unambiguous when read aloud or typed.
const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/**
 * A setup or invite code people type: 20 characters of Crockford base32 (100 bits) in groups of
 * four, e.g. `7K3M-…`. High entropy, so a plain SHA-256 of {@link normalizeCode} is a safe hash.
 */
export function newCode(): string {
  const bytes = randomBytes(20)
  let s = ''
  for (const b of bytes) s += CODE_ALPHABET[b & 31]
  return s.match(/.{4}/g)!.join('-')
}

/** Upper-cases, drops spaces and dashes and maps look-alikes, so a code typed loosely still matches. */
export function normalizeCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0')
}

/** The stored hash of a setup or invite code. */
export function hashCode(code: string): string {
  return hashSecret(`airlock code v1\n${normalizeCode(code)}`)
}

/** A four-digit nameplate (the first part of core's short linking code) for an open linking mailbox. */
export function newNameplate(): string {
  return String(randomBytes(4).readUInt32BE(0) % 10_000).padStart(4, '0')
}
