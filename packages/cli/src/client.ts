import {
  type ClientRequest,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http'
import { request as httpsRequest } from 'node:https'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import {
  API_PREFIX,
  BadResponseError,
  type DownloadOptions,
  type DownloadResponse,
  type ExchangeOptions,
  type ExchangeResponse,
  NetworkError,
  parseJsonBody,
  type ServerError,
  serverErrorOf,
  type Transport,
} from '@airlock/core'
import type { z } from 'zod'

/**
 * HTTP to an Airlock server over `node:http`: the CLI's adapter of core's `Transport` port. The
 * server is untrusted: every response body is checked against core's zod schemas (api.ts) before
 * anything looks at it, error bodies included.
 */

const ignoreError = () => {}

/** The largest JSON response read (a page of 500 items with their manifests can be a few MiB). */
const MAX_JSON_BYTES = 64 * 1024 * 1024

export interface RequestOptions {
  body?: unknown
  /** Raw bytes sent as application/octet-stream instead of JSON. */
  bytes?: Uint8Array
  query?: Record<string, string | number | undefined>
  /** Send without the bearer token. */
  anonymous?: boolean
  signal?: AbortSignal
}

export interface StreamResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Readable
}

export class ApiClient implements Transport {
  /** `https://host:port`, the origin the device signs its logins for. */
  readonly origin: string
  token: string | null = null
  /** Called once when the session has expired; should log in again (sets `token`). */
  relogin: (() => Promise<void>) | null = null

  constructor(origin: string) {
    this.origin = origin
  }

  url(path: string): string {
    return `${this.origin}${API_PREFIX}${path}`
  }

  /** A JSON request whose response must match `schema`. */
  async json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    opts: RequestOptions = {},
  ): Promise<z.infer<S>> {
    const res = await this.request(method, path, opts)
    return parseJsonBody(await res.text(), schema)
  }

  /** A request whose successful response carries no body of interest (e.g. 204). */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<void> {
    const res = await this.request(method, path, opts)
    res.discard()
  }

  /** For core's flows: a request answered by its status and headers (tus `HEAD` and `PATCH`). */
  async exchange(method: string, path: string, opts: ExchangeOptions = {}): Promise<ExchangeResponse> {
    const body = opts.body instanceof Blob ? opts.body.stream() : opts.body
    const res = await this.stream(method, path, {
      ...(opts.headers ? { headers: opts.headers } : {}),
      ...(body ? { body } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
    res.body.resume()
    return {
      status: res.status,
      header: (name) => {
        const v = res.headers[name.toLowerCase()]
        return typeof v === 'string' ? v : undefined
      },
    }
  }

  /** For core's flows: a `GET` of a byte stream (share blobs). */
  async download(path: string, opts: DownloadOptions = {}): Promise<DownloadResponse> {
    const res = await this.request('GET', path, opts)
    return {
      status: res.status,
      header: (name) => {
        const v = res.headers[name.toLowerCase()]
        return typeof v === 'string' ? v : undefined
      },
      body: res.stream(),
    }
  }

  /**
   * Any request; resolves on a 2xx response, throws core's `ServerError` for an error response
   * (after one fresh login if the session had expired), `NetworkError` if the server cannot be
   * reached. The caller reads or discards the response body.
   */
  async request(
    method: string,
    path: string,
    opts: RequestOptions & { headers?: Record<string, string>; full?: string } = {},
  ): Promise<ApiResponse> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.requestOnce(method, path, opts)
      const status = res.statusCode ?? 0
      if (status >= 200 && status < 300) return new ApiResponse(status, res)
      const err: ServerError = serverErrorOf(status, await errorText(res))
      if (attempt === 0 && err.apiCode === 'UNAUTHENTICATED' && !opts.anonymous && this.relogin) {
        await this.relogin()
        continue
      }
      throw err
    }
  }

  /**
   * A request whose body or response is a large stream (uploads, downloads), over `node:http`:
   * about twice the throughput of `fetch` with a web-stream body here. Same errors as
   * {@link request}; on success the caller must consume or destroy `body`.
   */
  async stream(
    method: string,
    path: string,
    opts: { headers?: Record<string, string>; body?: ReadableStream<Uint8Array>; signal?: AbortSignal } = {},
  ): Promise<StreamResponse> {
    const headers: Record<string, string> = { ...opts.headers }
    if (this.token) headers.authorization = `Bearer ${this.token}`
    const url = new URL(path, this.origin)
    if (url.origin !== this.origin) throw new BadResponseError('address (on another host)')
    const res = await this.#http(method, url, headers, opts.signal, (req) => {
      // A server that answers early (e.g. 507) and hangs up while the body is still being sent
      // makes the socket fail after the request is done with it: not a crash, the answer counts.
      // Once per socket: kept-alive sockets carry many requests (a long `airlock watch` did pile
      // up one listener per download).
      req.on('socket', (socket) => {
        if (!socket.listeners('error').includes(ignoreError)) socket.on('error', ignoreError)
      })
      if (opts.body) {
        // A failed body (the server hung up, the source failed) ends the request with an error.
        pipeline(Readable.fromWeb(opts.body as WebReadableStream<Uint8Array>), req).catch((e) => {
          req.destroy(e instanceof Error ? e : new Error(String(e)))
        })
      } else req.end()
    })
    const status = res.statusCode ?? 0
    if (status >= 200 && status < 300) return { status, headers: res.headers, body: res }
    throw serverErrorOf(status, await errorText(res))
  }

  /** One request over `node:http` (lighter than `fetch`, which loads a whole HTTP client). */
  private requestOnce(
    method: string,
    path: string,
    opts: RequestOptions & { headers?: Record<string, string>; full?: string },
  ): Promise<IncomingMessage> {
    const headers: Record<string, string> = { ...opts.headers }
    if (!opts.anonymous && this.token) headers.authorization = `Bearer ${this.token}`
    let body: Uint8Array | string | undefined
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(opts.body)
    } else if (opts.bytes !== undefined) {
      headers['content-type'] = 'application/octet-stream'
      body = opts.bytes
    }
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
    const url = new URL(opts.full ?? this.url(path))
    if (opts.query) {
      for (const [k, v] of Object.entries(opts.query)) if (v !== undefined) url.searchParams.set(k, String(v))
    }
    return this.#http(method, url, headers, opts.signal, (req) => req.end(body))
  }

  /** Sends a request (`send` writes its body) and resolves on the response's head. */
  #http(
    method: string,
    url: URL,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
    send: (req: ClientRequest) => void,
  ): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
        method,
        headers,
        ...(signal ? { signal } : {}),
      })
      req.once('response', resolve)
      req.on('error', (e) => reject(signal?.aborted ? e : networkError(this.origin, e)))
      send(req)
    })
  }
}

