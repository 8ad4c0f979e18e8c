import { InvalidInputError } from './errors.js'

/**
 * Padmé padded length of a payload of `size` bytes (Nikitin et al., "Reducing Metadata Leakage
 * from Encrypted Files and Communication with PURBs"): at most ~12% overhead, and an observer
 * learns only O(log log size) bits of the size.
 *
 * Uses plain arithmetic instead of 32-bit bit operations, so it is exact for every safe integer
 * (files beyond 2^32 bytes included). Throws `InvalidInputError` for negative or unsafe sizes.
 */
export function padmeLength(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0)
    throw new InvalidInputError('size must be a safe non-negative integer')
  if (size < 2) return size
  const e = floorLog2(size)
  const s = floorLog2(e) + 1
  const lastBits = e - s
  const mask = 2 ** lastBits
  // (size + mask - 1) & ~(mask - 1) without 32-bit truncation.
  return Math.ceil(size / mask) * mask
}

/** Number of zero bytes appended to a payload of `size` bytes. */
export function padmeOverhead(size: number): number {
  return padmeLength(size) - size
}

function floorLog2(n: number): number {
  // Math.log2 can round up just below a power of two; correct it exactly.
  let e = Math.floor(Math.log2(n))
  while (2 ** e > n) e--
  while (2 ** (e + 1) <= n) e++
  return e
}

/**
 * A transform that appends the Padmé zero padding after exactly `size` bytes of input. Errors if
 * the input is longer or shorter than declared, so a file that changed while being read is never
 * sent with a wrong size.
 */
export function padStream(size: number): TransformStream<Uint8Array, Uint8Array> {
  const padded = padmeLength(size)
  let seen = 0
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.length
      if (seen > size) controller.error(new InvalidInputError('input is longer than its declared size'))
      else controller.enqueue(chunk)
    },
    flush(controller) {
      if (seen !== size) throw new InvalidInputError('input is shorter than its declared size')
      let left = padded - size
      while (left > 0) {
        const n = Math.min(left, 65536)
        controller.enqueue(new Uint8Array(n))
        left -= n
      }
    },
  })
}

/**
 * The inverse of {@link padStream}: passes the first `size` bytes and checks that exactly
 * `padmeLength(size) - size` zero bytes follow. Errors with `InvalidInputError` otherwise.
 */
export function unpadStream(size: number): TransformStream<Uint8Array, Uint8Array> {
  const padded = padmeLength(size)
  let seen = 0
  return new TransformStream({
    transform(chunk, controller) {
      const keep = Math.max(0, Math.min(chunk.length, size - seen))
      for (let i = keep; i < chunk.length; i++) {
        if (chunk[i] !== 0) {
          controller.error(new InvalidInputError('padding is not zero'))
          return
        }
      }
      seen += chunk.length
      if (seen > padded) {
        controller.error(new InvalidInputError('payload is longer than its padded size'))
        return
      }
      if (keep > 0) controller.enqueue(keep === chunk.length ? chunk : chunk.subarray(0, keep))
    },
    flush() {
      if (seen !== padded) throw new InvalidInputError('payload is shorter than its padded size')
    },
  })
}
