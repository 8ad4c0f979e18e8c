import { randomBytes } from 'node:crypto'
import {
  appendEntry,
  appendGroupEntry,
  createGroupEntry,
  DEFAULT_POLICY,
  SHARE_SESSION_HEADER,
  verifyGroupLog,
} from '@airlock/core'
import { Metadata } from '@tus/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Actor,
  type ApiResult,
  addDevice,
  changeDevice,
  createAccount,
  fetchLog,
  type Json,
  login,
  newDevice,
  request,
  sendItem,
  TUS,
  tusHead,
  tusPatch,
} from './api-client.js'
import { type InjectedApp, injectApp, routesOf } from './inject-app.js'

/**
 * SECURITY-TESTS 22, route by route through `app.inject` (no process, no build): every route that
 * takes a session, tried without a token, with another account's token, with the token of a
 * removed device and, for uploads, with another device of the same account; each row says the
 * status and error code it must get. Refusals carry nothing of Alice's and change nothing; her
 * own token gets through on every row (so a row cannot pass by naming a route that is not there).
 */

/** `[status, error code]`; HEAD answers have no body, so no code. */
type Outcome = readonly [number, string?]

interface Row {
  name: string
  method: string
  path: string
  json?: unknown
  body?: Uint8Array
  headers?: Record<string, string>
  /** Bob, another account. */
  other: Outcome
  /** Alice's own first device: the route is reached and does its work (0: not checked here). */
  owner: number | Outcome
  /** Alice's other device, for the rows where being the same account is not enough. */
  sibling?: Outcome
}

const UNAUTHENTICATED: Outcome = [401, 'UNAUTHENTICATED']
const NOT_FOUND: Outcome = [404, 'NOT_FOUND']
const FORBIDDEN: Outcome = [403, 'FORBIDDEN']

/** Alice's world, as the rows need it: items, an upload in progress, a share link, a group. */
interface World {
  api: InjectedApp
  alice: Actor
  tokens: { alice: string; bob: string; removed: string; sibling: string }
  item: { itemId: string; seq: number }
  reserved: { itemId: string; uploadUrl: string }
  share: { shareId: string; uploads: { blobId: string; uploadUrl: string }[] }
  rows: Row[]
  /** Routes any signed-in device may use, on its own account or a directory: no token, no answer. */
  signedIn: Pick<Row, 'name' | 'method' | 'path' | 'json'>[]
  /** Bytes of Alice's that no refusal may contain (manifest, blob, signatures). */
  secrets: string[]
  close(): Promise<void>
}

