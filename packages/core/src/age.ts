import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { scryptAsync } from '@noble/hashes/scrypt.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { armor, Decrypter, Encrypter, type Recipient, Stanza } from 'age-encryption'
import { readAll, readerSource } from './byte-streams.js'
import { concatBytes, randomBytes, toBase64Url, utf8 } from './bytes.js'
import {
  AirlockError,
  ArmorError,
  DowngradeError,
  HeaderError,
  HeaderMacError,
  InvalidInputError,
  LimitError,
  NoMatchError,
} from './errors.js'
import {
  type ChunkAead,
  decryptStream as decryptSTREAM,
  encryptStream as encryptSTREAM,
  nobleAead,
} from './stream.js'

/**
 * age v1 (C2SP) on top of `age-encryption`: that library parses and checks headers and wraps
 * and unwraps file keys for every recipient type; the payload STREAM is ours so that a faster
 * ChaCha20-Poly1305 can be plugged in (`ChunkAead`) without a second implementation of the rest.
 */

/**
 * `'pq'`: every stanza must be a hybrid `mlkem768x25519` one — the rule for device items, so a
 * server cannot downgrade an item to X25519 or to a passphrase. `'any'`: whatever the identities
 * accept (still never scrypt mixed with other stanzas).
 */
export type RecipientPolicy = 'pq' | 'any'

export interface EncryptOptions {
  aead?: ChunkAead
}

export interface DecryptOptions {
  aead?: ChunkAead
  policy?: RecipientPolicy
  /** Upper bound on the header size in bytes (default 4 MiB, room for ~2,500 hybrid stanzas). */
  maxHeaderSize?: number
}

const DEFAULT_MAX_HEADER = 4 * 1024 * 1024
const NONCE_SIZE = 16
const PQ_TYPE = 'mlkem768x25519'
const PAYLOAD_LABEL = utf8('payload')

/**
 * Encrypts a stream to age recipients (`age1…` X25519 or `age1pq1…` hybrid). Throws
 * `DowngradeError` if hybrid and classic recipients are mixed (the age spec forbids it: the
 * file would only be as strong as its weakest stanza), `InvalidInputError` for an unknown
 * recipient string. The returned stream is the complete age file.
 */
export async function encryptStream(
  recipients: readonly string[],
  input: ReadableStream<Uint8Array>,
  opts: EncryptOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  if (recipients.length === 0) throw new InvalidInputError('at least one recipient is required')
  const pq = recipients.filter((r) => r.startsWith('age1pq1')).length
  if (pq !== 0 && pq !== recipients.length) {
    throw new DowngradeError('post-quantum and classic recipients cannot share one file')
  }
  const encrypter = new Encrypter()
  try {
    for (const r of recipients) encrypter.addRecipient(r)
  } catch {
    throw new InvalidInputError('unrecognised age recipient')
  }
  return sealWith(encrypter, null, input, opts)
}

/** Length of unpadded base64 for `n` bytes. */
const b64Length = (n: number) => Math.floor(n / 3) * 4 + (n % 3 === 0 ? 0 : (n % 3) + 1)
/** A stanza's lines: `-> type args…`, then its body (a wrapped 16-byte file key: one short line). */
const stanzaLength = (args: readonly number[]) =>
  `-> `.length + args.reduce((a, n) => a + n + 1, 0) + b64Length(16 + 16) + 1
/** `-> X25519 <32-byte share>` */
const X25519_STANZA = stanzaLength(['X25519'.length, b64Length(32)])
/** `-> mlkem768x25519 <ML-KEM-768 ciphertext (1088 bytes) and X25519 share (32)>` */
const PQ_STANZA = stanzaLength([PQ_TYPE.length, b64Length(1088 + 32)])
/** The version line, the MAC line and the payload nonce. */
const FIXED_PREFIX = 'age-encryption.org/v1\n'.length + '--- '.length + b64Length(32) + 1 + NONCE_SIZE
const X25519_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/

/**
 * The bytes {@link encryptStream} writes to `recipients` before the payload (header and nonce),
 * from the format alone: stanza lengths do not depend on the keys. Null for a recipient type not
 * known here; then encrypting nothing tells. Tests hold it to what encryption produces.
 */
export function agePrefixSize(recipients: readonly string[]): number | null {
  let size = FIXED_PREFIX
  for (const r of recipients) {
    if (r.startsWith('age1pq1')) size += PQ_STANZA
    else if (X25519_RECIPIENT.test(r)) size += X25519_STANZA
    else return null
  }
  return size
}

/**
 * Encrypts a stream to a passphrase (an age scrypt stanza), for share links and exports.
 * `workFactor` is log2 of scrypt's N (default 18, as age).
 */
