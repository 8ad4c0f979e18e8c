import {
  API_ERROR_STATUS,
  API_PREFIX,
  type ApiErrorCode,
  apiErrorBodySchema,
  isAirlockError,
  readAll,
} from '@airlock/core'
import type { z } from 'zod'
import { ApiError, WebError } from '../errors.ts'

/**
 * HTTP to the Airlock server that served this app. The server is untrusted: every response body
 * is checked against core's zod schemas before anything looks at it, error bodies included.
 */

const MAX_JSON_BYTES = 64 * 1024 * 1024

export interface RequestOptions {
  body?: unknown
  bytes?: Uint8Array
  /** A disk-backed body (an OPFS file), sent with the caller's content type. */
  blob?: Blob
  query?: Record<string, string | number | undefined>
  anonymous?: boolean
  signal?: AbortSignal
  headers?: Record<string, string>
}

export class Api {
  readonly origin: string
  token: string | null = null
  /** Called once when the session has expired; should log in again (sets `token`). */
  relogin: (() => Promise<void>) | null = null

  constructor(origin: string) {
    this.origin = origin
  }

  async json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    opts: RequestOptions = {},
  ): Promise<z.infer<S>> {
    const res = await this.request(method, path, opts)
    const text = await readText(res)
    let value: unknown
    try {
      value = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw badResponse()
    }
    const r = schema.safeParse(value)
    if (!r.success) throw badResponse()
    return r.data
  }

  async send(method: string, path: string, opts: RequestOptions = {}): Promise<void> {
    const res = await this.request(method, path, opts)
    await res.body?.cancel().catch(() => {})
  }

  /** Any request; resolves on 2xx, throws `ApiError` (after one fresh login on an expired session). */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.fetchOnce(method, path, opts)
      if (res.ok) return res
      const err = await errorOf(res)
      if (attempt === 0 && err.apiCode === 'UNAUTHENTICATED' && !opts.anonymous && this.relogin) {
        await this.relogin()
        continue
      }
      throw err
    }
  }

  private async fetchOnce(method: string, path: string, opts: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers }
    if (!opts.anonymous && this.token) headers.authorization = `Bearer ${this.token}`
    let body: BodyInit | undefined
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(opts.body)
    } else if (opts.bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream'
      body = new Uint8Array(opts.bytes)
    } else if (opts.blob !== undefined) {
      body = opts.blob
    }
    let url = `${this.origin}${API_PREFIX}${path}`
    if (opts.query) {
      const q = new URLSearchParams()
      for (const [k, v] of Object.entries(opts.query)) if (v !== undefined) q.set(k, String(v))
      const s = q.toString()
      if (s) url += `?${s}`
    }
    const init: RequestInit = { method, headers, redirect: 'error', cache: 'no-store', credentials: 'omit' }
    if (body !== undefined) init.body = body
    if (opts.signal) init.signal = opts.signal
    try {
      return await fetch(url, init)
    } catch (e) {
      if (opts.signal?.aborted) throw e
      throw new WebError('NETWORK', 'cannot reach the Airlock server; check the connection')
    }
  }
}

export function badResponse(what = 'response'): WebError {
  return new WebError('BAD_RESPONSE', `the server sent a malformed ${what}`)
}

async function errorOf(res: Response): Promise<ApiError> {
  let text = ''
  try {
    text = await readText(res, 64 * 1024)
  } catch {}
  try {
    const r = apiErrorBodySchema.safeParse(JSON.parse(text))
    if (r.success) return new ApiError(res.status, r.data.error.code, r.data.error.message)
  } catch {}
  const byStatus = (Object.entries(API_ERROR_STATUS) as [ApiErrorCode, number][]).find(
    ([, s]) => s === res.status,
  )?.[0]
  return new ApiError(
    res.status,
    byStatus ?? (res.status >= 500 ? 'INTERNAL' : 'BAD_REQUEST'),
    `HTTP ${res.status}`,
  )
}

async function readText(res: Response, max = MAX_JSON_BYTES): Promise<string> {
  if (!res.body) return ''
  try {
    return new TextDecoder().decode(await readAll(res.body, max))
  } catch (e) {
    if (isAirlockError(e, 'LIMIT')) throw badResponse('(oversized) response')
    throw e
  }
}