async function world(): Promise<World> {
  const api = await injectApp()
  const alice = await createAccount(api, api.setupCode, 'alice')
  const aliceToken = await login(api, alice.first)
  const invite = await request(api, 'POST', '/invites', { token: aliceToken, json: {} })
  const bob = await createAccount(api, invite.json.code, 'bob')
  const bobToken = await login(api, bob.first)

  const removed = await addDevice(api, alice, aliceToken, 'alice-old-phone')
  const sibling = await addDevice(api, alice, aliceToken, 'alice-desktop')
  expect((await changeDevice(api, aliceToken, alice, alice.first, 'remove', removed.device)).status).toBe(200)

  const blob = randomBytes(4096)
  const manifest = randomBytes(256)
  const item = await sendItem(api, aliceToken, alice.selfConversationId, blob, manifest)
  const r = await request(api, 'POST', `/conversations/${alice.selfConversationId}/items`, {
    token: aliceToken,
    json: { ciphertextSize: 1000 },
  })
  const reserved = r.json
  expect((await tusPatch(api, aliceToken, reserved.uploadUrl, 0, randomBytes(100))).status).toBe(204)
  const sh = await request(api, 'POST', '/shares', {
    token: aliceToken,
    json: { itemIds: [item.itemId], ciphertextSizes: [1000] },
  })
  expect(sh.status).toBe(201)
  const share = sh.json
  expect((await tusPatch(api, aliceToken, share.uploads[0].uploadUrl, 0, randomBytes(100))).status).toBe(204)

  // A valid entry Alice's device signed: only authorisation can stop Bob from posting it.
  const log = await fetchLog(api, aliceToken, alice.accountId)
  const entry = appendEntry(log, alice.first, 'add', (await newDevice('sneaky')).record)

  // A group of Alice's, and a valid change to it she signed.
  const G = randomBytes(16).toString('base64url')
  const genesis = createGroupEntry({
    group: G,
    name: 'alice only',
    members: [],
    signer: alice.first,
    signerLog: log,
  })
  const created = await request(api, 'POST', '/conversations', {
    token: aliceToken,
    json: { kind: 'group', entry: genesis },
  })
  expect(created.status).toBe(201)
  const group = await verifyGroupLog(G, [genesis], async () => {})
  const rename = appendGroupEntry(group, { op: 'rename', name: 'renamed' }, alice.first, log)

  const A = alice.accountId
  const C = alice.selfConversationId
  const X = item.itemId
  const Y = reserved.itemId
  const S = share.shareId
  const octets = { 'content-type': 'application/octet-stream' }
  const tusPatchHeaders = {
    ...TUS,
    'upload-offset': '100',
    'content-type': 'application/offset+octet-stream',
  }
  // Reads first, then writes, then what destroys: the owner's column runs in this order.
  const rows: Row[] = [
    { name: 'list devices', method: 'GET', path: `/accounts/${A}/devices`, other: NOT_FOUND, owner: 200 },
    { name: 'read group', method: 'GET', path: `/conversations/${G}`, other: NOT_FOUND, owner: 200 },
    { name: 'read group log', method: 'GET', path: `/conversations/${G}/log`, other: NOT_FOUND, owner: 200 },
    {
      name: 'list group items',
      method: 'GET',
      path: `/conversations/${G}/items`,
      other: NOT_FOUND,
      owner: 200,
    },
    { name: 'read conversation', method: 'GET', path: `/conversations/${C}`, other: NOT_FOUND, owner: 200 },
    { name: 'list items', method: 'GET', path: `/conversations/${C}/items`, other: NOT_FOUND, owner: 200 },
    { name: 'read item', method: 'GET', path: `/items/${X}`, other: NOT_FOUND, owner: 200 },
    { name: 'download blob', method: 'GET', path: `/items/${X}/blob`, other: NOT_FOUND, owner: 200 },
    {
      name: 'download range',
      method: 'GET',
      path: `/items/${X}/blob`,
      headers: { range: 'bytes=0-10' },
      other: NOT_FOUND,
      owner: 206,
    },
    { name: 'head blob', method: 'HEAD', path: `/items/${X}/blob`, other: [404], owner: 200 },
    // The owner's live download streams until the upload ends, which `inject` would wait for:
    // live.test.ts follows uploads on a real socket. Here: refusals only.
    { name: 'follow item', method: 'GET', path: `/items/${X}/live`, other: NOT_FOUND, owner: 0 },
    { name: 'follow upload', method: 'GET', path: `/items/${Y}/live`, other: NOT_FOUND, owner: 0 },
    { name: 'read accesses', method: 'GET', path: `/items/${X}/accesses`, other: NOT_FOUND, owner: 200 },
    {
      name: 'read accesses page',
      method: 'GET',
      path: `/items/${X}/accesses?since=0&limit=10`,
      other: NOT_FOUND,
      owner: 200,
    },
    {
      name: 'read accesses of a reservation',
      method: 'GET',
      path: `/items/${Y}/accesses`,
      other: NOT_FOUND,
      owner: 200,
    },
    {
      name: 'tus head',
      method: 'HEAD',
      path: `/api/v1/uploads/${Y}`,
      headers: TUS,
      other: [404],
      owner: 200,
      sibling: [404],
    },
    {
      name: 'share tus head',
      method: 'HEAD',
      path: share.uploads[0].uploadUrl,
      headers: TUS,
      other: [404],
      owner: 200,
      sibling: [404],
    },
    { name: 'list invites', method: 'GET', path: '/invites', other: FORBIDDEN, owner: 200 },
    { name: 'admin: list accounts', method: 'GET', path: '/admin/accounts', other: FORBIDDEN, owner: 200 },
    { name: 'admin: list share links', method: 'GET', path: '/admin/shares', other: FORBIDDEN, owner: 200 },
    {
      name: 'append log',
      method: 'POST',
      path: `/accounts/${A}/log`,
      json: { entry },
      other: NOT_FOUND,
      owner: 200,
    },
    {
      name: 'append group log',
      method: 'POST',
      path: `/conversations/${G}/log`,
      json: { entry: rename },
      other: NOT_FOUND,
      owner: 200,
    },
    {
      name: 'reserve group item',
      method: 'POST',
      path: `/conversations/${G}/items`,
      json: { ciphertextSize: 10 },
      other: NOT_FOUND,
      owner: 201,
    },
    {
      name: 'reserve item',
      method: 'POST',
      path: `/conversations/${C}/items`,
      json: { ciphertextSize: 10 },
      other: NOT_FOUND,
      owner: 201,
    },
    {
      name: 'set conversation retention',
      method: 'PUT',
      path: `/conversations/${C}/retention`,
      json: { retentionMs: 5000 },
      other: NOT_FOUND,
      owner: 200,
    },
    { name: 'create invite', method: 'POST', path: '/invites', json: {}, other: FORBIDDEN, owner: 201 },
    {
      name: 'tus patch',
      method: 'PATCH',
      path: `/api/v1/uploads/${Y}`,
      body: randomBytes(50),
      headers: tusPatchHeaders,
      other: NOT_FOUND,
      owner: 204,
      sibling: NOT_FOUND,
    },
    {
      name: 'share tus patch',
      method: 'PATCH',
      path: share.uploads[0].uploadUrl,
      body: randomBytes(50),
      headers: tusPatchHeaders,
      other: NOT_FOUND,
      owner: 204,
      sibling: NOT_FOUND,
    },
    {
      name: 'tus create',
      method: 'POST',
      path: '/api/v1/uploads',
      headers: { ...TUS, 'upload-length': '1000', 'upload-metadata': Metadata.stringify({ itemId: Y }) },
      other: NOT_FOUND,
      // Reached: the reservation made its upload already (tus answers, in its own words).
      owner: [409],
      sibling: NOT_FOUND,
    },
    {
      name: 'tus patch without an id',
      method: 'PATCH',
      path: '/api/v1/uploads',
      body: randomBytes(50),
      headers: tusPatchHeaders,
      other: NOT_FOUND,
      owner: [404, 'NOT_FOUND'],
    },
    {
      name: 'tus create at an id',
      method: 'POST',
      path: `/api/v1/uploads/${Y}`,
      headers: { ...TUS, 'upload-length': '1000', 'upload-metadata': Metadata.stringify({ itemId: Y }) },
      other: NOT_FOUND,
      owner: [404],
    },
    {
      name: 'commit manifest',
      method: 'PUT',
      path: `/items/${Y}/manifest`,
      body: randomBytes(10),
      headers: octets,
      other: NOT_FOUND,
      // Reached: the upload is not complete yet.
      owner: [409, 'UPLOAD_INCOMPLETE'],
      sibling: NOT_FOUND,
    },
    {
      name: 'commit share manifest',
      method: 'PUT',
      path: `/shares/${S}/manifest`,
      body: randomBytes(10),
      headers: octets,
      other: NOT_FOUND,
      owner: [409, 'UPLOAD_INCOMPLETE'],
      sibling: NOT_FOUND,
    },
    {
      name: 'create share link',
      method: 'POST',
      path: '/shares',
      json: { itemIds: [X], ciphertextSizes: [10] },
      other: NOT_FOUND,
      owner: 201,
    },
    {
      name: 'admin: set quota',
      method: 'PATCH',
      path: `/admin/accounts/${A}`,
      json: { quotaBytes: 1 },
      other: FORBIDDEN,
      owner: 200,
    },
    {
      name: 'admin: disable account',
      method: 'PATCH',
      path: `/admin/accounts/${A}`,
      json: { disabled: true },
      other: FORBIDDEN,
      // Reached: an administrator cannot disable their own account.
      owner: [409, 'CONFLICT'],
    },
    {
      name: 'admin: change policy',
      method: 'PUT',
      path: '/admin/policy',
      json: { ...DEFAULT_POLICY, invitations: 'everyone', maxItemBytes: 1 },
      other: FORBIDDEN,
      owner: 200,
    },
    {
      name: 'admin: revoke a share link',
      method: 'DELETE',
      path: `/admin/shares/${S}`,
      other: FORBIDDEN,
      owner: 200,
    },
    { name: 'revoke share link', method: 'DELETE', path: `/shares/${S}`, other: NOT_FOUND, owner: 200 },
    { name: 'cancel reservation', method: 'DELETE', path: `/items/${Y}`, other: NOT_FOUND, owner: 200 },
    { name: 'delete item', method: 'DELETE', path: `/items/${X}`, other: NOT_FOUND, owner: 200 },
  ]
  const signedIn = [
    { name: 'me', method: 'GET', path: '/accounts/me' },
    { name: 'conversations', method: 'GET', path: '/conversations' },
    { name: 'list share links', method: 'GET', path: '/shares' },
    { name: 'read policy', method: 'GET', path: '/policy' },
    { name: "read a person's device log", method: 'GET', path: `/accounts/${A}/log` },
    { name: 'look up a person', method: 'GET', path: '/accounts/lookup?username=alice' },
    {
      name: 'create a conversation',
      method: 'POST',
      path: '/conversations',
      json: { kind: 'direct', members: [A] },
    },
    { name: 'link join', method: 'POST', path: '/link/join', json: { nameplate: '1234' } },
    // Consent: each account answers for itself only (consent.test.ts).
    { name: 'list my answers', method: 'GET', path: '/contacts' },
    { name: 'accept a person', method: 'POST', path: `/contacts/${A}/accept` },
    { name: 'decline a person', method: 'POST', path: `/contacts/${A}/decline` },
    { name: 'block a person', method: 'POST', path: `/contacts/${A}/block` },
    { name: 'unblock a person', method: 'POST', path: `/contacts/${A}/unblock` },
    { name: 'logout', method: 'DELETE', path: '/auth/session' },
  ]
  return {
    api,
    alice,
    signedIn,
    tokens: { alice: aliceToken, bob: bobToken, removed: removed.token, sibling: sibling.token },
    item,
    reserved,
    share,
    rows,
    secrets: [
      Buffer.from(manifest).toString('base64url'),
      blob.subarray(0, 32).toString('hex'),
      entry.sig,
      rename.sig,
    ],
    close: () => api.close(),
  }
}