export async function encryptStreamWithPassphrase(
  passphrase: string,
  input: ReadableStream<Uint8Array>,
  opts: EncryptOptions & { workFactor?: number } = {},
): Promise<ReadableStream<Uint8Array>> {
  const logN = opts.workFactor ?? 18
  if (!Number.isInteger(logN) || logN < 1 || logN > 22)
    throw new InvalidInputError('invalid scrypt work factor')
  const wrap = async (fileKey: Uint8Array): Promise<Stanza[]> => {
    const salt = randomBytes(16)
    const key = await scryptAsync(utf8(passphrase), concatBytes(utf8('age-encryption.org/v1/scrypt'), salt), {
      N: 2 ** logN,
      r: 8,
      p: 1,
      dkLen: 32,
    })
    const body = chacha20poly1305(key, new Uint8Array(12)).encrypt(fileKey)
    return [new Stanza(['scrypt', toBase64(salt), String(logN)], body)]
  }
  return sealWith(new Encrypter(), wrap, input, opts)
}

/**
 * `age-encryption` builds and MACs the header; we take the file key it chose (through a
 * recipient that records it) and encrypt the payload ourselves. The library encrypts an empty
 * payload to do so, whose trailing nonce and empty final chunk we cut off.
 */
async function sealWith(
  encrypter: Encrypter,
  wrap: ((fileKey: Uint8Array) => Promise<Stanza[]>) | null,
  input: ReadableStream<Uint8Array>,
  opts: EncryptOptions,
): Promise<ReadableStream<Uint8Array>> {
  let fileKey: Uint8Array | null = null
  const capture: Recipient = {
    wrapFileKey: async (key) => {
      fileKey = key
      return wrap ? wrap(key) : []
    },
  }
  encrypter.addRecipient(capture)
  const empty = await encrypter.encrypt(new Uint8Array(0))
  if (fileKey === null) throw new HeaderError('file key was not produced')
  const header = empty.subarray(0, empty.length - NONCE_SIZE - 16)
  const nonce = randomBytes(NONCE_SIZE)
  const key = hkdf(sha256, fileKey, nonce, PAYLOAD_LABEL, 32)
  const prefix = concatBytes(header, nonce)
  const body = input.pipeThrough(encryptSTREAM(key, opts.aead ?? nobleAead))
  return prependBytes(prefix, body)
}

/**
 * Decrypts an age file. The header is read and verified before this resolves; the payload is
 * decrypted as the returned stream is read (see `decryptStream` in stream.ts for its errors).
 *
 * Throws `NoMatchError` if no identity matches ("not mine"), `HeaderError` for a malformed
 * header or a matching but malformed stanza ("broken"), `HeaderMacError` if the header was
 * altered, `DowngradeError` if `policy` is `'pq'` and a non-hybrid stanza is present.
 */
export async function decryptStream(
  identities: readonly string[],
  input: ReadableStream<Uint8Array>,
  opts: DecryptOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const decrypter = new Decrypter()
  try {
    for (const id of identities) decrypter.addIdentity(id)
  } catch {
    throw new InvalidInputError('unrecognised age identity')
  }
  return openWith(decrypter, input, opts)
}

/** Decrypts an age file encrypted to a passphrase. Same errors as {@link decryptStream}. */
export async function decryptStreamWithPassphrase(
  passphrase: string,
  input: ReadableStream<Uint8Array>,
  opts: Omit<DecryptOptions, 'policy'> = {},
): Promise<ReadableStream<Uint8Array>> {
  const decrypter = new Decrypter()
  decrypter.addPassphrase(passphrase)
  return openWith(decrypter, input, opts)
}

async function openWith(
  decrypter: Decrypter,
  input: ReadableStream<Uint8Array>,
  opts: DecryptOptions,
): Promise<ReadableStream<Uint8Array>> {
  const reader = input.getReader()
  let header: Uint8Array
  let rest: Uint8Array
  try {
    ;({ header, rest } = await readHeader(reader, opts.maxHeaderSize ?? DEFAULT_MAX_HEADER))
    if (opts.policy === 'pq') checkPq(header)
  } catch (e) {
    reader.releaseLock()
    await input.cancel().catch(() => {})
    throw e
  }
  let fileKey: Uint8Array
  try {
    fileKey = await decrypter.decryptHeader(header)
  } catch (e) {
    reader.releaseLock()
    await input.cancel().catch(() => {})
    throw classifyHeaderError(e)
  }
  const payload = readerSource(reader, rest)
  const { data: nonce, rest: body } = await splitPrefix(payload, NONCE_SIZE)
  const key = hkdf(sha256, fileKey, nonce, PAYLOAD_LABEL, 32)
  return body.pipeThrough(decryptSTREAM(key, opts.aead ?? nobleAead))
}