/** A successful response of {@link ApiClient.request}: read its body once, or discard it. */
export class ApiResponse {
  constructor(
    readonly status: number,
    private readonly res: IncomingMessage,
  ) {}

  get headers(): IncomingHttpHeaders {
    return this.res.headers
  }

  /** The body as text, at most `max` bytes (`BAD_RESPONSE` beyond). */
  text(max = MAX_JSON_BYTES): Promise<string> {
    return readText(this.res, max)
  }

  discard(): void {
    this.res.resume()
  }

  /** The body as a web stream; a connection that breaks off errors it with `NetworkError`. */
  stream(): ReadableStream<Uint8Array> {
    const res = this.res
    let settled = false
    return new ReadableStream<Uint8Array>(
      {
        start(controller) {
          const broke = () => {
            if (settled) return
            settled = true
            controller.error(new NetworkError('the connection to the server broke off'))
          }
          res.on('data', (chunk: Buffer) => {
            controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))
            if ((controller.desiredSize ?? 0) <= 0) res.pause()
          })
          res.on('end', () => {
            if (settled) return
            settled = true
            controller.close()
          })
          res.on('error', broke)
          res.on('close', broke)
        },
        pull() {
          res.resume()
        },
        cancel() {
          settled = true
          res.destroy()
        },
      },
      { highWaterMark: 4 },
    )
  }
}

export function networkError(origin: string, cause?: unknown): NetworkError {
  const reason = cause instanceof Error && cause.cause instanceof Error ? cause.cause : cause
  const detail = reason instanceof Error ? ` (${reason.message})` : ''
  return new NetworkError(`cannot reach the Airlock server at ${origin}${detail}`)
}

/** The body of an error response, for core's `serverErrorOf`: '' if it is too long or breaks off. */
async function errorText(res: IncomingMessage): Promise<string> {
  const text = await readText(res, 64 * 1024).catch(() => '')
  res.destroy()
  return text
}

/** Reads a response body as text, refusing more than `max` bytes. */
async function readText(res: IncomingMessage, max = MAX_JSON_BYTES): Promise<string> {
  const parts: Buffer[] = []
  let n = 0
  try {
    for await (const chunk of res) {
      n += (chunk as Buffer).length
      if (n > max) throw new BadResponseError('(oversized) response')
      parts.push(chunk as Buffer)
    }
  } catch (e) {
    res.destroy()
    if (e instanceof BadResponseError) throw e
    throw new NetworkError('the connection to the server broke off')
  }
  return Buffer.concat(parts).toString('utf8')
}
