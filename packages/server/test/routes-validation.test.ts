import { randomBytes } from 'node:crypto'
import { DEFAULT_POLICY, SHARE_SESSION_HEADER } from '@airlock/core'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Actor, createAccount, login, request, sendItem, TUS } from './api-client.js'
import { type InjectedApp, injectApp } from './inject-app.js'

/**
 * SECURITY-TESTS 24 (and 7 for the HTTP schemas), route by route through `app.inject`: malformed
 * bodies, parameters, queries and headers each get the status and error code of their row, with
 * the JSON error body `{error: {code, message}}` and nothing else, never a 5xx, and nothing is
 * stored. Sockets, idle connections and oversized headers need a real process:
 * robustness.test.ts; the process surviving random input with bounded memory: fuzz.test.ts.
 */

/** `[status, error code]`; answers without a JSON body (HEAD, tus's own) have no code. */
type Outcome = readonly [number, string?]

interface Row {
  name: string
  method: string
  path: string
  json?: unknown
  body?: Uint8Array | string
  headers?: Record<string, string>
  /** Sent with Alice's token unless false. */
  token?: false
  expect: Outcome
}

const INVALID_BODY: Outcome = [400, 'INVALID_BODY']
const NOT_FOUND: Outcome = [404, 'NOT_FOUND']
const MAX_MANIFEST = 4096
const MAX_ITEM = 1024 * 1024

