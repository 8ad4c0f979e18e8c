import { sha256 } from '@noble/hashes/sha2.js'
import { agePrefixSize, decryptStream, encryptBytes, encryptStream } from './age.js'
import { bytesStream, readAll } from './byte-streams.js'
import { bytesEqual, fromBase64Url, toBase64Url } from './bytes.js'
import { HashMismatchError, InvalidInputError } from './errors.js'
import type { VerifiedGroup } from './group-log.js'
import type { DeviceSecrets } from './identity.js'
import {
  checkSender,
  groupLogOf,
  type ItemMeta,
  itemMetaSchema,
  type Manifest,
  openManifest,
  type RecipientSet,
  type ResolveLog,
  resolveRecipients,
  type Sender,
  sealManifest,
} from './manifest.js'
import { padmeLength, padStream, unpadStream } from './padding.js'
import { type ChunkAead, streamCiphertextSize, TAG_SIZE } from './stream.js'

/**
 * An item is one age file (the padded plaintext) plus its sealed manifest. These are the only
 * entry points clients use to send and receive one: they fix the order of the checks so that no
 * caller can release unverified bytes.
 */

export interface SealItemInput {
  /** The file or note, exactly `size` bytes (the stream errors otherwise). */
  plaintext: ReadableStream<Uint8Array>
  size: number
  meta: ItemMeta
  sender: Sender
  recipients: readonly RecipientSet[]
  /**
   * For an item to a group: its verified membership log, whose head the manifest names so that
   * members can check the sender belonged to the group there (core's `itemRecipients` gives it).
   */
  group?: VerifiedGroup
  aead?: ChunkAead
  /** SHA-256 implementation; defaults to `@noble/hashes`. Node clients pass `nodeSha256`. */
  sha256?: Sha256Factory
}

/** An incremental SHA-256, as `@noble/hashes` and `node:crypto` both provide. */
export interface Sha256 {
  update(data: Uint8Array): unknown
  digest(): Uint8Array
}

export type Sha256Factory = () => Sha256

const nobleSha256: Sha256Factory = () => sha256.create()

export interface SealedItem {
  /** The age file to upload: Padmé-padded plaintext encrypted to every recipient device. */
  ciphertext: ReadableStream<Uint8Array>
  /**
   * Call after `ciphertext` has been read to its end: signs the manifest over the SHA-256 and
   * size of exactly the bytes produced and returns it sealed. Throws `InvalidInputError` if the
   * stream was not fully read or failed.
   */
  finish(): Promise<{ manifest: Manifest; sealed: Uint8Array }>
}

/**
 * Encrypts an item for the active devices of verified logs (see `resolveRecipients`). Metadata,
 * sender, recipients and the group log (see `groupLogOf`) are checked before any byte is
 * encrypted (`InvalidInputError`, `DeviceLogError`, `GroupLogError`); memory stays bounded
 * whatever the size.
 */
export async function sealItem(input: SealItemInput): Promise<SealedItem> {
  if (!itemMetaSchema.safeParse(input.meta).success) throw new InvalidInputError('invalid item metadata')
  if (!Number.isSafeInteger(input.size) || input.size < 0) throw new InvalidInputError('invalid item size')
  checkSender(input.sender)
  if (input.group) groupLogOf(input.group, input.sender, input.meta.conversationId)
  const recipients = resolveRecipients(input.recipients).map((r) => r.device.recipient)
  const padded = input.plaintext.pipeThrough(padStream(input.size))
  const hash = (input.sha256 ?? nobleSha256)()
  let size = 0
  let state: 'reading' | 'done' | 'failed' = 'reading'
  const measure = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hash.update(chunk)
      size += chunk.length
      controller.enqueue(chunk)
    },
    flush() {
      state = 'done'
    },
  })
  const encrypted = await encryptStream(recipients, padded, { aead: input.aead })
  const ciphertext = encrypted.pipeThrough(measure)
  return {
    ciphertext,
    async finish() {
      if (state !== 'done') throw new InvalidInputError('the ciphertext stream was not read to its end')
      state = 'failed' // one manifest per ciphertext
      return sealManifest({
        sender: input.sender,
        recipients: input.recipients,
        meta: input.meta,
        ...(input.group ? { group: input.group } : {}),
        ciphertextSha256: toBase64Url(hash.digest()),
        ciphertextSize: size,
        plaintextSize: input.size,
        aead: input.aead,
      })
    },
  }
}

