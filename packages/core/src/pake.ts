import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js'
import { expand, extract } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha512 } from '@noble/hashes/sha2.js'
import { bytesEqual, concatBytes, randomBytes, utf8 } from './bytes.js'
import { InvalidInputError, PakeError } from './errors.js'

// CPace (draft-irtf-cfrg-cpace) with G_Ristretto255 and SHA-512, initiator-responder mode, plus the
// Airlock linking session built on it. Names follow the draft so the vectors can be checked 1:1.

const Point = ristretto255.Point
const ORDER = Point.Fn.ORDER
/** A ristretto255 group element in noble's internal representation. */
export type RistrettoPoint = InstanceType<(typeof ristretto255)['Point']>

const DSI = utf8('CPaceRistretto255')
const EMPTY: Uint8Array = new Uint8Array(0)
// SHA-512's input block size: the zero padding makes the PRS fill the whole first block.
const HASH_BLOCK_BYTES = 128

/** The draft's `prepend_len`: the LEB128 length of `data`, then `data`. */
export function prependLen(data: Uint8Array): Uint8Array {
  const len: number[] = []
  let n = data.length
  do {
    len.push(n < 128 ? n : (n & 0x7f) | 0x80)
    n >>>= 7
  } while (n > 0)
  return concatBytes(Uint8Array.from(len), data)
}

/** The draft's `lv_cat`: every part length-prefixed, so the encoding is prefix-free. */
export function lvCat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts.map(prependLen))
}

/** The draft's `generator_string` for ristretto255/SHA-512 (exposed for its test vector). */
export function generatorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const zpad = Math.max(0, HASH_BLOCK_BYTES - 1 - prependLen(prs).length - prependLen(DSI).length)
  return lvCat(DSI, prs, new Uint8Array(zpad), ci, sid)
}

/**
 * `G.calculate_generator`: maps the password-related string, channel identifier and session id to
 * a secret generator with RFC 9496 element derivation over 64 bytes of SHA-512. Never throws.
 */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): RistrettoPoint {
  // Always present for ristretto255; optional only in noble's shared hasher type.
  return ristretto255_hasher.deriveToCurve!(sha512(generatorString(prs, ci, sid)))
}

/**
 * `G.sample_scalar` as the draft recommends: 32 random bytes with the bits above 252 cleared, read
 * little-endian. Below the group order by construction, so no reduction bias; zero is resampled
 * because it is no valid secret (probability 2^-252).
 */
export function sampleScalar(): bigint {
  for (;;) {
    const b = randomBytes(32)
    b[31]! &= 0x0f
    const y = leToBigint(b)
    if (y !== 0n) return y
  }
}

/**
 * Reads a 32-byte little-endian scalar, as the test vectors print them, reduced mod the group
 * order. The entry for injecting `ya`/`yb` in tests; throws `InvalidInputError` for a wrong length
 * or a scalar ≡ 0.
 */
export function scalarFromBytes(bytes: Uint8Array): bigint {
  if (bytes.length !== 32) throw new InvalidInputError('scalar must be 32 bytes')
  const y = leToBigint(bytes) % ORDER
  if (y === 0n) throw new InvalidInputError('scalar is zero')
  return y
}

function leToBigint(bytes: Uint8Array): bigint {
  let y = 0n
  for (let i = bytes.length - 1; i >= 0; i--) y = (y << 8n) | BigInt(bytes[i]!)
  return y
}

/** `G.scalar_mult`: the encoding of `y·g`, the public share sent to the peer. */
export function scalarMult(y: bigint, g: RistrettoPoint): Uint8Array {
  if (y === 0n) throw new InvalidInputError('scalar is zero')
  return g.multiply(y).toBytes()
}

/**
 * `G.scalar_mult_vfy` on a share received from the peer. Where the draft returns the identity to
 * signal an abort, this throws `PakeError`: for a wrong length, a non-canonical or invalid
 * ristretto255 encoding, the identity element, or an identity result.
 */
export function scalarMultVfy(y: bigint, peerShare: Uint8Array): Uint8Array {
  if (y === 0n) throw new InvalidInputError('scalar is zero')
  let X: RistrettoPoint
  try {
    if (peerShare.length !== 32) throw new Error('length')
    X = Point.fromBytes(peerShare)
  } catch {
    throw new PakeError('the peer sent an invalid linking message')
  }
  const K = X.is0() ? X : X.multiply(y)
  if (K.is0()) throw new PakeError('the peer sent an invalid linking message')
  return K.toBytes()
}

