import type { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ServerError } from '../errors.js'

/** An inclusive byte range of a resource. */
export interface ByteRange {
  start: number
  end: number
}

/**
 * Parses a `Range` header for a resource of `size` bytes (RFC 9110 §14): one range of the
 * `bytes` unit as an inclusive `{start, end}`, `null` to serve the whole resource (no header,
 * another unit, several ranges, or a malformed header — all of which may be ignored), or
 * `'unsatisfiable'` (416) when the range starts past the end.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null | 'unsatisfiable' {
  if (header === undefined) return null
  const m = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim())
  if (!m) return null
  const [, a, b] = m as unknown as [string, string, string]
  if (a === '' && b === '') return null
  if (a === '') {
    const n = Number(b)
    if (n === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(a)
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1)
  if (b !== '' && Number(b) < start) return null
  if (start >= size) return 'unsatisfiable'
  return { start, end }
}

/**
 * Serves a blob of `size` bytes with range support, the one way item and share-link blobs go
 * out: `open` gets the requested range (null: all of it) and returns the bytes, after doing
 * whatever must happen before the first byte leaves (recording the download). Answers 206 with
 * `Content-Range` for a range, 200 for the whole blob, 416 `RANGE_NOT_SATISFIABLE` for a range
 * past the end; never cached.
 */
export async function sendBlob(
  req: FastifyRequest,
  reply: FastifyReply,
  size: number,
  open: (range: ByteRange | null) => Promise<Readable>,
): Promise<FastifyReply> {
  const range = parseRange(req.headers.range, size)
  reply
    .header('content-type', 'application/octet-stream')
    .header('accept-ranges', 'bytes')
    .header('cache-control', 'no-store')
  if (range === 'unsatisfiable') {
    throw new ServerError('RANGE_NOT_SATISFIABLE', 'range not satisfiable', {
      'content-range': `bytes */${size}`,
    })
  }
  const stream = await open(range)
  if (range) {
    return reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
      .header('content-length', range.end - range.start + 1)
      .send(stream)
  }
  return reply.header('content-length', size).send(stream)
}
