import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { PayloadAuthError, TruncatedError } from './errors.js'

/** Plaintext bytes per age STREAM chunk. */
export const CHUNK_SIZE = 64 * 1024
/** Poly1305 tag bytes per chunk. */
export const TAG_SIZE = 16
const SEALED_CHUNK = CHUNK_SIZE + TAG_SIZE

/**
 * The ChaCha20-Poly1305 used for each payload chunk. Core ships a pure-JS implementation
 * ({@link nobleAead}); Node clients may pass a faster one backed by `node:crypto`. Both must pass
 * the same vectors.
 */
export interface ChunkAead {
  /** Returns ciphertext || 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array
  /** Returns the plaintext; throws (any error) if the tag does not verify. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array
}

/** The portable ChaCha20-Poly1305 from `@noble/ciphers`. */
export const nobleAead: ChunkAead = {
  seal: (key, nonce, plaintext) => chacha20poly1305(key, nonce).encrypt(plaintext),
  open: (key, nonce, sealed) => chacha20poly1305(key, nonce).decrypt(sealed),
}

/** The 12-byte STREAM nonce: an 11-byte big-endian counter and a last-chunk flag byte. */
class StreamNonce {
  readonly bytes = new Uint8Array(12)
  private counter = 0

  next(): void {
    this.counter++
    // 2^53 chunks is far beyond any file; the counter fits the low 7 of the 11 counter bytes.
    let c = this.counter
    for (let i = 10; i >= 4; i--) {
      this.bytes[i] = c % 256
      c = Math.floor(c / 256)
    }
  }

  setLast(last: boolean): void {
    this.bytes[11] = last ? 1 : 0
  }

  get isFirst(): boolean {
    return this.counter === 0
  }
}

/**
 * age STREAM encryption as a transform: plaintext in, sealed 64 KiB chunks out, with the final
 * chunk flagged. Memory is bounded by one chunk plus whatever the consumer buffers.
 */
export function encryptStream(
  key: Uint8Array,
  aead: ChunkAead = nobleAead,
): TransformStream<Uint8Array, Uint8Array> {
  const nonce = new StreamNonce()
  const buf = new Uint8Array(CHUNK_SIZE)
  let used = 0
  const sealFull = (controller: TransformStreamDefaultController<Uint8Array>, chunk: Uint8Array) => {
    controller.enqueue(aead.seal(key, nonce.bytes, chunk))
    nonce.next()
  }
  return new TransformStream({
    transform(chunk, controller) {
      let off = 0
      // A full chunk can only be sealed once we know more plaintext follows, because the last
      // chunk must carry the final flag; hence "<" rather than "<=" below.
      while (off < chunk.length) {
        if (used === CHUNK_SIZE) {
          sealFull(controller, buf)
          used = 0
        }
        if (used === 0 && chunk.length - off > CHUNK_SIZE) {
          // Seal straight from the input, skipping a copy.
          sealFull(controller, chunk.subarray(off, off + CHUNK_SIZE))
          off += CHUNK_SIZE
          continue
        }
        const n = Math.min(CHUNK_SIZE - used, chunk.length - off)
        buf.set(chunk.subarray(off, off + n), used)
        used += n
        off += n
      }
    },
    flush(controller) {
      nonce.setLast(true)
      controller.enqueue(aead.seal(key, nonce.bytes, buf.subarray(0, used)))
    },
  })
}

/**
 * age STREAM decryption as a transform. Each chunk is released as soon as it authenticates, so a
 * consumer that needs all-or-nothing must write to a temporary place and commit on close.
 *
 * Errors: `PayloadAuthError` for a chunk that does not authenticate, data after the final chunk,
 * or an empty final chunk after others; `TruncatedError` when the input ends before a final
 * chunk. Like the reference implementation, a full-size chunk is tried as non-final and then as
 * final, so the released plaintext before an error is the same as age's.
 */
export function decryptStream(
  key: Uint8Array,
  aead: ChunkAead = nobleAead,
): TransformStream<Uint8Array, Uint8Array> {
  const nonce = new StreamNonce()
  const buf = new Uint8Array(SEALED_CHUNK)
  let used = 0
  let ended = false

  const openFull = (sealed: Uint8Array): Uint8Array => {
    try {
      return aead.open(key, nonce.bytes, sealed)
    } catch {
      nonce.setLast(true)
      try {
        const out = aead.open(key, nonce.bytes, sealed)
        ended = true
        return out
      } catch {
        throw new PayloadAuthError()
      }
    }
  }

  return new TransformStream({
    transform(chunk, controller) {
      let off = 0
      while (off < chunk.length) {
        if (ended) throw new PayloadAuthError('data after the final chunk')
        if (used === 0 && chunk.length - off >= SEALED_CHUNK) {
          controller.enqueue(openFull(chunk.subarray(off, off + SEALED_CHUNK)))
          nonce.next()
          off += SEALED_CHUNK
          continue
        }
        const n = Math.min(SEALED_CHUNK - used, chunk.length - off)
        buf.set(chunk.subarray(off, off + n), used)
        used += n
        off += n
        if (used === SEALED_CHUNK) {
          // The output must not alias the reused buffer; aead.open returns fresh memory.
          controller.enqueue(openFull(buf))
          nonce.next()
          used = 0
        }
      }
    },
    flush(controller) {
      if (ended) {
        if (used > 0) throw new PayloadAuthError('data after the final chunk')
        return
      }
      if (used === 0) throw new TruncatedError()
      if (used < TAG_SIZE) throw new TruncatedError()
      if (used === TAG_SIZE && !nonce.isFirst) throw new PayloadAuthError('empty final chunk')
      nonce.setLast(true)
      let out: Uint8Array
      try {
        out = aead.open(key, nonce.bytes, buf.subarray(0, used))
      } catch {
        throw new PayloadAuthError()
      }
      controller.enqueue(out)
    },
  })
}

/** Size of the STREAM ciphertext (without header and nonce) for a plaintext of `size` bytes. */
export function streamCiphertextSize(size: number): number {
  const chunks = Math.max(1, Math.ceil(size / CHUNK_SIZE))
  return size + chunks * TAG_SIZE
}