function classifyHeaderError(e: unknown): AirlockError {
  if (e instanceof AirlockError) return e
  const message = e instanceof Error ? e.message : ''
  // age-encryption signals these two outcomes only through its messages (pinned version).
  if (message.startsWith('no identity matched')) return new NoMatchError()
  if (message === 'invalid header HMAC') return new HeaderMacError()
  return new HeaderError()
}

/**
 * Reads up to and including the MAC line ("--- …\n"). A stanza body line is base64 and cannot
 * start with '-', and an argument line starts with "-> ", so the first line starting with "---"
 * ends the header; the library's parser then checks everything before it strictly.
 */
async function readHeader(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  max: number,
): Promise<{ header: Uint8Array; rest: Uint8Array }> {
  let buf: Uint8Array = new Uint8Array(0)
  let lineStart = 0
  let scanned = 0
  let macLine = false
  for (;;) {
    for (; scanned < buf.length; scanned++) {
      if (scanned === lineStart && !macLine && buf.length - lineStart >= 3) {
        macLine = buf[lineStart] === 0x2d && buf[lineStart + 1] === 0x2d && buf[lineStart + 2] === 0x2d
      } else if (scanned === lineStart && buf.length - lineStart < 3) {
        break
      }
      if (buf[scanned] === 0x0a) {
        if (scanned >= max) throw new LimitError('age header is too large')
        if (macLine) {
          checkMacLine(buf.subarray(lineStart, scanned))
          return { header: buf.slice(0, scanned + 1), rest: buf.slice(scanned + 1) }
        }
        lineStart = scanned + 1
      }
    }
    if (buf.length > max) throw new LimitError('age header is too large')
    const { done, value } = await reader.read()
    if (done) throw new HeaderError('age header is incomplete')
    buf = concatBytes(buf, value)
  }
}

// The MAC is exactly 32 bytes in canonical unpadded base64: 43 characters, the last of which
// carries two zero bits. Anything else is a malformed header, not a failed MAC.
const MAC_LINE = /^--- [A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]$/

function checkMacLine(line: Uint8Array): void {
  if (!MAC_LINE.test(new TextDecoder().decode(line))) throw new HeaderError('malformed header MAC line')
}

function checkPq(header: Uint8Array): void {
  const text = new TextDecoder().decode(header)
  let stanzas = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith('-> ')) continue
    stanzas++
    if (line.split(' ')[1] !== PQ_TYPE)
      throw new DowngradeError('item is not encrypted to post-quantum recipients only')
  }
  if (stanzas === 0) throw new HeaderError()
}

async function splitPrefix(
  s: ReadableStream<Uint8Array>,
  n: number,
): Promise<{ data: Uint8Array; rest: ReadableStream<Uint8Array> }> {
  const reader = s.getReader()
  let data: Uint8Array = new Uint8Array(0)
  while (data.length < n) {
    const { done, value } = await reader.read()
    if (done) {
      reader.releaseLock()
      throw new HeaderError('age file ends inside the payload nonce')
    }
    data = concatBytes(data, value)
  }
  return { data: data.slice(0, n), rest: readerSource(reader, data.slice(n)) }
}

function prependBytes(prefix: Uint8Array, body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  return readerSource(body.getReader(), prefix)
}

function toBase64(b: Uint8Array): string {
  // Standard base64 without padding, as age stanzas use.
  return toBase64Url(b).replaceAll('-', '+').replaceAll('_', '/')
}

/** Buffered convenience over {@link encryptStream}. */
export async function encryptBytes(recipients: readonly string[], data: Uint8Array, opts?: EncryptOptions) {
  return readAll(await encryptStream(recipients, bytesSource(data), opts))
}

/** Buffered convenience over {@link decryptStream}; all-or-nothing. */
export async function decryptBytes(identities: readonly string[], data: Uint8Array, opts?: DecryptOptions) {
  return readAll(await decryptStream(identities, bytesSource(data), opts))
}

export async function encryptBytesWithPassphrase(
  passphrase: string,
  data: Uint8Array,
  opts?: EncryptOptions & { workFactor?: number },
) {
  return readAll(await encryptStreamWithPassphrase(passphrase, bytesSource(data), opts))
}

export async function decryptBytesWithPassphrase(
  passphrase: string,
  data: Uint8Array,
  opts?: DecryptOptions,
) {
  return readAll(await decryptStreamWithPassphrase(passphrase, bytesSource(data), opts))
}

/** Encodes an age file in the ASCII armor (PEM-like) form. */
export function armorEncode(file: Uint8Array): string {
  return armor.encode(file)
}

/** Decodes ASCII armor; throws `ArmorError` for anything but strict armor. */
export function armorDecode(text: string): Uint8Array {
  try {
    return armor.decode(text)
  } catch {
    throw new ArmorError()
  }
}

function bytesSource(data: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      if (data.length > 0) c.enqueue(data)
      c.close()
    },
  })
}
