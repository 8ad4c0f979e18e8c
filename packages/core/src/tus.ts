import { API_PREFIX } from './api.js'
import { BadResponseError, NetworkError } from './errors.js'
import { isTransientError, Retry, type RetryOptions } from './retry.js'
import type { Transport } from './transport.js'

/**
 * The tus 1.0 uploader of every client: `HEAD` (how far did the upload get?) and `PATCH` (append
 * from there), over the `Transport` port's `exchange`. The server creates each upload when an item
 * or a share is reserved, so creation, deferred length and fingerprints (most of tus-js-client)
 * are not needed. The server is untrusted: its upload URL must be a tus path on the same origin
 * (it could otherwise send the bearer token and the ciphertext elsewhere), and its offsets are
 * parsed strictly and must stay within the upload.
 */

export const TUS_VERSION = '1.0.0'

const UPLOAD_PATH = new RegExp(`^${API_PREFIX}/uploads/[A-Za-z0-9_-]{1,64}$`)
const OFFSET = /^(0|[1-9][0-9]{0,15})$/

/** What `PATCH` sends: a disk-backed Blob (sliced per chunk), or a stream from an offset to the end. */
export type UploadSource = Blob | ((offset: number) => ReadableStream<Uint8Array>)

/**
 * The server-given upload URL (absolute, or a path) as a path on `origin`. Throws
 * `BadResponseError` for a URL on another origin or a path that is not `/api/v1/uploads/<id>`.
 */
export function checkUploadUrl(origin: string, uploadUrl: string): string {
  let path = uploadUrl
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uploadUrl)) {
    let u: URL
    try {
      u = new URL(uploadUrl)
    } catch {
      throw new BadResponseError('upload URL')
    }
    if (u.origin !== new URL(origin).origin) throw new BadResponseError('upload URL (on another host)')
    if (u.search !== '' || u.hash !== '') throw new BadResponseError('upload URL')
    path = u.pathname
  }
  if (!UPLOAD_PATH.test(path)) throw new BadResponseError('upload URL')
  return path
}

/**
 * An `Upload-Offset` or `Upload-Length` header value: decimal digits without a sign, leading
 * zeros or spaces, at most 2^53 - 1. `BadResponseError` otherwise (and when it is absent).
 */
export function parseUploadHeader(name: string, value: string | undefined): number {
  if (value === undefined || !OFFSET.test(value)) throw new BadResponseError(`${name} header`)
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new BadResponseError(`${name} header`)
  return n
}

/** `HEAD`: the bytes the server holds and the upload's declared length (offset ≤ length). */
export async function tusStatus(
  t: Transport,
  path: string,
  signal?: AbortSignal,
): Promise<{ offset: number; length: number }> {
  const res = await t.exchange('HEAD', path, {
    headers: { 'tus-resumable': TUS_VERSION },
    ...(signal ? { signal } : {}),
  })
  const offset = parseUploadHeader('Upload-Offset', res.header('upload-offset'))
  const length = parseUploadHeader('Upload-Length', res.header('upload-length'))
  if (offset > length) throw new BadResponseError('Upload-Offset header (beyond the upload)')
  return { offset, length }
}

/** `PATCH`: sends `body` from `offset`; returns the server's new offset. */
export async function tusPatch(
  t: Transport,
  path: string,
  offset: number,
  body: ReadableStream<Uint8Array> | Blob,
  signal?: AbortSignal,
): Promise<number> {
  const res = await t.exchange('PATCH', path, {
    headers: {
      'tus-resumable': TUS_VERSION,
      'upload-offset': String(offset),
      'content-type': 'application/offset+octet-stream',
    },
    body,
    ...(signal ? { signal } : {}),
  })
  return parseUploadHeader('Upload-Offset', res.header('upload-offset'))
}

export interface UploadOptions extends RetryOptions {
  /** The upload's length, as reserved. */
  size: number
  source: UploadSource
  /** A new upload, known to be empty: the first `PATCH` goes without asking with `HEAD`. */
  fresh?: boolean
  /** Bytes per `PATCH` for a Blob (default 16 MiB); a stream goes in one `PATCH` to its end. */
  chunkSize?: number
  /**
   * Attempts in a row in which the server's offset did not move before giving up with a
   * `NetworkError` (default 8): bytes that leave this machine are not progress unless the server
   * keeps them, so a server that refuses every `PATCH` cannot keep an upload alive forever.
   */
  maxStuck?: number
  /** The server's offset when the upload starts (after the first `HEAD`). */
  onStart?: (offset: number) => void
  /** Bytes of the upload sent so far, those the server held before included. */
  onProgress?: (sent: number) => void
  /** Runs after each transient failure, before the pause (the CLI moves its spool to disk). */
  onTransient?: (e: unknown) => Promise<void>
}

/**
 * Uploads `source` to the tus upload at `path` (checked with {@link checkUploadUrl}) from wherever
 * the server is, until all `size` bytes are stored. Transient failures are retried at the
 * server's offset (see `Retry`; logging in again where the transport can). Throws the last
 * transient error when the retries are used up, `BadResponseError` when the server reports
 * another length or an impossible offset, whatever `source` throws for an offset it no longer
 * has, and the signal's reason when aborted.
 */
export async function tusUpload(t: Transport, path: string, opts: UploadOptions): Promise<void> {
  const { size, source, signal } = opts
  const chunk = opts.chunkSize ?? 16 * 1024 * 1024
  const maxStuck = opts.maxStuck ?? 8
  const retry = new Retry(t, opts)
  let offset: number | null = opts.fresh ? 0 : null
  let best = -1
  let stuck = 0
  let started = false
  for (;;) {
    let stalled = false
    try {
      if (offset === null) {
        const status = await tusStatus(t, path, signal)
        if (status.length !== size) throw new BadResponseError('upload length (not the reserved one)')
        if (status.offset > best) {
          // Bytes the server kept from a request that broke off are progress too.
          if (best >= 0) retry.progressed()
          best = status.offset
          stuck = 0
        } else if (++stuck >= maxStuck) {
          stalled = true
          throw new NetworkError('the server stored no more of the upload')
        }
        offset = status.offset
      }
      if (!started) opts.onStart?.(offset)
      started = true
      opts.onProgress?.(offset)
      while (offset < size) {
        const end = source instanceof Blob ? Math.min(size, offset + chunk) : size
        const sent = offset
        const body =
          source instanceof Blob ? source.slice(offset, end) : counted(source(offset), offset, retry, opts)
        const next = await tusPatch(t, path, offset, body, signal)
        offset = null
        if (next > end) throw new BadResponseError('Upload-Offset header (beyond what was sent)')
        // Short of what was sent is a broken-off request: ask again where the server is.
        if (next < end) throw new NetworkError('the upload stopped early')
        offset = next
        if (offset > sent) retry.progressed()
        if (source instanceof Blob) opts.onProgress?.(offset)
      }
      return
    } catch (e) {
      offset = null
      if (isTransientError(e)) await opts.onTransient?.(e)
      if (stalled) throw e
      await retry.after(e)
    }
  }
}

/** `stream` with each chunk counted into the progress callback and the retry clock. */
function counted(
  stream: ReadableStream<Uint8Array>,
  from: number,
  retry: Retry,
  opts: UploadOptions,
): ReadableStream<Uint8Array> {
  let sent = from
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        sent += chunk.length
        opts.onProgress?.(sent)
        retry.progressed()
        controller.enqueue(chunk)
      },
    }),
  )
}
