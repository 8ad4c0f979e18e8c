import type { z } from 'zod'
import { API_ERROR_STATUS, type ApiErrorCode, apiErrorBodySchema } from './api.js'
import { AirlockError, BadResponseError } from './errors.js'

/**
 * The port every client flow in core talks to its server through. A client brings one adapter
 * (the CLI over `node:http`, the web worker over `fetch`); core decides what to ask, checks every
 * answer against the zod schemas of `api.ts` and decides what it means. The server is untrusted:
 * an adapter hands back bytes and headers, never a judgement.
 *
 * Paths are below the API prefix (`/items/…`), except where a method says otherwise. Every method
 * throws `ServerError` for an error response (after one fresh login on an expired session, where
 * the adapter can log in), `NetworkError` when the server cannot be reached, `BadResponseError`
 * for a body that is not what the schema says, and the signal's reason when it is aborted.
 */
export interface Transport {
  /** `https://host:port`: the origin this device signs its logins for. */
  readonly origin: string
  /** The session token sent as a bearer token; `null` before login. */
  token: string | null
  /**
   * Logs in again (sets `token`), where the adapter can: flows that retry call it after an
   * `UNAUTHENTICATED` answer to a request that does not log in again by itself ({@link exchange}).
   */
  relogin?: (() => Promise<void>) | null
  /** A JSON request whose response must match `schema`. */
  json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    opts?: RequestOptions,
  ): Promise<z.infer<S>>
  /** A request whose successful response carries no body of interest (e.g. 204). */
  send(method: string, path: string, opts?: RequestOptions): Promise<void>
  /**
   * A request whose answer is its status and headers (tus `HEAD` and `PATCH`); `path` is absolute
   * on this origin (`/api/v1/uploads/…`), and the response body is discarded. Does not log in again
   * by itself: a streamed body cannot be sent twice.
   */
  exchange(method: string, path: string, opts?: ExchangeOptions): Promise<ExchangeResponse>
  /**
   * A `GET` whose answer is a byte stream (a blob). Resolves on a 2xx answer; the caller reads the
   * body to its end or cancels it. Breaks in the body surface as errors of the stream.
   */
  download(path: string, opts?: DownloadOptions): Promise<DownloadResponse>
}

export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown
  /** Sent as application/octet-stream instead of JSON. */
  bytes?: Uint8Array
  query?: Record<string, string | number | undefined>
  /** Sent without the bearer token. */
  anonymous?: boolean
  signal?: AbortSignal
  headers?: Record<string, string>
}

export interface ExchangeOptions {
  headers?: Record<string, string>
  /** A request body streamed as it is read (the CLI) or a disk-backed file (the browser). */
  body?: ReadableStream<Uint8Array> | Blob
  signal?: AbortSignal
}

export interface DownloadOptions {
  headers?: Record<string, string>
  /** Sent without the bearer token. */
  anonymous?: boolean
  signal?: AbortSignal
}

export interface DownloadResponse extends ExchangeResponse {
  body: ReadableStream<Uint8Array>
}

export interface ExchangeResponse {
  status: number
  /** A response header by lower-case name, `undefined` when absent. */
  header(name: string): string | undefined
}

/**
 * An error response of the server, `{error: {code, message}}`, with its HTTP status. `message` is
 * the server's text, untrusted: it is escaped and shortened before anyone sees it.
 */
export class ServerError extends AirlockError {
  readonly status: number
  readonly apiCode: ApiErrorCode
  constructor(status: number, apiCode: ApiErrorCode, message: string) {
    super('SERVER', message)
    this.status = status
    this.apiCode = apiCode
  }
}

/** True for a server error response, optionally of one API code. */
export function isServerError(e: unknown, apiCode?: ApiErrorCode): e is ServerError {
  return e instanceof ServerError && (apiCode === undefined || e.apiCode === apiCode)
}

/**
 * The error an adapter throws for an error response: the body's code when it is a well-formed
 * Airlock error body, else the code the status stands for (tus answers in plain text).
 */
export function serverErrorOf(status: number, text: string): ServerError {
  try {
    const r = apiErrorBodySchema.safeParse(JSON.parse(text))
    if (r.success) return new ServerError(status, r.data.error.code, r.data.error.message)
  } catch {}
  const byStatus = (Object.entries(API_ERROR_STATUS) as [ApiErrorCode, number][]).find(
    ([, s]) => s === status,
  )?.[0]
  return new ServerError(status, byStatus ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST'), `HTTP ${status}`)
}

/** Parses a JSON body against `schema`; `BadResponseError` when it is not JSON or does not match. */
export function parseJsonBody<S extends z.ZodType>(text: string, schema: S): z.infer<S> {
  let value: unknown
  try {
    value = text === '' ? undefined : JSON.parse(text)
  } catch {
    throw new BadResponseError()
  }
  const r = schema.safeParse(value)
  if (!r.success) throw new BadResponseError()
  return r.data
}

/** The full URL of an API path with its query (`undefined` values left out). */
export function apiUrl(
  origin: string,
  prefix: string,
  path: string,
  query?: RequestOptions['query'],
): string {
  let url = `${origin}${prefix}${path}`
  if (query) {
    const q = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v))
    const s = q.toString()
    if (s) url += `?${s}`
  }
  return url
}