function send(w: World, row: Pick<Row, 'method' | 'path' | 'json' | 'body' | 'headers'>, token?: string) {
  return request(w.api, row.method, row.path, {
    token,
    ...(row.json === undefined ? {} : { json: row.json }),
    ...(row.body === undefined ? {} : { body: row.body }),
    ...(row.headers === undefined ? {} : { headers: row.headers }),
  })
}

function expectOutcome(r: ApiResult<Json>, [status, code]: Outcome, what: string) {
  expect(r.status, what).toBe(status)
  if (code !== undefined) expect(r.json?.error?.code, what).toBe(code)
}

/**
 * The routes that take no session, each with what guards it instead; routes-validation.test.ts
 * (and the linking and share tests above) try them. Every other route must have a row above.
 */
const NO_SESSION: Record<string, string> = {
  'POST /api/v1/accounts': 'a setup or invite code',
  'POST /api/v1/auth/challenge': 'nothing: it answers every device id alike',
  'POST /api/v1/auth/session': "the device's signature",
  'POST /api/v1/link': 'nothing: a new device opens a mailbox',
  'POST /api/v1/link/send': "the mailbox's secret, or the joined device's session",
  'POST /api/v1/link/receive': "the mailbox's secret, or the joined device's session",
  'POST /api/v1/link/close': "the mailbox's secret, or the joined device's session",
  'GET /api/v1/public/shares/:id': 'the link',
  'POST /api/v1/public/shares/:id/open': 'the link',
  'GET /api/v1/public/shares/:id/blobs/:n': 'a download session',
  'POST /api/v1/public/shares/:id/close': 'a download session',
  'GET /api/v1/uploads': 'nothing: 405 for everyone',
  'DELETE /api/v1/uploads': 'nothing: 405 for everyone',
  'GET /api/v1/uploads/:id': 'nothing: 405 for everyone',
  'DELETE /api/v1/uploads/:id': 'nothing: 405 for everyone',
  'GET /api/v1/push': 'the token in its first message (push.test.ts, over a real socket)',
}