const prefixSizes = new Map<string, number>()

/**
 * The exact size of the age file {@link sealItem} makes for `size` plaintext bytes to
 * `recipients`, known before encrypting (the server reserves it): the header and payload nonce
 * (their size depends only on the recipient types and count: see `agePrefixSize`) plus the
 * STREAM of the Padmé-padded plaintext.
 */
export async function itemCiphertextSize(
  recipients: readonly string[],
  size: number,
  aead?: ChunkAead,
): Promise<number> {
  const key = recipients.join('\n')
  let prefix = prefixSizes.get(key)
  if (prefix === undefined) {
    // Computed where the format tells (it saves a key encapsulation per recipient), measured by
    // encrypting nothing otherwise.
    prefix =
      agePrefixSize(recipients) ??
      (await encryptBytes(recipients, new Uint8Array(0), { aead })).length - TAG_SIZE
    prefixSizes.set(key, prefix)
  }
  return prefix + streamCiphertextSize(padmeLength(size))
}

/** Buffered {@link sealItem} for small items such as notes. */
export async function sealItemBytes(
  input: Omit<SealItemInput, 'plaintext' | 'size'> & { plaintext: Uint8Array },
): Promise<{ ciphertext: Uint8Array; manifest: Manifest; sealed: Uint8Array }> {
  const item = await sealItem({
    ...input,
    plaintext: bytesStream(input.plaintext),
    size: input.plaintext.length,
  })
  const ciphertext = await readAll(item.ciphertext)
  return { ciphertext, ...(await item.finish()) }
}

export interface OpenItemInput {
  sealed: Uint8Array
  expect: { itemId: string; conversationId: string }
  device: DeviceSecrets
  resolveLog: ResolveLog
  /** The stored ciphertext; `stream()` is called twice (check, then decrypt), like `Blob`. */
  ciphertext: { stream(): ReadableStream<Uint8Array> }
  /** This device's account; if given, the manifest must address the device under it. */
  accountId?: string
  aead?: ChunkAead
  sha256?: Sha256Factory
  /**
   * 2 (default): read the whole ciphertext once to check it before decrypting anything.
   * 1: skip that read; the single decrypting read still checks size and hash and errors before
   * releasing its last chunk. Only for callers that write to a temporary place and discard it on
   * error — the CLI, which has just downloaded the ciphertext to a private file.
   */
  passes?: 1 | 2
}

/**
 * Opens an item: verifies the manifest (see `openManifest` for the order and errors), then reads
 * the ciphertext once to its end checking its size and SHA-256 against the signed manifest
 * (`HashMismatchError`), and only then returns the plaintext: a second read, checked again
 * (a source that changes between reads ends in `HashMismatchError` before its last chunk is
 * released), decrypted with post-quantum stanzas only and unpadded to the signed size.
 * As with any authenticated stream, treat plaintext as provisional (write to a temporary file)
 * until the stream closes without error.
 */
export async function openItem(
  input: OpenItemInput,
): Promise<{ manifest: Manifest; plaintext: ReadableStream<Uint8Array> }> {
  const manifest = await openManifest(input)
  const expected = {
    size: manifest.ciphertextSize,
    sha256: fromBase64Url(manifest.ciphertextSha256),
    hash: input.sha256 ?? nobleSha256,
  }
  if (input.passes !== 1) {
    const reader = input.ciphertext.stream().pipeThrough(verifyCiphertext(expected)).getReader()
    for (;;) if ((await reader.read()).done) break
  }
  const checked = input.ciphertext.stream().pipeThrough(verifyCiphertext(expected))
  const padded = await decryptStream([input.device.ageIdentity], checked, { aead: input.aead, policy: 'pq' })
  return { manifest, plaintext: padded.pipeThrough(unpadStream(manifest.plaintextSize)) }
}

export interface OpenItemEarlyInput {
  device: DeviceSecrets
  /** The age file as it arrives, possibly while the sender is still uploading it. */
  ciphertext: ReadableStream<Uint8Array>
  aead?: ChunkAead
  sha256?: Sha256Factory
}