describe('route validation matrix (app.inject over in-memory SQLite)', () => {
  let api: InjectedApp
  let alice: Actor
  let token: string
  let item: { itemId: string }
  let reserved: { itemId: string; uploadUrl: string }
  let share: { shareId: string }
  let rows: Row[]

  beforeAll(async () => {
    api = await injectApp({ maxManifestSize: MAX_MANIFEST, maxItemSize: MAX_ITEM })
    alice = await createAccount(api, api.setupCode, 'alice')
    token = await login(api, alice.first)
    item = await sendItem(api, token, alice.selfConversationId, randomBytes(1000))
    reserved = (
      await request(api, 'POST', `/conversations/${alice.selfConversationId}/items`, {
        token,
        json: { ciphertextSize: 100 },
      })
    ).json
    share = (
      await request(api, 'POST', '/shares', {
        token,
        json: { itemIds: [item.itemId], ciphertextSizes: [10] },
      })
    ).json

    const A = alice.accountId
    const C = alice.selfConversationId
    const X = item.itemId
    const Y = reserved.itemId
    const json = { 'content-type': 'application/json' }
    const octets = { 'content-type': 'application/octet-stream' }
    const patch = { ...TUS, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }
    const ten = new Uint8Array(10)
    const unknownId = randomBytes(16).toString('base64url')
    rows = [
      // Bodies Fastify parses before any route: one table maps them to our codes.
      {
        name: 'truncated JSON',
        method: 'POST',
        path: '/auth/challenge',
        body: '{"deviceId":',
        headers: json,
        expect: INVALID_BODY,
      },
      {
        name: 'empty JSON',
        method: 'POST',
        path: '/auth/challenge',
        body: '',
        headers: json,
        expect: INVALID_BODY,
      },
      { name: 'JSON array', method: 'POST', path: '/auth/challenge', json: [], expect: INVALID_BODY },
      { name: 'JSON null', method: 'POST', path: '/auth/challenge', json: null, expect: INVALID_BODY },
      {
        name: 'prototype pollution',
        method: 'POST',
        path: '/auth/challenge',
        body: '{"__proto__":{"admin":true},"deviceId":"x"}',
        headers: json,
        expect: INVALID_BODY,
      },
      {
        name: 'oversized JSON',
        method: 'POST',
        path: '/auth/challenge',
        body: JSON.stringify({ deviceId: 'A'.repeat(200_000) }),
        headers: json,
        expect: [413, 'PAYLOAD_TOO_LARGE'],
      },
      {
        name: 'form body',
        method: 'POST',
        path: '/auth/challenge',
        body: 'deviceId=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        expect: [415, 'UNSUPPORTED_MEDIA_TYPE'],
      },
      { name: 'unknown route', method: 'GET', path: '/api/v1/nope', expect: NOT_FOUND },
      {
        // Fastify matches no route when a parameter is over 128 characters.
        name: 'over-long path parameter',
        method: 'GET',
        path: `/items/${'A'.repeat(300)}`,
        expect: NOT_FOUND,
      },
      { name: 'path traversal', method: 'GET', path: '/items/..%2F..%2Fetc', expect: NOT_FOUND },
      {
        name: 'malformed bearer',
        method: 'GET',
        path: '/accounts/me',
        token: false,
        headers: { authorization: 'Bearer x' },
        expect: [401, 'UNAUTHENTICATED'],
      },
      {
        name: 'basic instead of bearer',
        method: 'GET',
        path: '/accounts/me',
        token: false,
        headers: { authorization: 'Basic eDp5' },
        expect: [401, 'UNAUTHENTICATED'],
      },

      // Accounts and login.
      {
        name: 'account: bad username',
        method: 'POST',
        path: '/accounts',
        token: false,
        json: { code: 'x', username: 'A B', genesis: {} },
        expect: INVALID_BODY,
      },
      {
        name: 'challenge: wrong type',
        method: 'POST',
        path: '/auth/challenge',
        json: { deviceId: 42 },
        expect: INVALID_BODY,
      },
      {
        name: 'challenge: unknown field',
        method: 'POST',
        path: '/auth/challenge',
        json: { deviceId: 'A'.repeat(22), x: 1 },
        expect: INVALID_BODY,
      },
      {
        name: 'session: missing fields',
        method: 'POST',
        path: '/auth/session',
        json: { deviceId: 'A'.repeat(22) },
        expect: INVALID_BODY,
      },
      {
        name: 'invite: lifetime out of range',
        method: 'POST',
        path: '/invites',
        json: { expiresInHours: 0 },
        expect: INVALID_BODY,
      },
      { name: 'lookup: no query', method: 'GET', path: '/accounts/lookup', expect: INVALID_BODY },
      {
        name: 'lookup: bad username',
        method: 'GET',
        path: '/accounts/lookup?username=a%20b',
        expect: INVALID_BODY,
      },

      // Device log.
      { name: 'log: bad account id', method: 'GET', path: '/accounts/%00/log', expect: NOT_FOUND },
      { name: 'log: bad since', method: 'GET', path: `/accounts/${A}/log?since=abc`, expect: INVALID_BODY },
      { name: 'log: unknown query', method: 'GET', path: `/accounts/${A}/log?x=1`, expect: INVALID_BODY },
      {
        name: 'log: entry of the wrong shape',
        method: 'POST',
        path: `/accounts/${A}/log`,
        json: { entry: {} },
        expect: INVALID_BODY,
      },
      { name: 'devices: bad account id', method: 'GET', path: '/accounts/!/devices', expect: NOT_FOUND },

      // Conversations and groups.
      {
        name: 'conversation: unknown kind',
        method: 'POST',
        path: '/conversations',
        json: { kind: 'x' },
        expect: INVALID_BODY,
      },
      {
        name: 'conversation: direct with oneself',
        method: 'POST',
        path: '/conversations',
        json: { kind: 'direct', members: [A] },
        expect: INVALID_BODY,
      },
      {
        name: 'conversation: direct with nobody known',
        method: 'POST',
        path: '/conversations',
        json: { kind: 'direct', members: [unknownId] },
        expect: INVALID_BODY,
      },
      {
        name: 'conversation: group entry that does not verify',
        method: 'POST',
        path: '/conversations',
        json: { kind: 'group', entry: { group: unknownId } },
        expect: [400, 'INVALID_GROUP_ENTRY'],
      },
      { name: 'conversation: bad id', method: 'GET', path: '/conversations/x', expect: NOT_FOUND },
      {
        name: 'conversation: unknown id',
        method: 'GET',
        path: `/conversations/${unknownId}`,
        expect: NOT_FOUND,
      },
      {
        name: 'retention: too short',
        method: 'PUT',
        path: `/conversations/${C}/retention`,
        json: { retentionMs: 1 },
        expect: INVALID_BODY,
      },
      {
        name: 'group log of a self conversation',
        method: 'GET',
        path: `/conversations/${C}/log`,
        expect: NOT_FOUND,
      },
      {
        name: 'group log append to a self conversation',
        method: 'POST',
        path: `/conversations/${C}/log`,
        json: { entry: {} },
        expect: NOT_FOUND,
      },

      // Items.
      {
        name: 'reserve: negative size',
        method: 'POST',
        path: `/conversations/${C}/items`,
        json: { ciphertextSize: -1 },
        expect: INVALID_BODY,
      },
      {
        name: 'reserve: fractional size',
        method: 'POST',
        path: `/conversations/${C}/items`,
        json: { ciphertextSize: 1.5 },
        expect: INVALID_BODY,
      },
      {
        name: 'reserve: idempotency key with a path',
        method: 'POST',
        path: `/conversations/${C}/items`,
        json: { ciphertextSize: 10, idempotencyKey: '../../etc/passwd' },
        expect: INVALID_BODY,
      },
      {
        name: 'reserve: over the item size',
        method: 'POST',
        path: `/conversations/${C}/items`,
        json: { ciphertextSize: MAX_ITEM + 1 },
        expect: [413, 'ITEM_TOO_LARGE'],
      },
      {
        name: 'reserve: over the manifest size',
        method: 'POST',
        path: `/conversations/${C}/items`,
        json: { ciphertextSize: 10, manifestSize: MAX_MANIFEST + 1 },
        expect: [413, 'ITEM_TOO_LARGE'],
      },
      {
        name: 'items: limit 0',
        method: 'GET',
        path: `/conversations/${C}/items?limit=0`,
        expect: INVALID_BODY,
      },
      {
        name: 'items: bad since',
        method: 'GET',
        path: `/conversations/${C}/items?since=-1`,
        expect: INVALID_BODY,
      },
      { name: 'item: bad id', method: 'GET', path: '/items/nope', expect: NOT_FOUND },
      { name: 'item: unknown id', method: 'GET', path: `/items/${unknownId}`, expect: NOT_FOUND },
      {
        name: 'blob: range past the end',
        method: 'GET',
        path: `/items/${X}/blob`,
        headers: { range: 'bytes=5000-' },
        expect: [416, 'RANGE_NOT_SATISFIABLE'],
      },
      {
        name: 'accesses: bad limit',
        method: 'GET',
        path: `/items/${X}/accesses?limit=x`,
        expect: INVALID_BODY,
      },
      {
        name: 'manifest: as JSON',
        method: 'PUT',
        path: `/items/${Y}/manifest`,
        json: { manifest: 'x' },
        expect: [415, 'UNSUPPORTED_MEDIA_TYPE'],
      },
      {
        name: 'manifest: empty',
        method: 'PUT',
        path: `/items/${Y}/manifest`,
        body: new Uint8Array(0),
        headers: octets,
        expect: INVALID_BODY,
      },
      {
        name: 'manifest: over the limit',
        method: 'PUT',
        path: `/items/${Y}/manifest`,
        body: new Uint8Array(MAX_MANIFEST + 1),
        headers: octets,
        expect: [413, 'PAYLOAD_TOO_LARGE'],
      },
      {
        name: 'manifest: before the upload is complete',
        method: 'PUT',
        path: `/items/${Y}/manifest`,
        body: ten,
        headers: octets,
        expect: [409, 'UPLOAD_INCOMPLETE'],
      },
      {
        name: 'manifest: item already committed',
        method: 'PUT',
        path: `/items/${X}/manifest`,
        body: ten,
        headers: octets,
        expect: [409, 'ALREADY_COMMITTED'],
      },

      // tus: its own status codes for protocol errors, and ours for the rest.
      {
        name: 'tus: no Tus-Resumable',
        method: 'PATCH',
        path: reserved.uploadUrl,
        body: ten,
        headers: { 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
        expect: [412],
      },
      {
        name: 'tus: old version',
        method: 'PATCH',
        path: reserved.uploadUrl,
        body: ten,
        headers: { ...patch, 'tus-resumable': '0.2.2' },
        expect: [412],
      },
      {
        name: 'tus: negative offset',
        method: 'PATCH',
        path: reserved.uploadUrl,
        body: ten,
        headers: { ...patch, 'upload-offset': '-5' },
        expect: [400, 'BAD_REQUEST'],
      },
      {
        name: 'tus: offset not a number',
        method: 'PATCH',
        path: reserved.uploadUrl,
        body: ten,
        headers: { ...patch, 'upload-offset': 'abc' },
        expect: [400, 'BAD_REQUEST'],
      },
      {
        name: 'tus: offset past the stored size',
        method: 'PATCH',
        path: reserved.uploadUrl,
        body: ten,
        headers: { ...patch, 'upload-offset': '7' },
        expect: [409, 'CONFLICT'],
      },
      {
        name: 'tus: text body',
        method: 'PATCH',
        path: reserved.uploadUrl,
        body: 'hello',
        headers: { ...patch, 'content-type': 'text/plain' },
        expect: [415, 'UNSUPPORTED_MEDIA_TYPE'],
      },
      {
        name: 'tus: no offset',
        method: 'PATCH',
        path: reserved.uploadUrl,
        body: ten,
        headers: { ...TUS, 'content-type': 'application/offset+octet-stream' },
        expect: [400, 'BAD_REQUEST'],
      },
      {
        name: 'tus: deferred length',
        method: 'PATCH',
        path: reserved.uploadUrl,
        body: ten,
        headers: { ...patch, 'upload-length': '100' },
        expect: [400, 'BAD_REQUEST'],
      },
      {
        name: 'tus: more than declared',
        method: 'PATCH',
        path: reserved.uploadUrl,
        body: new Uint8Array(101),
        headers: patch,
        expect: [413, 'PAYLOAD_TOO_LARGE'],
      },
      { name: 'tus: GET', method: 'GET', path: reserved.uploadUrl, expect: [405, 'METHOD_NOT_ALLOWED'] },
      {
        name: 'tus: DELETE',
        method: 'DELETE',
        path: reserved.uploadUrl,
        headers: TUS,
        expect: [405, 'METHOD_NOT_ALLOWED'],
      },
      {
        name: 'tus: creation with bad metadata',
        method: 'POST',
        path: '/api/v1/uploads',
        headers: { ...TUS, 'upload-metadata': 'itemId !!!' },
        expect: [400],
      },

      // Share links.
      {
        name: 'share: no items',
        method: 'POST',
        path: '/shares',
        json: { itemIds: [], ciphertextSizes: [] },
        expect: INVALID_BODY,
      },
      {
        name: 'share: sizes and items differ',
        method: 'POST',
        path: '/shares',
        json: { itemIds: [X], ciphertextSizes: [1, 2] },
        expect: INVALID_BODY,
      },
      {
        name: 'share: unknown item',
        method: 'POST',
        path: '/shares',
        json: { itemIds: [unknownId], ciphertextSizes: [1] },
        expect: NOT_FOUND,
      },
      {
        name: 'share manifest: as JSON',
        method: 'PUT',
        path: `/shares/${share.shareId}/manifest`,
        json: {},
        expect: [415, 'UNSUPPORTED_MEDIA_TYPE'],
      },
      { name: 'share: bad id', method: 'DELETE', path: '/shares/x', expect: NOT_FOUND },
      {
        name: 'public share: bad id',
        method: 'GET',
        path: '/public/shares/x',
        token: false,
        expect: NOT_FOUND,
      },
      {
        name: 'public share: unknown',
        method: 'POST',
        path: `/public/shares/${unknownId}/open`,
        token: false,
        expect: NOT_FOUND,
      },
      {
        name: 'public share blob: no session',
        method: 'GET',
        path: `/public/shares/${share.shareId}/blobs/0`,
        token: false,
        expect: [401, 'UNAUTHENTICATED'],
      },
      {
        name: 'public share blob: malformed session',
        method: 'GET',
        path: `/public/shares/${share.shareId}/blobs/0`,
        token: false,
        headers: { [SHARE_SESSION_HEADER]: 'x' },
        expect: [401, 'UNAUTHENTICATED'],
      },

      // Linking mailboxes.
      {
        name: 'link join: bad nameplate',
        method: 'POST',
        path: '/link/join',
        json: { nameplate: 'x' },
        expect: INVALID_BODY,
      },
      {
        name: 'link join: unknown nameplate',
        method: 'POST',
        path: '/link/join',
        json: { nameplate: '1234' },
        expect: NOT_FOUND,
      },
      {
        name: 'link send: no mailbox',
        method: 'POST',
        path: '/link/send',
        token: false,
        json: { body: 'eA' },
        expect: INVALID_BODY,
      },
      {
        name: 'link receive: wait too long',
        method: 'POST',
        path: '/link/receive',
        token: false,
        json: { mailboxId: unknownId, secret: 'A'.repeat(43), waitMs: 10 ** 9 },
        expect: INVALID_BODY,
      },
      {
        name: 'link close: bad outcome',
        method: 'POST',
        path: '/link/close',
        token: false,
        json: { mailboxId: unknownId, secret: 'A'.repeat(43), outcome: 'x' },
        expect: INVALID_BODY,
      },

      // Administration.
      {
        name: 'policy: not a policy document',
        method: 'PUT',
        path: '/admin/policy',
        json: { ...DEFAULT_POLICY, invitations: 'nobody' },
        expect: INVALID_BODY,
      },
      {
        name: 'admin: empty change',
        method: 'PATCH',
        path: `/admin/accounts/${A}`,
        json: {},
        expect: INVALID_BODY,
      },
      {
        name: 'admin: bad account id',
        method: 'PATCH',
        path: '/admin/accounts/!',
        json: { disabled: true },
        expect: NOT_FOUND,
      },
      {
        name: 'admin: unknown account',
        method: 'PATCH',
        path: `/admin/accounts/${unknownId}`,
        json: { quotaBytes: 1 },
        expect: NOT_FOUND,
      },
      {
        name: 'admin: negative quota',
        method: 'PATCH',
        path: `/admin/accounts/${A}`,
        json: { quotaBytes: -1 },
        expect: INVALID_BODY,
      },
    ]
  })
  afterAll(async () => {
    await api?.close()
  })

  const send = (row: Row) =>
    request(api, row.method, row.path, {
      token: row.token === false ? undefined : token,
      ...(row.json === undefined ? {} : { json: row.json }),
      ...(row.body === undefined ? {} : { body: row.body }),
      ...(row.headers === undefined ? {} : { headers: row.headers }),
    })

  it('answers every malformed request with its row’s status and error code, in the error body', async () => {
    // Every row runs; the failures are listed together, each with what came back.
    const wrong: string[] = []
    for (const row of rows) {
      const r = await send(row)
      const [status, code] = row.expect
      const body = code === undefined ? undefined : { error: { code, message: r.json?.error?.message } }
      const ok =
        r.status === status &&
        (code === undefined ||
          (JSON.stringify(r.json) === JSON.stringify(body) && typeof body?.error.message === 'string'))
      if (!ok) wrong.push(`${row.name}: ${r.status} ${Buffer.from(r.bytes).toString().slice(0, 200)}`)
    }
    expect(wrong).toEqual([])
  })

  it('stored nothing: the upload is still empty, no item was added, no policy changed', async () => {
    const head = await request(api, 'HEAD', reserved.uploadUrl, { token, headers: TUS })
    expect(head.headers.get('upload-offset')).toBe('0')
    expect(head.headers.get('upload-length')).toBe('100')
    const items = await request(api, 'GET', `/conversations/${alice.selfConversationId}/items`, { token })
    expect(items.json.items.map((i: { itemId: string }) => i.itemId)).toEqual([item.itemId])
    expect((await request(api, 'GET', '/policy', { token })).json).toEqual(DEFAULT_POLICY)
    const me = await request(api, 'GET', '/accounts/me', { token })
    expect(me.status).toBe(200)
    expect((await request(api, 'GET', '/conversations', { token })).json.conversations).toHaveLength(1)
  })

  it('never answers 5xx to random JSON on any JSON route (property test)', async () => {
    const routes: Array<[string, string, boolean]> = [
      ['POST', '/accounts', false],
      ['POST', '/auth/challenge', false],
      ['POST', '/auth/session', false],
      ['POST', '/invites', true],
      ['POST', `/accounts/${alice.accountId}/log`, true],
      ['POST', '/conversations', true],
      ['POST', `/conversations/${alice.selfConversationId}/items`, true],
      ['PUT', `/conversations/${alice.selfConversationId}/retention`, true],
      ['POST', '/shares', true],
      ['PUT', '/admin/policy', true],
      ['PATCH', `/admin/accounts/${alice.accountId}`, true],
      ['POST', '/link/join', true],
      ['POST', '/link/send', false],
      ['POST', '/link/receive', false],
      ['POST', '/link/close', false],
    ]
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.jsonValue({ maxDepth: 4 }),
        async ([method, path, auth], value) => {
          const r = await request(api, method, path, { json: value, token: auth ? token : undefined })
          expect(r.status, `${path} ${JSON.stringify(value).slice(0, 200)}`).toBeLessThan(500)
        },
      ),
      { numRuns: 300 },
    )
    expect((await request(api, 'GET', '/healthz')).status).toBe(200)
    expect(api.logs()).not.toMatch(/internal error/)
  })
})
