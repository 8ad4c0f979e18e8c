import { randomBytes } from 'node:crypto'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_POLICY, type Policy, PUSH_CLOSE } from '@airlock/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { removeDir, type ServerProcess, until } from '../../../test-support/harness.js'
import { type Actor, createAccount, login, request, sendItem, startWithAlice } from './api-client.js'

const DAY = 86_400_000

/**
 * The organisation's policy, enforced by the real server process: every switch and every label
 * rule refuses with a clear, typed error; administrators manage accounts without seeing content.
 * Who may read or change the policy and accounts, and malformed documents, route by route:
 * routes-authz.test.ts and routes-validation.test.ts.
 */
describe('organisation policy and administration (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let alice: Actor
  let token: string
  let bob: Actor
  let bobToken: string

  const setPolicy = async (p: Partial<Policy>) => {
    const r = await request(server.url, 'PUT', '/admin/policy', { token, json: { ...DEFAULT_POLICY, ...p } })
    expect(r.status, JSON.stringify(r.json)).toBe(200)
  }
  const reserve = (t: string, conversation: string, json: object) =>
    request(server.url, 'POST', `/conversations/${conversation}/items`, { token: t, json })
  const blobExists = (id: string) =>
    access(join(dir, 'blobs', 'blobs', id.slice(0, 2), id)).then(
      () => true,
      () => false,
    )

  beforeAll(async () => {
    ;({ dir, server, alice, token } = await startWithAlice(['--gc-interval', '1']))
    const inv = await request(server.url, 'POST', '/invites', { token, json: {} })
    bob = await createAccount(server.url, inv.json.code, 'bob')
    bobToken = await login(server.url, bob.first)
  })
  afterAll(async () => {
    await server?.stop()
    await removeDir(dir)
  })

  it('invitations: admins only by default; everyone when the policy says so', async () => {
    const denied = await request(server.url, 'POST', '/invites', { token: bobToken, json: {} })
    expect([denied.status, denied.json.error.code]).toEqual([403, 'FORBIDDEN'])
    await setPolicy({ invitations: 'everyone' })
    const ok = await request(server.url, 'POST', '/invites', { token: bobToken, json: {} })
    expect(ok.status).toBe(201)
    expect((await request(server.url, 'GET', '/invites', { token: bobToken })).json.invites).toHaveLength(1)
    await setPolicy({})
    expect((await request(server.url, 'POST', '/invites', { token: bobToken, json: {} })).status).toBe(403)
  })

  it('maximum item size: refused before any byte is stored', async () => {
    await setPolicy({ maxItemBytes: 1000 })
    expect((await reserve(bobToken, bob.selfConversationId, { ciphertextSize: 1000 })).status).toBe(201)
    const r = await reserve(bobToken, bob.selfConversationId, { ciphertextSize: 1001 })
    expect([r.status, r.json.error.code]).toEqual([413, 'ITEM_TOO_LARGE'])
    expect(r.json.error.message).toMatch(/policy/)
    await setPolicy({})
  })

  it('labels: only the configured set; the label is listed and caps retention', async () => {
    const r = await reserve(bobToken, bob.selfConversationId, { ciphertextSize: 10, sensitivity: 'Public' })
    expect([r.status, r.json.error.code]).toEqual([403, 'POLICY_FORBIDS'])
    expect(r.json.error.message).toMatch(/label/)
    const before = Date.now()
    const sent = await sendItem(server.url, bobToken, bob.selfConversationId, randomBytes(50), undefined, {
      sensitivity: 'secret',
    })
    const plain = await sendItem(server.url, bobToken, bob.selfConversationId, randomBytes(50))
    const list = await request(server.url, 'GET', `/conversations/${bob.selfConversationId}/items`, {
      token: bobToken,
    })
    const labelled = list.json.items.find((i: { itemId: string }) => i.itemId === sent.itemId)
    expect(labelled.sensitivity).toBe('Secret')
    expect(labelled.expiresAt).toBeGreaterThanOrEqual(before + 7 * DAY)
    expect(labelled.expiresAt).toBeLessThanOrEqual(Date.now() + 7 * DAY)
    const unlabelled = list.json.items.find((i: { itemId: string }) => i.itemId === plain.itemId)
    expect(unlabelled.sensitivity).toBeUndefined()
    expect(unlabelled.expiresAt).toBeUndefined()
  })

  it('server-wide lifetime caps every item, and a conversation retention cannot exceed it', async () => {
    await setPolicy({ itemLifetimeMs: 2 * DAY })
    const r = await request(server.url, 'PUT', `/conversations/${bob.selfConversationId}/retention`, {
      token: bobToken,
      json: { retentionMs: 30 * DAY },
    })
    expect(r.json.retentionMs).toBe(30 * DAY)
    const a = await sendItem(server.url, bobToken, bob.selfConversationId, randomBytes(20))
    const item = await request(server.url, 'GET', `/items/${a.itemId}`, { token: bobToken })
    expect(item.json.expiresAt - item.json.createdAt).toBe(2 * DAY)
    await setPolicy({})
    await request(server.url, 'PUT', `/conversations/${bob.selfConversationId}/retention`, {
      token: bobToken,
      json: { retentionMs: null },
    })
    const conv = await request(server.url, 'GET', `/conversations/${bob.selfConversationId}`, {
      token: bobToken,
    })
    expect(conv.json.retentionMs).toBeUndefined()
  })

  it('retention: an expired item disappears from every list, its blob is deleted, devices are told', async () => {
    const set = await request(server.url, 'PUT', `/conversations/${alice.selfConversationId}/retention`, {
      token,
      json: { retentionMs: 1500 },
    })
    expect(set.status).toBe(200)
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v1/push`)
    const got: { type: string; seq?: number }[] = []
    ws.on('message', (d) => got.push(JSON.parse(String(d))))
    await new Promise((resolve) => ws.once('open', resolve))
    ws.send(JSON.stringify({ type: 'auth', token }))
    await until(() => got.some((m) => m.type === 'ready'), 5000, 'ready')

    const sent = await sendItem(server.url, token, alice.selfConversationId, randomBytes(300))
    expect(await blobExists(sent.itemId)).toBe(true)
    const listed = async () =>
      (
        await request(server.url, 'GET', `/conversations/${alice.selfConversationId}/items`, { token })
      ).json.items.filter((i: { itemId: string }) => i.itemId === sent.itemId)
    expect((await listed())[0].deleted).toBe(false)
    await until(async () => !(await blobExists(sent.itemId)), 10_000, 'blob deleted by retention')
    const after = await listed()
    expect(after).toHaveLength(1)
    expect(after[0]).toMatchObject({ deleted: true })
    expect(after[0].seq).toBeGreaterThan(sent.seq)
    expect((await request(server.url, 'GET', `/items/${sent.itemId}/blob`, { token })).status).toBe(404)
    await until(() => got.some((m) => m.type === 'delete' && m.seq === after[0].seq), 5000, 'delete event')
    ws.close()
    await request(server.url, 'PUT', `/conversations/${alice.selfConversationId}/retention`, {
      token,
      json: { retentionMs: null },
    })
  })

  it('administrators list accounts with devices and usage, and nothing of content', async () => {
    const manifest = randomBytes(64)
    await sendItem(server.url, bobToken, bob.selfConversationId, randomBytes(100), manifest)
    const r = await request(server.url, 'GET', '/admin/accounts', { token })
    expect(r.status).toBe(200)
    const names = r.json.accounts.map((a: { username: string }) => a.username)
    expect(names).toEqual(['alice', 'bob'])
    const b = r.json.accounts[1]
    expect(b).toMatchObject({
      accountId: bob.accountId,
      admin: false,
      disabled: false,
      devices: 1,
      quotaBytes: null,
    })
    expect(b.usedBytes).toBeGreaterThan(100)
    expect(Object.keys(b).sort()).toEqual(
      [
        'accountId',
        'admin',
        'createdAt',
        'devices',
        'disabled',
        'quotaBytes',
        'usedBytes',
        'username',
      ].sort(),
    )
    expect(Buffer.from(r.bytes).toString()).not.toContain(manifest.toString('base64url'))
    const denied = await request(server.url, 'GET', '/admin/accounts', { token: bobToken })
    expect([denied.status, denied.json.error.code]).toEqual([403, 'FORBIDDEN'])
  })

  it('quota: an administrator sets one per account and the server enforces it', async () => {
    const r = await request(server.url, 'PATCH', `/admin/accounts/${bob.accountId}`, {
      token,
      json: { quotaBytes: 2000 },
    })
    expect(r.json).toMatchObject({ quotaBytes: 2000 })
    const over = await reserve(bobToken, bob.selfConversationId, { ciphertextSize: 2000 })
    expect([over.status, over.json.error.code]).toEqual([413, 'QUOTA_EXCEEDED'])
    await request(server.url, 'PATCH', `/admin/accounts/${bob.accountId}`, {
      token,
      json: { quotaBytes: null },
    })
    expect((await reserve(bobToken, bob.selfConversationId, { ciphertextSize: 2000 })).status).toBe(201)
  })

  it('a disabled account is locked out: sessions end, push closes, login refused; enabling restores it', async () => {
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v1/push`)
    const got: { type: string }[] = []
    let closed: number | null = null
    ws.on('message', (d) => got.push(JSON.parse(String(d))))
    ws.on('close', (code) => {
      closed = code
    })
    await new Promise((resolve) => ws.once('open', resolve))
    ws.send(JSON.stringify({ type: 'auth', token: bobToken }))
    await until(() => got.some((m) => m.type === 'ready'), 5000, 'ready')

    const self = await request(server.url, 'PATCH', `/admin/accounts/${alice.accountId}`, {
      token,
      json: { disabled: true },
    })
    expect([self.status, self.json.error.code]).toEqual([409, 'CONFLICT'])
    const denied = await request(server.url, 'PATCH', `/admin/accounts/${alice.accountId}`, {
      token: bobToken,
      json: { disabled: true },
    })
    expect(denied.status).toBe(403)

    const r = await request(server.url, 'PATCH', `/admin/accounts/${bob.accountId}`, {
      token,
      json: { disabled: true },
    })
    expect(r.json).toMatchObject({ disabled: true })
    await until(() => closed !== null, 5000, 'push socket closed')
    expect(closed).toBe(PUSH_CLOSE.unauthenticated)
    expect((await request(server.url, 'GET', '/accounts/me', { token: bobToken })).status).toBe(401)
    await expect(login(server.url, bob.first)).rejects.toThrow(/403.*ACCOUNT_DISABLED/)

    await request(server.url, 'PATCH', `/admin/accounts/${bob.accountId}`, {
      token,
      json: { disabled: false },
    })
    bobToken = await login(server.url, bob.first)
    expect((await request(server.url, 'GET', '/accounts/me', { token: bobToken })).status).toBe(200)
  })
})
