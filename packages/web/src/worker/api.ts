import {
  API_PREFIX,
  apiUrl,
  BadResponseError,
  type DownloadOptions,
  type DownloadResponse,
  type ExchangeOptions,
  type ExchangeResponse,
  isAirlockError,
  NetworkError,
  parseJsonBody,
  readAll,
  type ServerError,
  serverErrorOf,
  type Transport,
} from '@airlock/core'
import type { z } from 'zod'

/**
 * HTTP to the Airlock server that served this app over `fetch`: the browser's adapter of core's
 * `Transport` port. The server is untrusted: every response body is checked against core's zod
 * schemas before anything looks at it, error bodies included.
 */

const MAX_JSON_BYTES = 64 * 1024 * 1024

export interface RequestOptions {
  body?: unknown
  bytes?: Uint8Array
  query?: Record<string, string | number | undefined>
  anonymous?: boolean
  signal?: AbortSignal
  headers?: Record<string, string>
}

export class Api implements Transport {
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
    return parseJsonBody(await readText(res), schema)
  }

  async send(method: string, path: string, opts: RequestOptions = {}): Promise<void> {
    const res = await this.request(method, path, opts)
    await res.body?.cancel().catch(() => {})
  }

  /** For core's flows: a request answered by its status and headers (tus `HEAD` and `PATCH`). */
  async exchange(method: string, path: string, opts: ExchangeOptions = {}): Promise<ExchangeResponse> {
    const headers: Record<string, string> = { ...opts.headers }
    if (this.token) headers.authorization = `Bearer ${this.token}`
    const url = new URL(path, this.origin)
    if (url.origin !== this.origin) throw new BadResponseError('address (on another host)')
    const init: RequestInit & { duplex?: 'half' } = {
      method,
      headers,
      redirect: 'error',
      cache: 'no-store',
      credentials: 'omit',
    }
    if (opts.body) {
      init.body = opts.body
      if (!(opts.body instanceof Blob)) init.duplex = 'half'
    }
    if (opts.signal) init.signal = opts.signal
    let res: Response
    try {
      res = await fetch(url, init)
    } catch (e) {
      if (opts.signal?.aborted) throw e
      throw new NetworkError('cannot reach the Airlock server; check the connection')
    }
    if (!res.ok) throw await errorOf(res)
    await res.body?.cancel().catch(() => {})
    return { status: res.status, header: (name) => res.headers.get(name) ?? undefined }
  }

  /** For core's flows: a `GET` of a byte stream (share blobs). */
  async download(path: string, opts: DownloadOptions = {}): Promise<DownloadResponse> {
    const res = await this.request('GET', path, opts)
    if (!res.body) throw new BadResponseError('download (without a body)')
    return { status: res.status, header: (name) => res.headers.get(name) ?? undefined, body: res.body }
  }

  /** Any request; resolves on 2xx, throws `ServerError` (after one fresh login on an expired session). */
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
    }
    const url = apiUrl(this.origin, API_PREFIX, path, opts.query)
    const init: RequestInit = { method, headers, redirect: 'error', cache: 'no-store', credentials: 'omit' }
    if (body !== undefined) init.body = body
    if (opts.signal) init.signal = opts.signal
    try {
      return await fetch(url, init)
    } catch (e) {
      if (opts.signal?.aborted) throw e
      throw new NetworkError('cannot reach the Airlock server; check the connection')
    }
  }
}

export function badResponse(what = 'response'): BadResponseError {
  return new BadResponseError(what)
}

async function errorOf(res: Response): Promise<ServerError> {
  let text = ''
  try {
    text = await readText(res, 64 * 1024)
  } catch {}
  return serverErrorOf(res.status, text)
}

async function readText(res: Response, max = MAX_JSON_BYTES): Promise<string> {
  if (!res.body) return ''
  try {
    return new TextDecoder().decode(await readAll(res.body, max))
  } catch (e) {
    if (isAirlockError(e, 'LIMIT')) throw new BadResponseError('(oversized) response')
    throw e
  }
}