/** The draft's `transcript_ir`: the initiator's share and data first, then the responder's. */
export function transcriptIr(ya: Uint8Array, adA: Uint8Array, yb: Uint8Array, adB: Uint8Array): Uint8Array {
  return concatBytes(lvCat(ya, adA), lvCat(yb, adB))
}

/** The draft's `transcript_oc` for the symmetric setting (Airlock uses IR; kept for the vectors). */
export function transcriptOc(ya: Uint8Array, adA: Uint8Array, yb: Uint8Array, adB: Uint8Array): Uint8Array {
  const a = lvCat(ya, adA)
  const b = lvCat(yb, adB)
  return concatBytes(utf8('oc'), ...(lexLarger(a, b) ? [a, b] : [b, a]))
}

function lexLarger(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! > b[i]!
  return a.length > b.length
}

/** The intermediate session key `ISK = H(lv_cat(DSI‖"_ISK", sid, K) ‖ transcript)`. */
export function cpaceIsk(sid: Uint8Array, K: Uint8Array, transcript: Uint8Array): Uint8Array {
  return sha512(concatBytes(lvCat(concatBytes(DSI, utf8('_ISK')), sid, K), transcript))
}

/** The draft's public `sid_output = H("CPaceSidOutput" ‖ transcript)`. */
export function cpaceSidOutput(transcript: Uint8Array): Uint8Array {
  return sha512(concatBytes(utf8('CPaceSidOutput'), transcript))
}

/** Which side of the linking exchange: the device that made the code initiates. */
export type PakeRole = 'initiator' | 'responder'

/** A short linking code (see `parseLinkCode`): the public mailbox part and the secret (the CPace PRS). */
export interface LinkCode {
  readonly mailbox: string
  readonly secret: string
}

const CI_LABEL = utf8('airlock link v1')
// Fixed per-role associated data: a reflected share or tag never verifies as the peer's.
const AD: Record<PakeRole, Uint8Array> = { initiator: utf8('initiator'), responder: utf8('responder') }

/**
 * One CPace run for linking with a short code. Flow: each side sends {@link PakeSession.message};
 * on the peer's share {@link PakeSession.receive} returns this side's confirmation tag to send; on
 * the peer's tag {@link PakeSession.confirm} returns the {@link LinkSecrets}. A responder may send
 * its share and tag together. Every method is usable once, in that order; any failure or misuse
 * burns the session, and every later call throws `PakeError`, so an attacker gets one guess per
 * code. After a failure the code holder must show a new code.
 */
export class PakeSession {
  readonly role: PakeRole
  /** This side's share (32 bytes) to send to the peer. */
  readonly message: Uint8Array
  #state: 'fresh' | 'received' | 'done' | 'burnt' = 'fresh'
  #scalar: bigint
  readonly #sid: Uint8Array
  #isk: Uint8Array = new Uint8Array(0)
  #transcript: Uint8Array = new Uint8Array(0)
  #peerTag: Uint8Array = new Uint8Array(0)

