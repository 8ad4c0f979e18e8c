import { describe, expect, expectTypeOf, it } from 'vitest'
import type { z } from 'zod'
import { API_ERROR_STATUS, type ReserveItemResponse, SHARE_SESSION_HEADER } from '../src/api.js'
import { renderApiDoc } from '../src/api-doc.js'
import {
  type CallableEndpointName,
  callEndpoint,
  endpointPath,
  type RequestOf,
  type ResponseOf,
} from '../src/call-endpoint.js'
import { ENDPOINTS, type Endpoint, type EndpointName } from '../src/endpoints.js'
import { BadResponseError, InvalidInputError } from '../src/errors.js'
import {
  type DownloadResponse,
  type ExchangeResponse,
  parseJsonBody,
  type RequestOptions,
  serverErrorOf,
  type Transport,
} from '../src/transport.js'

const CID = 'CCCCCCCCCCCCCCCCCCCCCC'
const ITEM = 'IIIIIIIIIIIIIIIIIIIIII'
const ACCOUNT = 'AAAAAAAAAAAAAAAAAAAAAA'
const DEVICE = 'DDDDDDDDDDDDDDDDDDDDDD'
const TABLE: Record<string, Endpoint> = ENDPOINTS

interface Sent {
  kind: 'json' | 'send'
  method: string
  path: string
  opts: RequestOptions
}

/**
 * A transport that answers from a queue of response bodies, as a real adapter would: a 2xx body
 * is checked with `parseJsonBody`, an error status becomes `serverErrorOf`.
 */
class QueueTransport implements Transport {
  readonly origin = 'http://127.0.0.1:1'
  token: string | null = 'T'.repeat(43)
  readonly sent: Sent[] = []
  constructor(private readonly answers: { status?: number; text: string }[] = []) {}

  async json<S extends z.ZodType>(method: string, path: string, schema: S, opts: RequestOptions = {}) {
    this.sent.push({ kind: 'json', method, path, opts })
    const a = this.answers.shift() ?? { text: '' }
    if ((a.status ?? 200) >= 400) throw serverErrorOf(a.status!, a.text)
    return parseJsonBody(a.text, schema)
  }
  async send(method: string, path: string, opts: RequestOptions = {}) {
    this.sent.push({ kind: 'send', method, path, opts })
  }
  async exchange(): Promise<ExchangeResponse> {
    throw new Error('not used')
  }
  async download(): Promise<DownloadResponse> {
    throw new Error('not used')
  }
}

describe('the endpoint table', () => {
  it('names every path parameter in its params schema, and no other', () => {
    for (const [name, e] of Object.entries(TABLE)) {
      const inPath = [...e.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]).sort()
      const inSchema = e.params ? Object.keys(e.params.shape).sort() : []
      expect(inSchema, name).toEqual(inPath)
    }
  })

  it('has one entry per method and path, each path absolute, JSON bodies only where a body goes', () => {
    const seen = new Set<string>()
    for (const [name, e] of Object.entries(TABLE)) {
      const key = `${e.method} ${e.path}`
      expect(seen.has(key), `${name}: ${key} twice`).toBe(false)
      seen.add(key)
      expect(e.path, name).toMatch(/^\/[a-z]/)
      if (e.request !== undefined) expect(['POST', 'PUT', 'PATCH'], name).toContain(e.method)
      expect(e.summary.length, name).toBeGreaterThan(10)
      if (e.response === 'none') expect([200, 201, 204], name).toContain(e.status)
    }
  })

  it('parses the inputs the server accepts, with the types it works with', () => {
    expect(ENDPOINTS.reserveItem.request.parse({ ciphertextSize: 10, sensitivity: 'Confidential' })).toEqual({
      ciphertextSize: 10,
      sensitivity: 'Confidential',
    })
    expect(ENDPOINTS.listItems.query.parse({ since: '7', limit: '50' })).toEqual({ since: 7, limit: 50 })
    expect(ENDPOINTS.downloadShareFile.params.parse({ id: ITEM, n: '3' })).toEqual({ id: ITEM, n: 3 })
    expect(ENDPOINTS.downloadShareFile.params.safeParse({ id: ITEM, n: '03' }).success).toBe(false)
    expect(ENDPOINTS.getItem.params.safeParse({ id: 'short' }).success).toBe(false)
  })
})