export interface EarlyItem {
  /**
   * The decrypted payload, still padded, as the ciphertext arrives. PROVISIONAL: nothing is
   * known about it yet (the manifest does not exist while the upload runs). Write it to a private
   * temporary file and release nothing before {@link finish} resolves.
   */
  padded: ReadableStream<Uint8Array>
  /**
   * Call once `padded` has been read to its end. Verifies the manifest exactly as
   * {@link openItem} does, then that the bytes that went through were exactly the signed
   * ciphertext (size and SHA-256: `HashMismatchError`) and that they decrypted to
   * `padmeLength(plaintextSize)` bytes of which everything past `plaintextSize` is zero
   * (`InvalidInputError`). Only then is the plaintext the item: its first
   * `manifest.plaintextSize` bytes.
   */
  finish(input: {
    sealed: Uint8Array
    expect: { itemId: string; conversationId: string }
    resolveLog: ResolveLog
    accountId?: string
  }): Promise<Manifest>
}

/**
 * Opens an item from its ciphertext before its manifest exists: a receiver that follows an
 * upload decrypts while the bytes arrive, so the item is ready the moment it is committed. Every
 * chunk still authenticates as it is decrypted (only post-quantum stanzas are accepted); what
 * proves the item is whole and from its sender, the signed manifest and hash, comes last, in
 * {@link EarlyItem.finish}. Errors from the header (`NoMatchError`, …) come at once.
 */
export async function openItemEarly(input: OpenItemEarlyInput): Promise<EarlyItem> {
  const hash = (input.sha256 ?? nobleSha256)()
  let ciphertextSize = 0
  const measure = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hash.update(chunk)
      ciphertextSize += chunk.length
      controller.enqueue(chunk)
    },
  })
  const decrypted = await decryptStream([input.device.ageIdentity], input.ciphertext.pipeThrough(measure), {
    aead: input.aead,
    policy: 'pq',
  })
  let paddedSize = 0
  // Where the payload's last non-zero byte ends: the padding must lie after the plaintext. Scanning
  // each chunk from its end stops at its first non-zero byte, so only zero runs are read twice.
  let dataEnd = 0
  let state: 'reading' | 'done' | 'finished' = 'reading'
  const track = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      let i = chunk.length
      while (i > 0 && chunk[i - 1] === 0) i--
      if (i > 0) dataEnd = paddedSize + i
      paddedSize += chunk.length
      controller.enqueue(chunk)
    },
    flush() {
      state = 'done'
    },
  })
  return {
    padded: decrypted.pipeThrough(track),
    async finish(m) {
      if (state !== 'done') throw new InvalidInputError('the payload was not read to its end')
      state = 'finished'
      const manifest = await openManifest({ ...m, device: input.device, aead: input.aead })
      if (
        ciphertextSize !== manifest.ciphertextSize ||
        !bytesEqual(hash.digest(), fromBase64Url(manifest.ciphertextSha256))
      ) {
        throw new HashMismatchError()
      }
      if (paddedSize !== padmeLength(manifest.plaintextSize))
        throw new InvalidInputError('payload is not its padded size')
      if (dataEnd > manifest.plaintextSize) throw new InvalidInputError('padding is not zero')
      return manifest
    },
  }
}

/** Buffered {@link openItem} for small items such as notes; all-or-nothing. */
export async function openItemBytes(
  input: Omit<OpenItemInput, 'ciphertext'> & { ciphertext: Uint8Array },
): Promise<{ manifest: Manifest; plaintext: Uint8Array }> {
  const data = input.ciphertext
  const { manifest, plaintext } = await openItem({
    ...input,
    ciphertext: { stream: () => bytesStream(data) },
  })
  return { manifest, plaintext: await readAll(plaintext) }
}

/**
 * Passes bytes through while hashing them, holding back the latest chunk until the end so that
 * downstream never sees the whole input unless size and SHA-256 match. Errors with
 * `HashMismatchError` as soon as the input is longer than expected, or at the end.
 */
export function verifyCiphertext(expected: {
  size: number
  sha256: Uint8Array
  hash: Sha256Factory
}): TransformStream<Uint8Array, Uint8Array> {
  const hash = expected.hash()
  let seen = 0
  let held: Uint8Array | null = null
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.length
      if (seen > expected.size) {
        controller.error(new HashMismatchError())
        return
      }
      hash.update(chunk)
      if (held) controller.enqueue(held)
      held = chunk
    },
    flush(controller) {
      if (seen !== expected.size || !bytesEqual(hash.digest(), expected.sha256)) throw new HashMismatchError()
      if (held) controller.enqueue(held)
    },
  })
}