  /**
   * `channel` binds the run to its context (e.g. the server origin and account); both sides must
   * pass the same value. The mailbox id is the CPace sid. `scalar` exists for test vectors only.
   * `code` comes from `parseLinkCode`/`generateLinkCode`, which validate it. Throws
   * `InvalidInputError` only for a malformed injected scalar.
   */
  constructor(opts: { role: PakeRole; code: LinkCode; channel: string }, scalar?: Uint8Array) {
    this.role = opts.role
    this.#sid = utf8(opts.code.mailbox)
    const g = calculateGenerator(utf8(opts.code.secret), lvCat(CI_LABEL, utf8(opts.channel)), this.#sid)
    this.#scalar = scalar === undefined ? sampleScalar() : scalarFromBytes(scalar)
    this.message = scalarMult(this.#scalar, g)
  }

  /**
   * Takes the peer's share and returns this side's confirmation tag (64 bytes). Throws `PakeError`
   * (and burns the session) for an invalid or reflected share or when called out of order.
   */
  receive(peerMessage: Uint8Array): Uint8Array {
    this.#expect('fresh')
    try {
      if (bytesEqual(peerMessage, this.message)) throw new PakeError('the peer reflected our message')
      const K = scalarMultVfy(this.#scalar, peerMessage)
      const peer = this.role === 'initiator' ? 'responder' : 'initiator'
      const [ya, yb] = this.role === 'initiator' ? [this.message, peerMessage] : [peerMessage, this.message]
      this.#transcript = transcriptIr(ya, AD.initiator, yb, AD.responder)
      this.#isk = cpaceIsk(this.#sid, K, this.#transcript)
      // Key confirmation as the draft suggests: each side MACs the message it sent.
      const macKey = sha512(concatBytes(utf8('CPaceMac'), this.#sid, this.#isk))
      this.#peerTag = hmac(sha512, macKey, lvCat(peerMessage, AD[peer]))
      this.#state = 'received'
      return hmac(sha512, macKey, lvCat(this.message, AD[this.role]))
    } catch (e) {
      this.#burn()
      throw e
    }
  }

  /**
   * Checks the peer's tag and returns the shared key and fingerprint. Throws `PakeError` (and burns
   * the session) if the tag is wrong: a wrong code or someone in the middle.
   */
  confirm(peerTag: Uint8Array): LinkSecrets {
    this.#expect('received')
    if (!bytesEqual(peerTag, this.#peerTag)) {
      this.#burn()
      throw new PakeError()
    }
    const secrets = deriveLinkSecrets(this.#isk, EMPTY, this.#transcript)
    this.#burn()
    this.#state = 'done'
    return secrets
  }

  #expect(state: 'fresh' | 'received'): void {
    if (this.#state === state) return
    this.#burn()
    throw new PakeError('this linking session is used up; start again with a new code')
  }

  #burn(): void {
    this.#state = 'burnt'
    this.#scalar = 0n
    this.#isk.fill(0)
    this.#peerTag.fill(0)
  }
}

/** What both linking paths (short code and QR) agree on: a key and a fingerprint for people. */
export interface LinkSecrets {
  /** 32 bytes for {@link sealLinkMessage} / {@link openLinkMessage}. */
  key: Uint8Array
  /** Six groups of four digits (~80 bits) shown on both devices, e.g. `0412 9931 …`. */
  fingerprint: string
}

/**
 * Derives the linking key and fingerprint from key material bound to a transcript; shared by the
 * PAKE and the QR path so both look the same to the person comparing. Never throws.
 */
export function deriveLinkSecrets(ikm: Uint8Array, salt: Uint8Array, transcript: Uint8Array): LinkSecrets {
  const prk = extract(sha512, ikm, salt)
  const th = sha512(transcript)
  const key = expand(sha512, prk, concatBytes(utf8('airlock link key v1'), th), 32)
  const fp = expand(sha512, prk, concatBytes(utf8('airlock link fingerprint v1'), th), 30)
  const groups: string[] = []
  const view = new DataView(fp.buffer, fp.byteOffset, fp.byteLength)
  // 40 bits per group of 4 digits keeps the modulo bias below 2^-26.
  for (let o = 0; o < 30; o += 5) {
    const n = view.getUint8(o) * 2 ** 32 + view.getUint32(o + 1)
    groups.push(String(n % 10000).padStart(4, '0'))
  }
  return { key, fingerprint: groups.join(' ') }
}

/**
 * Encrypts a linking message (e.g. the new device's public keys) with XChaCha20-Poly1305 and a
 * random nonce: `nonce(24) ‖ ciphertext ‖ tag(16)`. Put the direction into `aad`, since both sides
 * hold the same key. Throws `InvalidInputError` if `key` is not 32 bytes.
 */
export function sealLinkMessage(key: Uint8Array, plaintext: Uint8Array, aad = EMPTY): Uint8Array {
  if (key.length !== 32) throw new InvalidInputError('link key must be 32 bytes')
  const nonce = randomBytes(24)
  return concatBytes(nonce, xchacha20poly1305(key, nonce, aad).encrypt(plaintext))
}

/**
 * Opens {@link sealLinkMessage} output. Throws `PakeError` if it is truncated or fails
 * authentication (wrong key, other `aad`, tampering); `InvalidInputError` if `key` is not 32 bytes.
 */
export function openLinkMessage(key: Uint8Array, sealed: Uint8Array, aad = EMPTY): Uint8Array {
  if (key.length !== 32) throw new InvalidInputError('link key must be 32 bytes')
  try {
    if (sealed.length < 24 + 16) throw new Error('short')
    return xchacha20poly1305(key, sealed.subarray(0, 24), aad).decrypt(sealed.subarray(24))
  } catch {
    throw new PakeError('linking message failed authentication')
  }
}