describe('endpointPath', () => {
  it('fills each parameter, percent-encoded', () => {
    expect(endpointPath('listItems', { cid: CID })).toBe(`/conversations/${CID}/items`)
    expect(endpointPath('getItem', { id: 'a/b?c#d e' })).toBe('/items/a%2Fb%3Fc%23d%20e')
    expect(endpointPath('downloadShareFile', { id: ITEM, n: 2 })).toBe(`/public/shares/${ITEM}/blobs/2`)
    expect(endpointPath('listConversations')).toBe('/conversations')
    expect(endpointPath('health')).toBe('/healthz')
  })

  it('refuses a missing or empty parameter rather than leave a hole in the path', () => {
    const untyped = endpointPath as (name: EndpointName, params?: unknown) => string
    expect(() => untyped('getItem', {})).toThrow(InvalidInputError)
    expect(() => untyped('getItem', { id: '' })).toThrow(InvalidInputError)
    expect(() => untyped('getItem')).toThrow(InvalidInputError)
  })
})

describe('callEndpoint', () => {
  it('sends the method, path and query as decimal strings, and returns the parsed answer', async () => {
    const item = {
      itemId: ITEM,
      conversationId: CID,
      seq: 8,
      deleted: false,
      ciphertextSize: 1024,
      senderAccountId: ACCOUNT,
      senderDeviceId: DEVICE,
      createdAt: 1,
      manifest: 'AAAA',
    }
    const t = new QueueTransport([{ text: JSON.stringify({ items: [item], more: false }) }])
    const page = await callEndpoint(t, 'listItems', { params: { cid: CID }, query: { since: 7, limit: 100 } })
    expect(page.items[0]).toEqual(item)
    expect(t.sent).toEqual([
      {
        kind: 'json',
        method: 'GET',
        path: `/conversations/${CID}/items`,
        opts: { query: { since: '7', limit: '100' } },
      },
    ])
  })

  it('sends a JSON body with the session, and anonymous endpoints without it', async () => {
    const t = new QueueTransport([
      { text: JSON.stringify({ itemId: ITEM, uploadUrl: `/api/v1/uploads/${ITEM}`, expiresAt: 5 }) },
      { text: JSON.stringify({ challenge: 'c'.repeat(43), expiresAt: 5 }) },
    ])
    const r = await callEndpoint(t, 'reserveItem', {
      params: { cid: CID },
      body: { ciphertextSize: 10, sensitivity: 'Internal' },
    })
    expect(r.uploadUrl).toBe(`/api/v1/uploads/${ITEM}`)
    await callEndpoint(t, 'authChallenge', { body: { deviceId: DEVICE } })
    expect(t.sent.map((s) => [s.method, s.path, s.opts])).toEqual([
      ['POST', `/conversations/${CID}/items`, { body: { ciphertextSize: 10, sensitivity: 'Internal' } }],
      ['POST', '/auth/challenge', { body: { deviceId: DEVICE }, anonymous: true }],
    ])
  })

  it('sends raw bytes, bodiless requests, and share sessions in their header', async () => {
    const t = new QueueTransport([{ text: JSON.stringify({ itemId: ITEM, seq: 3 }) }])
    const manifest = new Uint8Array([1, 2, 3])
    expect(await callEndpoint(t, 'commitItem', { params: { id: ITEM }, body: manifest })).toEqual({
      itemId: ITEM,
      seq: 3,
    })
    expect(await callEndpoint(t, 'deleteSession')).toBeUndefined()
    const abort = new AbortController()
    await callEndpoint(t, 'closeShare', {
      params: { id: ITEM },
      session: 's'.repeat(43),
      signal: abort.signal,
    })
    expect(t.sent).toEqual([
      { kind: 'json', method: 'PUT', path: `/items/${ITEM}/manifest`, opts: { bytes: manifest } },
      { kind: 'send', method: 'DELETE', path: '/auth/session', opts: {} },
      {
        kind: 'send',
        method: 'POST',
        path: `/public/shares/${ITEM}/close`,
        opts: { anonymous: true, headers: { [SHARE_SESSION_HEADER]: 's'.repeat(43) }, signal: abort.signal },
      },
    ])
  })

  it('refuses an answer that does not match the schema, and passes server errors through', async () => {
    const t = new QueueTransport([
      { text: JSON.stringify({ itemId: ITEM, uploadUrl: 7, expiresAt: 5 }) },
      { status: 404, text: JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no' } }) },
    ])
    const reserve = () =>
      callEndpoint(t, 'reserveItem', { params: { cid: CID }, body: { ciphertextSize: 1 } })
    await expect(reserve()).rejects.toThrow(BadResponseError)
    await expect(reserve()).rejects.toMatchObject({ code: 'SERVER', apiCode: 'NOT_FOUND', status: 404 })
  })

  it('types requests and answers from the table', () => {
    expectTypeOf<ResponseOf<'reserveItem'>>().toEqualTypeOf<ReserveItemResponse>()
    expectTypeOf<RequestOf<'reserveItem'>['body']>().toHaveProperty('sensitivity')
    expectTypeOf<RequestOf<'listItems'>['params']>().toEqualTypeOf<{ cid: string | number }>()
    expectTypeOf<ResponseOf<'deleteSession'>>().toEqualTypeOf<undefined>()
    expectTypeOf<'downloadItem'>().not.toMatchTypeOf<CallableEndpointName>()
    expectTypeOf<'tusAppend'>().not.toMatchTypeOf<CallableEndpointName>()
    expectTypeOf<'health'>().not.toMatchTypeOf<CallableEndpointName>()
    const t = new QueueTransport()
    // Compile-time only: a call without its path parameter, or with a wrong body, does not type-check.
    const typeErrors = () => {
      // @ts-expect-error params are required
      void callEndpoint(t, 'listItems', {})
      // @ts-expect-error ciphertextSize is a number
      void callEndpoint(t, 'reserveItem', { params: { cid: CID }, body: { ciphertextSize: '1' } })
      // @ts-expect-error the share session is required
      void callEndpoint(t, 'closeShare', { params: { id: ITEM } })
      // @ts-expect-error bytes endpoints are streamed by the caller
      void callEndpoint(t, 'downloadItem', { params: { id: ITEM } })
    }
    expect(typeof typeErrors).toBe('function')
  })
})

describe('renderApiDoc', () => {
  const all = `<!-- endpoints: ${Object.keys(ENDPOINTS).join(' ')} -->`

  it('prints every field of every schema, optional ones marked, and every error code', () => {
    const doc = renderApiDoc(ENDPOINTS, `# API\n\n<!-- errors -->\n\n${all}\n\n## Types\n\n<!-- types -->\n`)
    const reserve = doc.slice(doc.indexOf('`reserveItem`'), doc.indexOf('`listItems`'))
    expect(reserve).toContain('ciphertextSize: number // integer ≥ 0')
    expect(reserve).toContain('manifestSize?: number')
    expect(reserve).toContain('label?: string // base64url, 1–64 chars')
    expect(reserve).toContain('sensitivity?: string')
    expect(doc).toContain('#### `POST /api/v1/conversations/:cid/items`')
    expect(doc).toContain('#### `GET /healthz`')
    for (const code of Object.keys(API_ERROR_STATUS)) expect(doc).toContain(`| \`${code}\` |`)
    // Named types are printed once, at the marker, and only those referred to.
    expect(doc).toContain('type CommittedItem = {')
    expect(doc.split('type Policy = {').length).toBe(2)
    expect(doc).not.toContain('<!--')
  })

  it('is the same text every time', () => {
    const template = `${all}\n<!-- types -->\n`
    expect(renderApiDoc(ENDPOINTS, template)).toBe(renderApiDoc(ENDPOINTS, template))
  })

  it('refuses a template that leaves out, repeats or invents an endpoint', () => {
    const names = Object.keys(ENDPOINTS)
    expect(() => renderApiDoc(ENDPOINTS, `<!-- endpoints: ${names.slice(1).join(' ')} -->`)).toThrow(
      /does not place these endpoints: health/,
    )
    expect(() => renderApiDoc(ENDPOINTS, `${all}\n<!-- endpoints: me -->`)).toThrow(/places me twice/)
    expect(() => renderApiDoc(ENDPOINTS, `${all}\n<!-- endpoints: nothing -->`)).toThrow(InvalidInputError)
  })
})
