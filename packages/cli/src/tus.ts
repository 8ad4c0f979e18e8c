import { API_PREFIX, isAirlockError } from '@airlock/core'
import type { ApiClient, StreamResponse } from './client.js'
import { CliError, isApiError, isCliError } from './errors.js'

/**
 * The two tus 1.0 requests the CLI needs: `HEAD` (how far did the upload get?) and `PATCH`
 * (append from there). The server creates the upload when the item is reserved, so creation,
 * deferred length and fingerprint storage, most of `tus-js-client`, are not needed; and
 * `tus-js-client` on Node reads each chunk into memory before sending it, while `fetch` streams
 * a whole resumable upload as one request body with bounded memory. Resume state lives in the
 * outbox (outbox.ts), next to the ciphertext it refers to.
 */

const TUS_VERSION = '1.0.0'
const UPLOAD_PATH = new RegExp(`^${API_PREFIX}/uploads/[A-Za-z0-9_-]{1,64}$`)

/**
 * The server-given upload URL as a path on the same server. A URL pointing elsewhere is refused,
 * so a hostile server cannot redirect uploads (and the bearer token) to another host.
 */
export function checkUploadUrl(client: ApiClient, uploadUrl: string): string {
  let path = uploadUrl
  if (/^https?:/i.test(uploadUrl)) {
    const u = new URL(uploadUrl)
    if (u.origin !== client.origin)
      throw new CliError('BAD_RESPONSE', 'the server named an upload URL on another host')
    path = u.pathname
  }
  if (!UPLOAD_PATH.test(path)) throw new CliError('BAD_RESPONSE', 'the server sent a malformed upload URL')
  return path
}

function offsetHeader(res: StreamResponse, name: string): number {
  const v = res.headers[name]
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(v)) {
    throw new CliError('BAD_RESPONSE', `the server sent a malformed ${name} header`)
  }
  return Number(v)
}

/** `HEAD`: the bytes the server holds and the declared length. */
export async function tusStatus(
  client: ApiClient,
  path: string,
): Promise<{ offset: number; length: number }> {
  const res = await withRelogin(client, () =>
    client.stream('HEAD', path, { headers: { 'tus-resumable': TUS_VERSION } }),
  )
  res.body.resume()
  return { offset: offsetHeader(res, 'upload-offset'), length: offsetHeader(res, 'upload-length') }
}

/** `PATCH`: streams `body` from `offset`; returns the server's new offset. */
export async function tusPatch(
  client: ApiClient,
  path: string,
  offset: number,
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): Promise<number> {
  const res = await client.stream('PATCH', path, {
    headers: {
      'tus-resumable': TUS_VERSION,
      'upload-offset': String(offset),
      'content-type': 'application/offset+octet-stream',
    },
    body,
    ...(signal ? { signal } : {}),
  })
  res.body.resume()
  return offsetHeader(res, 'upload-offset')
}

/** Runs a body-less request, logging in again once if the session had expired. */
async function withRelogin<T>(client: ApiClient, f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (e) {
    if (!isApiError(e, 'UNAUTHENTICATED') || !client.relogin) throw e
    await client.relogin()
    return f()
  }
}

/** True for failures worth retrying: the network, the server restarting or busy, an offset race. */
export function isTransient(e: unknown): boolean {
  if (isCliError(e, 'NETWORK') || isAirlockError(e, 'NETWORK')) return true
  if (isApiError(e)) {
    return e.status >= 500 || e.status === 409 || e.status === 429 || e.apiCode === 'UNAUTHENTICATED'
  }
  return false
}
