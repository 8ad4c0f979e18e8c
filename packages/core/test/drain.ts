import { concatAll } from '../src/bytes.js'

/**
 * Reads a stream until it ends or errors, returning what it released before either. Tests use
 * it to check that nothing past a failure point reaches the consumer.
 */
export async function drain(
  s: ReadableStream<Uint8Array>,
): Promise<{ released: Uint8Array; error: unknown }> {
  const parts: Uint8Array[] = []
  const reader = s.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { released: concatAll(parts), error: null }
      parts.push(value)
    }
  } catch (error) {
    return { released: concatAll(parts), error }
  }
}
