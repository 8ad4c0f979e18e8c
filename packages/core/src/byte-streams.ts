import { concatAll } from './bytes.js'
import { LimitError } from './errors.js'

/**
 * A stream that yields `head` (if non-empty) and then the rest of `reader`. Cancelling it
 * cancels the underlying source.
 */
export function readerSource(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  head?: Uint8Array,
): ReadableStream<Uint8Array> {
  let first = head !== undefined && head.length > 0 ? head : null
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (first) {
          controller.enqueue(first)
          first = null
          return
        }
        const { done, value } = await reader.read()
        if (done) controller.close()
        else controller.enqueue(value)
      },
      cancel(reason) {
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
}

/**
 * Reads a whole stream into one buffer. Throws `LimitError` past `max` bytes (default 256 MiB),
 * so a buffered helper can never be made to hold an unbounded input.
 */
export async function readAll(s: ReadableStream<Uint8Array>, max = 256 * 1024 * 1024): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let n = 0
  const reader = s.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    n += value.length
    if (n > max) {
      await reader.cancel().catch(() => {})
      throw new LimitError('input is larger than the buffered limit')
    }
    parts.push(value)
  }
  return concatAll(parts)
}

/** A stream of `data`, optionally cut into pieces of `pieceSize` bytes (1 = byte by byte). */
export function bytesStream(data: Uint8Array, pieceSize = data.length || 1): ReadableStream<Uint8Array> {
  let off = 0
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (off >= data.length) {
          controller.close()
          return
        }
        const end = Math.min(data.length, off + pieceSize)
        controller.enqueue(data.slice(off, end))
        off = end
      },
    },
    { highWaterMark: 0 },
  )
}