describe('route authorisation matrix (app.inject over in-memory SQLite)', () => {
  let w: World
  const leaks = (r: ApiResult) => {
    const text = Buffer.from(r.bytes).toString('utf8')
    const hex = Buffer.from(r.bytes).toString('hex')
    return w.secrets.some((s) => text.includes(s) || hex.includes(s))
  }

  beforeAll(async () => {
    w = await world()
  })
  afterAll(async () => {
    await w?.close()
  })

  it('every API route that takes a session has a row; every other one says what guards it', async () => {
    const routes = routesOf(w.api.app).filter((r) => r.includes(' /api/v1/'))
    const patterns = new Map(routes.map((r) => [r, new RegExp(`^${r.replace(/:[a-z]+/g, '[^/]+')}$`)]))
    const covered = new Set<string>()
    for (const row of [...w.rows, ...w.signedIn]) {
      const path = row.path.split('?')[0]!
      const key = `${row.method === 'HEAD' ? 'GET' : row.method} ${path.startsWith('/api/') ? '' : '/api/v1'}${path}`
      const hit = routes.filter((r) => patterns.get(r)!.test(key))
      expect(hit.length, row.name).toBeGreaterThan(0)
      for (const r of hit) covered.add(r)
    }
    const missing = routes.filter((r) => !covered.has(r) && !(r in NO_SESSION))
    expect(missing).toEqual([])
    expect(Object.keys(NO_SESSION).filter((r) => !routes.includes(r))).toEqual([])
  })

  it('without a token, every route is 401 UNAUTHENTICATED', async () => {
    for (const row of [...w.rows, ...w.signedIn]) {
      expectOutcome(await send(w, row), row.method === 'HEAD' ? [401] : UNAUTHENTICATED, row.name)
    }
  })

  it("another account's token gets the row's 403 or 404 on every route, never data", async () => {
    for (const row of w.rows) {
      const r = await send(w, row, w.tokens.bob)
      expectOutcome(r, row.other, row.name)
      expect(leaks(r), row.name).toBe(false)
    }
  })

  it("a removed device's token is 401 UNAUTHENTICATED on every route", async () => {
    for (const row of [...w.rows, ...w.signedIn]) {
      const r = await send(w, row, w.tokens.removed)
      expectOutcome(r, row.method === 'HEAD' ? [401] : UNAUTHENTICATED, row.name)
      expect(leaks(r), row.name).toBe(false)
    }
  })

  it('another device of the same account cannot touch an upload it did not reserve', async () => {
    const rows = w.rows.filter((row) => row.sibling)
    expect(rows.length).toBe(7)
    for (const row of rows) expectOutcome(await send(w, row, w.tokens.sibling), row.sibling!, row.name)
    // …but sees the committed item, like every device of the account.
    expect((await request(w.api, 'GET', `/items/${w.item.itemId}`, { token: w.tokens.sibling })).status).toBe(
      200,
    )
  })

  it('the public share routes give nothing without the link and a download session', async () => {
    const S = w.share.shareId
    // Alice's link is still uploading: not found for anyone, account or not.
    for (const token of [undefined, w.tokens.bob, w.tokens.alice]) {
      expectOutcome(await request(w.api, 'GET', `/public/shares/${S}`, { token }), NOT_FOUND, 'info')
      expectOutcome(await request(w.api, 'POST', `/public/shares/${S}/open`, { token }), NOT_FOUND, 'open')
      // An account's bearer token is not a download session.
      const blob = await request(w.api, 'GET', `/public/shares/${S}/blobs/0`, { token })
      expectOutcome(blob, UNAUTHENTICATED, 'blob')
      const close = await request(w.api, 'POST', `/public/shares/${S}/close`, { token })
      expectOutcome(close, UNAUTHENTICATED, 'close')
    }
    const forged = { [SHARE_SESSION_HEADER]: randomBytes(32).toString('base64url') }
    expectOutcome(
      await request(w.api, 'GET', `/public/shares/${S}/blobs/0`, { headers: forged }),
      // A session the server does not hold looks like one that ended.
      [410, 'GONE'],
      'forged session',
    )
  })

  it("another account may read Alice's public device log (a key directory) find her by username and read the policy, nothing more", async () => {
    const log = await request(w.api, 'GET', `/accounts/${w.alice.accountId}/log`, { token: w.tokens.bob })
    expect(log.status).toBe(200)
    expect(log.json.entries.length).toBeGreaterThan(0)
    expectOutcome(await request(w.api, 'GET', `/accounts/${w.alice.accountId}/log`), UNAUTHENTICATED, 'log')
    const found = await request(w.api, 'GET', '/accounts/lookup?username=alice', { token: w.tokens.bob })
    expect(found.json).toEqual({ accountId: w.alice.accountId, username: 'alice' })
    // Every signed-in device reads the organisation's policy (the default until an admin sets one).
    expect((await request(w.api, 'GET', '/policy', { token: w.tokens.bob })).json).toEqual(DEFAULT_POLICY)
  })

  it("Bob's own listings show nothing of Alice's", async () => {
    const convs = await request(w.api, 'GET', '/conversations', { token: w.tokens.bob })
    expect(convs.status).toBe(200)
    expect(JSON.stringify(convs.json)).not.toContain(w.alice.selfConversationId)
    expect(JSON.stringify(convs.json)).not.toContain(w.alice.accountId)
    const shares = await request(w.api, 'GET', '/shares', { token: w.tokens.bob })
    expect(shares.status).toBe(200)
    expect(shares.json.shares).toEqual([])
  })

  it("linking mailboxes: another account cannot read, write, close or take over Alice's", async () => {
    const { api } = w
    const open = await request(api, 'POST', '/link', {})
    const { mailboxId, secret, nameplate } = open.json
    const j = await request(api, 'POST', '/link/join', { token: w.tokens.alice, json: { nameplate } })
    expect(j.status, JSON.stringify([open.json, j.json])).toBe(200)
    await request(api, 'POST', '/link/send', { json: { mailboxId, secret, body: 'aGVsbG8' } })
    for (const [path, json] of [
      ['/link/send', { mailboxId, body: 'eA' }],
      ['/link/receive', { mailboxId }],
      ['/link/close', { mailboxId, outcome: 'done' }],
    ] as const) {
      const r = await request(api, 'POST', path, { token: w.tokens.bob, json })
      expectOutcome(r, NOT_FOUND, `bob ${path}`)
      expect(Buffer.from(r.bytes).toString()).not.toContain('aGVsbG8')
      expectOutcome(await request(api, 'POST', path, { json }), UNAUTHENTICATED, `no token ${path}`)
      expectOutcome(
        await request(api, 'POST', path, { token: w.tokens.removed, json }),
        UNAUTHENTICATED,
        `removed ${path}`,
      )
    }
    // Bob joining a mailbox Alice joined burns it: nobody can trust it any more.
    const takeover = await request(api, 'POST', '/link/join', { token: w.tokens.bob, json: { mailboxId } })
    expectOutcome(takeover, [410, 'GONE'], 'takeover')
    const after = await request(api, 'POST', '/link/receive', { token: w.tokens.alice, json: { mailboxId } })
    expectOutcome(after, [410, 'GONE'], 'after the takeover')
  })

  it("leaves Alice's data exactly as it was, and logs no internal error", async () => {
    const { api, alice } = w
    const token = w.tokens.alice
    const log = await fetchLog(api, token, alice.accountId)
    expect(log.seq).toBe(3)
    const items = await request(api, 'GET', `/conversations/${alice.selfConversationId}/items`, { token })
    expect(items.json.items.map((i: { itemId: string; deleted: boolean }) => [i.itemId, i.deleted])).toEqual([
      [w.item.itemId, false],
    ])
    expect((await tusHead(api, token, w.reserved.uploadUrl)).headers.get('upload-offset')).toBe('100')
    expect((await request(api, 'GET', `/items/${w.item.itemId}/blob`, { token })).status).toBe(200)
    // The refusals were made before any byte: Alice's access log holds her own devices' downloads only.
    const accesses = await request(api, 'GET', `/items/${w.item.itemId}/accesses`, {
      token: w.tokens.sibling,
    })
    expect(accesses.status).toBe(200)
    expect(accesses.json.accesses.length).toBeGreaterThan(0)
    expect(accesses.json.accesses.every((a: { accountId: string }) => a.accountId === alice.accountId)).toBe(
      true,
    )
    // Bob's admin attempts changed nothing: default policy, Alice enabled with no quota of her own.
    expect((await request(api, 'GET', '/policy', { token })).json).toEqual(DEFAULT_POLICY)
    const accounts = await request(api, 'GET', '/admin/accounts', { token })
    expect(accounts.json.accounts[0]).toMatchObject({ username: 'alice', disabled: false, quotaBytes: null })
    const conv = await request(api, 'GET', `/conversations/${alice.selfConversationId}`, { token })
    expect(conv.json.retentionMs).toBeUndefined()
    const shares = await request(api, 'GET', '/shares', { token })
    expect(shares.json.shares).toMatchObject([{ shareId: w.share.shareId, state: 'uploading', downloads: 0 }])
    expect((await tusHead(api, token, w.share.uploads[0]!.uploadUrl)).headers.get('upload-offset')).toBe(
      '100',
    )
    expect(api.logs()).not.toMatch(/internal error/)
  })
})

describe("the owner's column: every row reaches its route", () => {
  it("Alice's own token gets the row's status on every route, in table order", async () => {
    const w = await world()
    try {
      for (const row of w.rows) {
        if (row.owner === 0) continue
        const r = await send(w, row, w.tokens.alice)
        expectOutcome(
          r,
          typeof row.owner === 'number' ? [row.owner] : row.owner,
          `${row.name}: ${JSON.stringify(r.json)}`,
        )
      }
      expect(w.api.logs()).not.toMatch(/internal error/)
    } finally {
      await w.close()
    }
  })
})
