import { randomBytes } from 'node:crypto'
import {
  appendEntry,
  appendGroupEntry,
  createGroupEntry,
  DEFAULT_POLICY,
  verifyGroupLog,
} from '@airlock/core'
import { Metadata } from '@tus/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Actor,
  addDevice,
  changeDevice,
  createAccount,
  fetchLog,
  login,
  newDevice,
  removeDir,
  request,
  type ServerProcess,
  sendItem,
  startServerProcess,
  TUS,
  tempDir,
  tusHead,
  tusPatch,
} from './harness.js'

interface Route {
  name: string
  method: string
  path: string
  json?: unknown
  body?: Uint8Array
  headers?: Record<string, string>
}

/**
 * SECURITY-TESTS 22: every route that touches Alice's account, tried with Bob's token (another
 * account), with the token of Alice's removed device, and — for uploads — with Alice's other
 * device. Each answer is 401, 403 or 404 with an error body and nothing of Alice's; afterwards
 * Alice's data is unchanged.
 */
describe('authorisation matrix (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let alice: Actor
  let aliceToken: string
  let bobToken: string
  let removedToken: string
  let otherDeviceToken: string
  let routes: Route[]
  let secrets: string[]
  let item: { itemId: string; seq: number }
  let reserved: { itemId: string; uploadUrl: string }
  let share: { shareId: string; uploads: { blobId: string; uploadUrl: string }[] }

  beforeAll(async () => {
    dir = await tempDir()
    server = await startServerProcess({ dataDir: dir })
    alice = await createAccount(server.url, server.setupCode!, 'alice')
    aliceToken = await login(server.url, alice.first)
    const invite = await request(server.url, 'POST', '/invites', { token: aliceToken, json: {} })
    const bob = await createAccount(server.url, invite.json.code, 'bob')
    bobToken = await login(server.url, bob.first)

    const removed = await addDevice(server.url, alice, aliceToken, 'alice-old-phone')
    removedToken = removed.token
    const other = await addDevice(server.url, alice, aliceToken, 'alice-desktop')
    otherDeviceToken = other.token
    expect(
      (await changeDevice(server.url, aliceToken, alice, alice.first, 'remove', removed.device)).status,
    ).toBe(200)

    const blob = randomBytes(4096)
    const manifest = randomBytes(256)
    item = await sendItem(server.url, aliceToken, alice.selfConversationId, blob, manifest)
    const r = await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
      token: aliceToken,
      json: { ciphertextSize: 1000 },
    })
    reserved = r.json
    await tusPatch(server.url, aliceToken, reserved.uploadUrl, 0, randomBytes(100))
    const sh = await request(server.url, 'POST', '/shares', {
      token: aliceToken,
      json: { itemIds: [item.itemId], ciphertextSizes: [1000] },
    })
    expect(sh.status).toBe(201)
    share = sh.json
    await tusPatch(server.url, aliceToken, share.uploads[0]!.uploadUrl, 0, randomBytes(100))

    // A valid entry Alice's device signed: only authorisation can stop Bob from posting it.
    const log = await fetchLog(server.url, aliceToken, alice.accountId)
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
    const created = await request(server.url, 'POST', '/conversations', {
      token: aliceToken,
      json: { kind: 'group', entry: genesis },
    })
    expect(created.status).toBe(201)
    const group = await verifyGroupLog(G, [genesis], async () => {})
    const rename = appendGroupEntry(group, { op: 'rename', name: 'renamed' }, alice.first, log)

    const openPolicy = { ...DEFAULT_POLICY, invitations: 'everyone', maxItemBytes: 1 }
    const A = alice.accountId
    const C = alice.selfConversationId
    const X = item.itemId
    const Y = reserved.itemId
    const tusPatchHeaders = {
      ...TUS,
      'upload-offset': '100',
      'content-type': 'application/offset+octet-stream',
    }
    routes = [
      { name: 'append log', method: 'POST', path: `/accounts/${A}/log`, json: { entry } },
      { name: 'list devices', method: 'GET', path: `/accounts/${A}/devices` },
      { name: 'read group', method: 'GET', path: `/conversations/${G}` },
      { name: 'read group log', method: 'GET', path: `/conversations/${G}/log` },
      { name: 'append group log', method: 'POST', path: `/conversations/${G}/log`, json: { entry: rename } },
      { name: 'list group items', method: 'GET', path: `/conversations/${G}/items` },
      {
        name: 'reserve group item',
        method: 'POST',
        path: `/conversations/${G}/items`,
        json: { ciphertextSize: 10 },
      },
      { name: 'read conversation', method: 'GET', path: `/conversations/${C}` },
      { name: 'list items', method: 'GET', path: `/conversations/${C}/items` },
      {
        name: 'reserve item',
        method: 'POST',
        path: `/conversations/${C}/items`,
        json: { ciphertextSize: 10 },
      },
      { name: 'read item', method: 'GET', path: `/items/${X}` },
      { name: 'download blob', method: 'GET', path: `/items/${X}/blob` },
      { name: 'download range', method: 'GET', path: `/items/${X}/blob`, headers: { range: 'bytes=0-10' } },
      { name: 'head blob', method: 'HEAD', path: `/items/${X}/blob` },
      { name: 'follow item', method: 'GET', path: `/items/${X}/live` },
      { name: 'follow upload', method: 'GET', path: `/items/${Y}/live` },
      { name: 'read accesses', method: 'GET', path: `/items/${X}/accesses` },
      { name: 'read accesses page', method: 'GET', path: `/items/${X}/accesses?since=0&limit=10` },
      { name: 'read accesses of a reservation', method: 'GET', path: `/items/${Y}/accesses` },
      { name: 'delete item', method: 'DELETE', path: `/items/${X}` },
      {
        name: 'commit manifest',
        method: 'PUT',
        path: `/items/${Y}/manifest`,
        body: randomBytes(10),
        headers: { 'content-type': 'application/octet-stream' },
      },
      { name: 'cancel reservation', method: 'DELETE', path: `/items/${Y}` },
      { name: 'tus head', method: 'HEAD', path: `/api/v1/uploads/${Y}`, headers: TUS },
      {
        name: 'tus patch',
        method: 'PATCH',
        path: `/api/v1/uploads/${Y}`,
        body: randomBytes(50),
        headers: tusPatchHeaders,
      },
      {
        name: 'tus create',
        method: 'POST',
        path: '/api/v1/uploads',
        headers: { ...TUS, 'upload-length': '1000', 'upload-metadata': Metadata.stringify({ itemId: Y }) },
      },
      {
        name: 'create share link',
        method: 'POST',
        path: '/shares',
        json: { itemIds: [X], ciphertextSizes: [10] },
      },
      {
        name: 'commit share manifest',
        method: 'PUT',
        path: `/shares/${share.shareId}/manifest`,
        body: randomBytes(10),
        headers: { 'content-type': 'application/octet-stream' },
      },
      { name: 'revoke share link', method: 'DELETE', path: `/shares/${share.shareId}` },
      { name: 'share tus head', method: 'HEAD', path: share.uploads[0]!.uploadUrl, headers: TUS },
      {
        name: 'share tus patch',
        method: 'PATCH',
        path: share.uploads[0]!.uploadUrl,
        body: randomBytes(50),
        headers: tusPatchHeaders,
      },
      { name: 'list invites', method: 'GET', path: '/invites' },
      { name: 'create invite', method: 'POST', path: '/invites', json: {} },
      {
        name: 'set conversation retention',
        method: 'PUT',
        path: `/conversations/${C}/retention`,
        json: { retentionMs: 5000 },
      },
      // Administration: Bob is no administrator (the default policy lets only admins invite, too).
      { name: 'admin: change policy', method: 'PUT', path: '/admin/policy', json: openPolicy },
      { name: 'admin: list accounts', method: 'GET', path: '/admin/accounts' },
      {
        name: 'admin: disable account',
        method: 'PATCH',
        path: `/admin/accounts/${A}`,
        json: { disabled: true },
      },
      { name: 'admin: set quota', method: 'PATCH', path: `/admin/accounts/${A}`, json: { quotaBytes: 1 } },
      { name: 'admin: list share links', method: 'GET', path: '/admin/shares' },
      { name: 'admin: revoke a share link', method: 'DELETE', path: `/admin/shares/${share.shareId}` },
    ]
    secrets = [
      Buffer.from(manifest).toString('base64url'),
      Buffer.from(blob.subarray(0, 32)).toString('hex'),
      entry.sig,
      rename.sig,
    ]
  })
  afterAll(async () => {
    await server?.stop()
    await removeDir(dir)
  })

  const leaks = (r: { bytes: Uint8Array }) => {
    const text = Buffer.from(r.bytes).toString('utf8')
    const hex = Buffer.from(r.bytes).toString('hex')
    return secrets.some((s) => text.includes(s) || hex.includes(s))
  }

  it("another account's token gets 401/403/404 on every route, never data", async () => {
    for (const route of routes) {
      const r = await request(server.url, route.method, route.path, { token: bobToken, ...route })
      expect([403, 404], `${route.name}: ${r.status}`).toContain(r.status)
      if (route.method !== 'HEAD') expect(r.json?.error?.code, route.name).toMatch(/^(FORBIDDEN|NOT_FOUND)$/)
      expect(leaks(r), route.name).toBe(false)
    }
  })

  it("a removed device's token gets 401 on every route", async () => {
    for (const route of [
      ...routes,
      { name: 'me', method: 'GET', path: '/accounts/me' },
      { name: 'conversations', method: 'GET', path: '/conversations' },
      { name: 'list share links', method: 'GET', path: '/shares' },
      { name: 'logout', method: 'DELETE', path: '/auth/session' },
      { name: 'link join', method: 'POST', path: '/link/join', json: { nameplate: '1234' } },
      { name: 'read policy', method: 'GET', path: '/policy' },
    ]) {
      const r = await request(server.url, route.method, route.path, { token: removedToken, ...route })
      expect(r.status, route.name).toBe(401)
      expect(leaks(r), route.name).toBe(false)
    }
  })

  it('the public share routes give nothing without the link and a download session', async () => {
    // Alice's link is still uploading: not found for anyone, account or not.
    for (const t of [undefined, bobToken, aliceToken]) {
      const info = await request(server.url, 'GET', `/public/shares/${share.shareId}`, { token: t })
      expect(info.status).toBe(404)
      const open = await request(server.url, 'POST', `/public/shares/${share.shareId}/open`, { token: t })
      expect(open.status).toBe(404)
      // An account's bearer token is not a download session.
      const blob = await request(server.url, 'GET', `/public/shares/${share.shareId}/blobs/0`, { token: t })
      expect([401, 410]).toContain(blob.status)
      expect(blob.bytes.length).toBeLessThan(200)
    }
  })

  it('without a token, every route is 401', async () => {
    for (const route of [...routes, { name: 'read policy', method: 'GET', path: '/policy' }]) {
      const r = await request(server.url, route.method, route.path, { ...route })
      expect(r.status, route.name).toBe(401)
    }
  })

  it('another device of the same account cannot touch an upload it did not reserve', async () => {
    for (const name of [
      'commit manifest',
      'tus head',
      'tus patch',
      'tus create',
      'commit share manifest',
      'share tus head',
      'share tus patch',
    ]) {
      const route = routes.find((r) => r.name === name)!
      const r = await request(server.url, route.method, route.path, { token: otherDeviceToken, ...route })
      expect(r.status, name).toBe(404)
    }
    // …but sees the committed item, like every device of the account.
    expect(
      (await request(server.url, 'GET', `/items/${item.itemId}`, { token: otherDeviceToken })).status,
    ).toBe(200)
  })

  it("another account may read Alice's public device log (a key directory) and find her by username, nothing more", async () => {
    const log = await request(server.url, 'GET', `/accounts/${alice.accountId}/log`, { token: bobToken })
    expect(log.status).toBe(200)
    expect(log.json.entries.length).toBeGreaterThan(0)
    const found = await request(server.url, 'GET', '/accounts/lookup?username=alice', { token: bobToken })
    expect(found.json).toEqual({ accountId: alice.accountId, username: 'alice' })
    expect((await request(server.url, 'GET', '/accounts/lookup?username=alice')).status).toBe(401)
  })

  it("Bob's own listings show nothing of Alice's", async () => {
    const convs = await request(server.url, 'GET', '/conversations', { token: bobToken })
    expect(convs.status).toBe(200)
    expect(JSON.stringify(convs.json)).not.toContain(alice.selfConversationId)
    expect(JSON.stringify(convs.json)).not.toContain(alice.accountId)
    const shares = await request(server.url, 'GET', '/shares', { token: bobToken })
    expect(shares.status).toBe(200)
    expect(shares.json.shares).toEqual([])
  })

  it("leaves Alice's data exactly as it was", async () => {
    const log = await fetchLog(server.url, aliceToken, alice.accountId)
    expect(log.seq).toBe(3)
    const items = await request(server.url, 'GET', `/conversations/${alice.selfConversationId}/items`, {
      token: aliceToken,
    })
    expect(items.json.items.map((i: { itemId: string; deleted: boolean }) => [i.itemId, i.deleted])).toEqual([
      [item.itemId, false],
    ])
    expect((await tusHead(server.url, aliceToken, reserved.uploadUrl)).headers.get('upload-offset')).toBe(
      '100',
    )
    expect(
      (await request(server.url, 'GET', `/items/${item.itemId}/blob`, { token: aliceToken })).status,
    ).toBe(200)
    // Bob's and the removed device's attempts were refused before any byte: Alice's access log
    // holds her own devices' downloads only, and her other device may read it.
    const accesses = await request(server.url, 'GET', `/items/${item.itemId}/accesses`, {
      token: otherDeviceToken,
    })
    expect(accesses.status).toBe(200)
    expect(accesses.json.accesses.length).toBeGreaterThan(0)
    expect(accesses.json.accesses.every((a: { accountId: string }) => a.accountId === alice.accountId)).toBe(
      true,
    )
    // Bob's admin attempts changed nothing: default policy, Alice enabled with no quota of her own.
    expect((await request(server.url, 'GET', '/policy', { token: aliceToken })).json).toEqual(DEFAULT_POLICY)
    const accounts = await request(server.url, 'GET', '/admin/accounts', { token: aliceToken })
    expect(accounts.json.accounts[0]).toMatchObject({ username: 'alice', disabled: false, quotaBytes: null })
    const conv = await request(server.url, 'GET', `/conversations/${alice.selfConversationId}`, {
      token: aliceToken,
    })
    expect(conv.json.retentionMs).toBeUndefined()
    const shares = await request(server.url, 'GET', '/shares', { token: aliceToken })
    expect(shares.json.shares).toMatchObject([{ shareId: share.shareId, state: 'uploading', downloads: 0 }])
    expect(
      (await tusHead(server.url, aliceToken, share.uploads[0]!.uploadUrl)).headers.get('upload-offset'),
    ).toBe('100')
  })

  it("linking mailboxes: another account cannot read, write, close or take over Alice's", async () => {
    const open = await request(server.url, 'POST', '/link', {})
    const { mailboxId, secret, nameplate } = open.json
    const j = await request(server.url, 'POST', '/link/join', { token: aliceToken, json: { nameplate } })
    expect(j.status, JSON.stringify([open.json, j.json])).toBe(200)
    await request(server.url, 'POST', '/link/send', { json: { mailboxId, secret, body: 'aGVsbG8' } })
    for (const [path, json] of [
      ['/link/send', { mailboxId, body: 'eA' }],
      ['/link/receive', { mailboxId }],
      ['/link/close', { mailboxId, outcome: 'done' }],
    ] as const) {
      const r = await request(server.url, 'POST', path, { token: bobToken, json })
      expect([401, 403, 404, 410], path).toContain(r.status)
      expect(Buffer.from(r.bytes).toString()).not.toContain('aGVsbG8')
      const removed = await request(server.url, 'POST', path, { token: removedToken, json })
      expect(removed.status).toBe(401)
    }
    // Bob joining a mailbox Alice joined burns it: nobody can trust it any more.
    const takeover = await request(server.url, 'POST', '/link/join', { token: bobToken, json: { mailboxId } })
    expect(takeover.status).toBe(410)
    const after = await request(server.url, 'POST', '/link/receive', {
      token: aliceToken,
      json: { mailboxId },
    })
    expect(after.status).toBe(410)
  })
})
