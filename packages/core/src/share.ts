import { sha256 } from '@noble/hashes/sha2.js'
import { generateX25519Identity, identityToRecipient } from 'age-encryption'
import { z } from 'zod'
import {
  decryptBytes,
  decryptBytesWithPassphrase,
  decryptStream,
  encryptBytes,
  encryptBytesWithPassphrase,
  encryptStream,
} from './age.js'
import { fromBase64Url, fromUtf8, randomBytes, toBase64Url, utf8 } from './bytes.js'
import {
  HeaderError,
  InvalidInputError,
  isAirlockError,
  NoMatchError,
  ShareLinkError,
  WrongPassphraseError,
} from './errors.js'
import { itemCiphertextSize, type Sha256Factory, verifyCiphertext } from './item.js'
import { padStream, unpadStream } from './padding.js'
import type { ChunkAead } from './stream.js'

/**
 * Share links: files offered to people without an account, at `<origin>/s/<share id>#<key>`.
 * The fragment never reaches the server (browsers and the CLI do not send it). Each file is a
 * standard age file (Padmé-padded plaintext) encrypted to a per-link X25519 identity; a small
 * share manifest (names, types, sizes, SHA-256 of each ciphertext, and that identity) is
 * encrypted either to the same identity or, for a passphrase link, to an age scrypt stanza whose
 * passphrase is the link's secret joined with the person's passphrase:
 *
 *  - `#AGE-SECRET-KEY-1…`: the fragment is the identity itself (`age -d -i` reads it);
 *  - `#P1.<secret>`: the passphrase is `<secret>:<passphrase>`. The server, lacking the fragment,
 *    cannot guess the passphrase offline, and the link alone does not open the share.
 *
 * Authenticity: only someone who knows the fragment can make a manifest that opens with it, and
 * the manifest pins each file's ciphertext hash, so a server cannot swap, alter or reorder files.
 */

export const SHARE_MANIFEST_CONTEXT = 'airlock share v1'

/** Files in one share link. */
export const MAX_SHARE_FILES = 100

const IDENTITY = /^AGE-SECRET-KEY-1[023456789ACDEFGHJKLMNPQRSTUVWXYZ]{58}$/
const PASS_FRAGMENT = /^P1\.([A-Za-z0-9_-]{43})$/
const SHARE_ID = /^[A-Za-z0-9_-]{22}$/

const shareFileSchema = z.strictObject({
  name: z.string().max(1024),
  type: z
    .string()
    .max(255)
    .regex(/^[\x20-\x7e]*$/),
  size: z.number().int().nonnegative(),
  mtime: z.number().int().nonnegative(),
  ciphertextSize: z.number().int().nonnegative(),
  ciphertextSha256: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
})
export type ShareFile = z.infer<typeof shareFileSchema>

export const shareManifestSchema = z.strictObject({
  v: z.literal(1),
  context: z.literal(SHARE_MANIFEST_CONTEXT),
  fileIdentity: z.string().regex(IDENTITY),
  files: z.array(shareFileSchema).min(1).max(MAX_SHARE_FILES),
})
export type ShareManifest = z.infer<typeof shareManifestSchema>

/** The keys of one new share link; `fragment` is everything after `#`. */
export interface ShareKeys {
  fragment: string
  /** The X25519 identity the files are encrypted to (kept in the manifest). */
  fileIdentity: string
  fileRecipient: string
  /** What seals the manifest: an X25519 recipient, or the combined scrypt passphrase. */
  manifestKey: { recipient: string } | { passphrase: string }
}

/** A parsed share link. */
export interface ShareLink {
  origin: string
  shareId: string
  fragment: string
  needsPassphrase: boolean
}

/**
 * Fresh keys for a link; with `passphrase` (at least one character) the manifest is sealed to
 * the link's secret joined with it. Throws `InvalidInputError` for an empty passphrase.
 */
export async function createShareKeys(passphrase?: string): Promise<ShareKeys> {
  const fileIdentity = await generateX25519Identity()
  const fileRecipient = await identityToRecipient(fileIdentity)
  if (passphrase === undefined) {
    return { fragment: fileIdentity, fileIdentity, fileRecipient, manifestKey: { recipient: fileRecipient } }
  }
  if (passphrase.length === 0) throw new InvalidInputError('the passphrase is empty')
  const secret = toBase64Url(randomBytes(32))
  return {
    fragment: `P1.${secret}`,
    fileIdentity,
    fileRecipient,
    manifestKey: { passphrase: combinedPassphrase(secret, passphrase) },
  }
}

function combinedPassphrase(secret: string, passphrase: string): string {
  return `${secret}:${passphrase}`
}

/** `<origin>/s/<shareId>#<fragment>`. */
export function shareLinkUrl(origin: string, shareId: string, fragment: string): string {
  return `${new URL(origin).origin}/s/${shareId}#${fragment}`
}

/** Parses a share link; throws `ShareLinkError` for anything else. */
export function parseShareLink(link: string): ShareLink {
  let u: URL
  try {
    u = new URL(link.trim())
  } catch {
    throw new ShareLinkError()
  }
  const m = /^\/s\/([^/]+)$/.exec(u.pathname)
  const fragment = u.hash.slice(1)
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !m || !SHARE_ID.test(m[1]!)) {
    throw new ShareLinkError()
  }
  const pass = PASS_FRAGMENT.test(fragment)
  if (!pass && !IDENTITY.test(fragment)) throw new ShareLinkError('the link has no valid key after #')
  return { origin: u.origin, shareId: m[1]!, fragment, needsPassphrase: pass }
}

