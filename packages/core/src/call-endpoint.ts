import type { z } from 'zod'
import { SHARE_SESSION_HEADER } from './api.js'
import { ENDPOINTS, type Endpoint, type EndpointName } from './endpoints.js'
import { InvalidInputError } from './errors.js'
import type { RequestOptions, Transport } from './transport.js'

/**
 * Types derived from the endpoint table (what a client sends to an endpoint and what it answers)
 * and the client helpers over the `Transport` port: {@link endpointPath} and {@link callEndpoint}.
 */

type Table = typeof ENDPOINTS

/**
 * An endpoint a client can call with {@link callEndpoint}: under the API prefix, with a JSON (or
 * raw bytes) body and a JSON or empty answer. Downloads, tus, health checks and the WebSocket are
 * reached through the transport with {@link endpointPath}.
 */
export type CallableEndpointName = {
  [N in EndpointName]: Table[N] extends
    | { outsideApi: true }
    | { response: 'bytes' | 'websocket' }
    | { request: 'stream' }
    ? never
    : N
}[EndpointName]

/** Path parameters by name; numbers are written in decimal. */
export type ParamsOf<N extends EndpointName> = Table[N] extends { params: infer P extends z.ZodType }
  ? { [K in keyof z.input<P>]: string | number }
  : undefined

/** True when every property of `T` may be left out (so may `T` itself). */
type AllOptional<T> = Partial<T> extends T ? true : false

type ParamsPart<E> = E extends { params: infer P extends z.ZodType }
  ? { params: { [K in keyof z.input<P>]: string | number } }
  : { params?: undefined }

/** The query as the server parses it (numbers as numbers); sent as decimal strings. */
type QueryPart<E> = E extends { query: infer Q extends z.ZodType }
  ? AllOptional<z.output<Q>> extends true
    ? { query?: z.output<Q> }
    : { query: z.output<Q> }
  : { query?: undefined }

type BodyPart<E> = E extends { request: infer R }
  ? R extends z.ZodType
    ? AllOptional<z.input<R>> extends true
      ? { body?: z.input<R> }
      : { body: z.input<R> }
    : R extends 'bytes'
      ? { body: Uint8Array }
      : { body: ReadableStream<Uint8Array> | Blob }
  : { body?: undefined }

type SessionPart<E> = E extends { auth: 'share-session' } ? { session: string } : { session?: undefined }

/**
 * What a client sends to endpoint `N`: its path `params`, `query`, `body` (the JSON body as its
 * schema's input, so defaults may be left out; raw bytes for `request: 'bytes'`), and the share
 * link's download `session` where the endpoint needs one.
 */
export type RequestOf<N extends EndpointName> = ParamsPart<Table[N]> &
  QueryPart<Table[N]> &
  BodyPart<Table[N]> &
  SessionPart<Table[N]>

/**
 * What endpoint `N` answers, as its response schema parses it; `undefined` for an answer without a
 * body; `never` for bytes and WebSocket endpoints, whose answers the caller streams.
 */
export type ResponseOf<N extends EndpointName> = Table[N]['response'] extends infer R
  ? R extends z.ZodType
    ? z.output<R>
    : R extends 'none'
      ? undefined
      : never
  : never

/** A call of endpoint `N`: its request, and the transport's abort signal and extra headers. */
export type CallOf<N extends EndpointName> = RequestOf<N> & {
  signal?: AbortSignal
  headers?: Record<string, string>
}

/**
 * The path of endpoint `name` with each `:param` replaced by its value, percent-encoded with
 * `encodeURIComponent`: below the API prefix (what `Transport.json` and `send` take), or absolute
 * for `outsideApi` endpoints. Throws `InvalidInputError` when a parameter is missing (the types
 * prevent it; a caller passing untyped values gets an error, never a path with a hole).
 */
export function endpointPath<N extends EndpointName>(
  name: N,
  ...params: ParamsOf<N> extends undefined ? [] : [params: ParamsOf<N>]
): string {
  const values = (params[0] ?? {}) as Record<string, string | number | undefined>
  return ENDPOINTS[name].path.replace(/:([A-Za-z]+)/g, (_, key: string) => {
    const v = values[key]
    if (v === undefined || v === '') throw new InvalidInputError(`missing path parameter ${key} of ${name}`)
    return encodeURIComponent(String(v))
  })
}

/**
 * Calls endpoint `name` through `transport` and returns its answer parsed by the table's response
 * schema (the transport validates it: `BadResponseError` when it does not match). Anonymous and
 * share-session endpoints are sent without the bearer token; a share session goes in its header.
 * Errors are the transport's: `ServerError` for an error answer, `NetworkError`, or the signal's
 * reason. The request itself is not validated here: the server does that, and the types keep a
 * caller to the schema's shape.
 */
export async function callEndpoint<N extends CallableEndpointName>(
  transport: Transport,
  name: N,
  ...call: AllOptional<CallOf<N>> extends true ? [call?: CallOf<N>] : [call: CallOf<N>]
): Promise<ResponseOf<N>> {
  const e: Endpoint = ENDPOINTS[name]
  const c = (call[0] ?? {}) as {
    params?: Record<string, string | number>
    query?: Record<string, unknown>
    body?: unknown
    session?: string
    signal?: AbortSignal
    headers?: Record<string, string>
  }
  const path = (endpointPath as (n: EndpointName, p?: unknown) => string)(name, c.params)
  const opts: RequestOptions = {}
  if (c.query) opts.query = queryStrings(c.query)
  if (e.request === 'bytes') opts.bytes = c.body as Uint8Array
  else if (c.body !== undefined) opts.body = c.body
  if (e.auth === 'anonymous' || e.auth === 'share-session') opts.anonymous = true
  const headers = { ...c.headers, ...(c.session === undefined ? {} : { [SHARE_SESSION_HEADER]: c.session }) }
  if (Object.keys(headers).length > 0) opts.headers = headers
  if (c.signal) opts.signal = c.signal
  if (e.response === 'none') {
    await transport.send(e.method, path, opts)
    return undefined as ResponseOf<N>
  }
  if (typeof e.response === 'string') throw new InvalidInputError(`${name} is not a JSON endpoint`)
  return (await transport.json(e.method, path, e.response, opts)) as ResponseOf<N>
}

/** Query values as the URL carries them: decimal strings, absent values left out. */
function queryStrings(query: Record<string, unknown>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue
    if (typeof v !== 'string' && typeof v !== 'number')
      throw new InvalidInputError(`query parameter ${k} must be a string or a number`)
    out[k] = String(v)
  }
  return out
}
