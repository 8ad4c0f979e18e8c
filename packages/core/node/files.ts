import { createReadStream, createWriteStream } from 'node:fs'
import { Readable, Writable } from 'node:stream'

/** A web ReadableStream over a file, read in 1 MiB pieces (fewer hops through the stream). */
export function fileSource(path: string, start?: number): ReadableStream<Uint8Array> {
  const opts = start !== undefined ? { highWaterMark: 1 << 20, start } : { highWaterMark: 1 << 20 }
  return Readable.toWeb(createReadStream(path, opts)) as unknown as ReadableStream<Uint8Array>
}

/** A web WritableStream into a file (created with mode 0600: it may hold plaintext). */
export function fileSink(path: string, flags = 'w'): WritableStream<Uint8Array> {
  return Writable.toWeb(createWriteStream(path, { flags, mode: 0o600 })) as WritableStream<Uint8Array>
}