/** Seals a share manifest with the link's manifest key (age, X25519 or scrypt). */
export async function sealShareManifest(
  keys: ShareKeys,
  manifest: ShareManifest,
  opts: { workFactor?: number } = {},
): Promise<Uint8Array> {
  if (!shareManifestSchema.safeParse(manifest).success) throw new InvalidInputError('invalid share manifest')
  const bytes = utf8(JSON.stringify(manifest))
  return 'recipient' in keys.manifestKey
    ? encryptBytes([keys.manifestKey.recipient], bytes)
    : encryptBytesWithPassphrase(keys.manifestKey.passphrase, bytes, opts)
}

/**
 * Opens a sealed share manifest with a link's fragment (and the passphrase, for `P1.` links).
 * Throws `ShareLinkError` if the fragment is malformed or does not open it, `WrongPassphraseError`
 * if the passphrase does not, `HeaderError`/`PayloadAuthError` for a damaged manifest.
 */
export async function openShareManifest(
  sealed: Uint8Array,
  fragment: string,
  passphrase?: string,
): Promise<ShareManifest> {
  const pass = PASS_FRAGMENT.exec(fragment)
  let bytes: Uint8Array
  try {
    if (pass) {
      if (passphrase === undefined || passphrase.length === 0) throw new WrongPassphraseError()
      bytes = await decryptBytesWithPassphrase(combinedPassphrase(pass[1]!, passphrase), sealed, {
        maxHeaderSize: 4096,
      })
    } else if (IDENTITY.test(fragment)) {
      bytes = await decryptBytes([fragment], sealed, { maxHeaderSize: 4096 })
    } else throw new ShareLinkError()
  } catch (e) {
    if (isAirlockError(e, 'NO_MATCH')) throw pass ? new WrongPassphraseError() : new ShareLinkError()
    // A key that looks right but does not decode (a typo in the link).
    if (!pass && isAirlockError(e, 'INVALID_INPUT')) throw new ShareLinkError()
    throw e
  }
  let value: unknown
  try {
    value = JSON.parse(fromUtf8(bytes))
  } catch {
    throw new HeaderError('malformed share manifest')
  }
  const r = shareManifestSchema.safeParse(value)
  if (!r.success) throw new HeaderError('malformed share manifest')
  return r.data
}

/** The exact size of the age file {@link encryptShareFile} makes for `size` bytes. */
export function shareFileCiphertextSize(fileRecipient: string, size: number, aead?: ChunkAead) {
  return itemCiphertextSize([fileRecipient], size, aead)
}

/**
 * Encrypts one file of a share (Padmé-padded, like items) to the link's file recipient. Call
 * `finish()` after the ciphertext was read to its end for its size and SHA-256 (base64url).
 */
export async function encryptShareFile(
  fileRecipient: string,
  plaintext: ReadableStream<Uint8Array>,
  size: number,
  opts: { aead?: ChunkAead; sha256?: Sha256Factory } = {},
): Promise<{ ciphertext: ReadableStream<Uint8Array>; finish(): { size: number; sha256: string } }> {
  const hash = (opts.sha256 ?? (() => sha256.create()))()
  let n = 0
  let done = false
  const encrypted = await encryptStream([fileRecipient], plaintext.pipeThrough(padStream(size)), {
    aead: opts.aead,
  })
  const ciphertext = encrypted.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        hash.update(chunk)
        n += chunk.length
        c.enqueue(chunk)
      },
      flush() {
        done = true
      },
    }),
  )
  return {
    ciphertext,
    finish() {
      if (!done) throw new InvalidInputError('the ciphertext stream was not read to its end')
      return { size: n, sha256: toBase64Url(hash.digest()) }
    },
  }
}

/**
 * Decrypts file `index` of an opened share manifest. The ciphertext is checked against the
 * manifest's size and SHA-256 as it streams (its last chunk is held back until both match,
 * `HashMismatchError` otherwise), decrypted with the manifest's identity and unpadded. A small
 * file fails already here (the header cannot be read before the check), a larger one while
 * streaming: treat the plaintext as provisional until the stream ends without error.
 */
export async function decryptShareFile(
  manifest: ShareManifest,
  index: number,
  ciphertext: ReadableStream<Uint8Array>,
  opts: { aead?: ChunkAead; sha256?: Sha256Factory } = {},
): Promise<ReadableStream<Uint8Array>> {
  const file = manifest.files[index]
  if (!file) throw new InvalidInputError('no such file in the share')
  const checked = ciphertext.pipeThrough(
    verifyCiphertext({
      size: file.ciphertextSize,
      sha256: fromBase64Url(file.ciphertextSha256),
      hash: opts.sha256 ?? (() => sha256.create()),
    }),
  )
  let padded: ReadableStream<Uint8Array>
  try {
    padded = await decryptStream([manifest.fileIdentity], checked, { aead: opts.aead })
  } catch (e) {
    if (e instanceof NoMatchError)
      throw new ShareLinkError('the share manifest names a key that does not open this file')
    throw e
  }
  return padded.pipeThrough(unpadStream(file.size))
}
