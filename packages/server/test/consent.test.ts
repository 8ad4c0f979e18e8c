import { randomBytes } from 'node:crypto'
import {
  appendGroupEntry,
  createGroupEntry,
  decodeGroupEntry,
  GROUP_LOG_CONTEXT,
  groupSignedValue,
  signCanonical,
  verifyGroupLog,
} from '@airlock/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, type ServerProcess, startServer, tempDir, until } from '../../../test-support/harness.js'
import {
  type Actor,
  createAccount,
  fetchLog,
  login,
  pushSocket,
  request,
  sendItem,
  tusPatch,
} from './api-client.js'

/**
 * Consent as the server enforces it (SECURITY-TESTS 26), on a real server process: a direct
 * conversation someone else started is a request whose items are neither listed, served nor
 * pushed to me as items until I accept; a block holds at reserve and again at commit, and for
 * group invitations; an invited group member gets nothing of the group until their device's
 * `join` is in the log; new group entries must be version 2.
 */

let dir: string
let server: ServerProcess
let alice: Actor
let bob: Actor
let carol: Actor
const tokens: Record<string, string> = {}

beforeAll(async () => {
  dir = await tempDir()
  server = await startServer(dir)
  alice = await createAccount(server.url, server.setupCode!, 'alice')
  tokens.alice = await login(server.url, alice.first)
  for (const name of ['bob', 'carol']) {
    const invite = await request(server.url, 'POST', '/invites', { token: tokens.alice, json: {} })
    const actor = await createAccount(server.url, invite.json.code, name)
    tokens[name] = await login(server.url, actor.first)
    if (name === 'bob') bob = actor
    else carol = actor
  }
}, 60_000)

afterAll(async () => {
  await server?.stop()
  if (dir) await removeDir(dir)
})

const direct = (token: string, other: Actor) =>
  request(server.url, 'POST', '/conversations', {
    token,
    json: { kind: 'direct', members: [other.accountId] },
  })
const consentOf = async (token: string, cid: string) =>
  (await request(server.url, 'GET', '/conversations', { token })).json.conversations.find(
    (c: { conversationId: string }) => c.conversationId === cid,
  )?.consent

describe('a first contact is a request', () => {
  it('its items are not listed, served or pushed as items until accepted', async () => {
    const c = await direct(tokens.bob!, alice)
    expect(c.status).toBe(201)
    const cid = c.json.conversationId as string
    expect(c.json.consent).toBeUndefined()
    expect(await consentOf(tokens.alice!, cid)).toBe('request')

    const push = await pushSocket(server.url, tokens.alice)
    const item = await sendItem(server.url, tokens.bob!, cid, randomBytes(1000))
    await until(() => push.got.some((m) => m.type === 'request'), 5000, 'request event')
    expect(push.got.some((m) => m.type === 'item' || m.type === 'upload')).toBe(false)

    for (const [method, path] of [
      ['GET', `/conversations/${cid}/items`],
      ['GET', `/items/${item.itemId}`],
      ['GET', `/items/${item.itemId}/blob`],
    ] as const) {
      const r = await request(server.url, method, path, { token: tokens.alice })
      expect([r.status, r.json?.error?.code], path).toEqual([403, 'NOT_ACCEPTED'])
    }
    const reserve = await request(server.url, 'POST', `/conversations/${cid}/items`, {
      token: tokens.alice,
      json: { ciphertextSize: 10 },
    })
    expect(reserve.json.error.code).toBe('NOT_ACCEPTED')

    const accepted = await request(server.url, 'POST', `/contacts/${bob.accountId}/accept`, {
      token: tokens.alice,
    })
    expect(accepted.json).toEqual({ accountId: bob.accountId, consent: 'accepted' })
    expect(await consentOf(tokens.alice!, cid)).toBeUndefined()
    const listed = await request(server.url, 'GET', `/conversations/${cid}/items`, { token: tokens.alice })
    expect(listed.json.items.map((i: { itemId: string }) => i.itemId)).toEqual([item.itemId])
    await sendItem(server.url, tokens.bob!, cid, randomBytes(10))
    await until(() => push.got.some((m) => m.type === 'item'), 5000, 'item event')
    push.ws.close()
    const contacts = await request(server.url, 'GET', '/contacts', { token: tokens.alice })
    expect(contacts.json.contacts).toEqual([{ accountId: bob.accountId, consent: 'accepted' }])
  })

  it('a block that comes while an item uploads holds at commit; the blocked cannot start again', async () => {
    const cid = (await direct(tokens.carol!, alice)).json.conversationId as string
    const blob = randomBytes(500)
    const r = await request(server.url, 'POST', `/conversations/${cid}/items`, {
      token: tokens.carol,
      json: { ciphertextSize: blob.length },
    })
    expect(r.status).toBe(201)
    expect((await tusPatch(server.url, tokens.carol!, r.json.uploadUrl, 0, blob)).status).toBe(204)
    const blocked = await request(server.url, 'POST', `/contacts/${carol.accountId}/block`, {
      token: tokens.alice,
    })
    expect(blocked.json.consent).toBe('blocked')
    const commit = await request(server.url, 'PUT', `/items/${r.json.itemId}/manifest`, {
      token: tokens.carol,
      body: randomBytes(100),
      headers: { 'content-type': 'application/octet-stream' },
    })
    expect([commit.status, commit.json.error.code]).toEqual([403, 'BLOCKED'])
    expect((await direct(tokens.carol!, alice)).json.error.code).toBe('BLOCKED')
    // Alice blocked Carol: Alice's own conversation with her is refused too, until she unblocks.
    expect((await direct(tokens.alice!, carol)).json.error.code).toBe('BLOCKED')
    const unblocked = await request(server.url, 'POST', `/contacts/${carol.accountId}/unblock`, {
      token: tokens.alice,
    })
    expect(unblocked.json.consent).toBe('requested')
    expect(await consentOf(tokens.alice!, cid)).toBe('request')
  })
})

describe('a group is an invitation until the member joins', () => {
  it('refuses version-1 entries, an invitation from someone I blocked, and gives an invited member nothing', async () => {
    const bobLog = await fetchLog(server.url, tokens.bob!, bob.accountId)
    const group = randomBytes(16).toString('base64url')
    // A version-1 create (members in at once) is refused: it would skip the invitation.
    const body = {
      v: 1 as const,
      context: GROUP_LOG_CONTEXT as typeof GROUP_LOG_CONTEXT,
      group,
      seq: 0,
      prev: '',
      op: 'create' as const,
      name: 'old style',
      members: [
        { account: bob.accountId, role: 'owner' as const },
        { account: alice.accountId, role: 'member' as const },
      ],
      signer: {
        account: bob.accountId,
        device: bob.first.record.id,
        logSeq: bobLog.seq,
        logHead: bobLog.head,
      },
    }
    const v1 = decodeGroupEntry({
      ...body,
      sig: signCanonical(bob.first, GROUP_LOG_CONTEXT, groupSignedValue(body)),
    })
    const old = await request(server.url, 'POST', '/conversations', {
      token: tokens.bob,
      json: { kind: 'group', entry: v1 },
    })
    expect(old.json.error.code).toBe('INVALID_GROUP_ENTRY')

    // Carol is unblocked but Alice blocks her again: Carol cannot put Alice into a group.
    await request(server.url, 'POST', `/contacts/${carol.accountId}/block`, { token: tokens.alice })
    const carolLog = await fetchLog(server.url, tokens.carol!, carol.accountId)
    const trap = createGroupEntry({
      group: randomBytes(16).toString('base64url'),
      name: 'trap',
      members: [{ account: alice.accountId, role: 'member' }],
      signer: carol.first,
      signerLog: carolLog,
    })
    const refused = await request(server.url, 'POST', '/conversations', {
      token: tokens.carol,
      json: { kind: 'group', entry: trap },
    })
    expect([refused.status, refused.json.error.code]).toEqual([403, 'BLOCKED'])

    const entry = createGroupEntry({
      group,
      name: 'team',
      members: [{ account: alice.accountId, role: 'member' }],
      signer: bob.first,
      signerLog: bobLog,
    })
    const created = await request(server.url, 'POST', '/conversations', {
      token: tokens.bob,
      json: { kind: 'group', entry },
    })
    expect(created.status).toBe(201)
    expect(await consentOf(tokens.alice!, group)).toBe('invited')
    const push = await pushSocket(server.url, tokens.alice)
    const item = await sendItem(server.url, tokens.bob!, group, randomBytes(100))
    const listed = await request(server.url, 'GET', `/conversations/${group}/items`, { token: tokens.alice })
    expect(listed.json.error.code).toBe('NOT_ACCEPTED')
    expect(
      (await request(server.url, 'GET', `/items/${item.itemId}/blob`, { token: tokens.alice })).status,
    ).toBe(403)
    // The log itself she may read: it is what she signs `join` on.
    const log = await request(server.url, 'GET', `/conversations/${group}/log`, { token: tokens.alice })
    expect(log.status).toBe(200)

    const aliceLog = await fetchLog(server.url, tokens.alice!, alice.accountId)
    const v = await verifyGroupLog(group, log.json.entries, async () => {})
    const join = appendGroupEntry(v, { op: 'join' }, alice.first, aliceLog)
    const joined = await request(server.url, 'POST', `/conversations/${group}/log`, {
      token: tokens.alice,
      json: { entry: join },
    })
    expect(joined.status).toBe(200)
    expect(await consentOf(tokens.alice!, group)).toBeUndefined()
    const after = await request(server.url, 'GET', `/conversations/${group}/items`, { token: tokens.alice })
    expect(after.json.items.map((i: { itemId: string }) => i.itemId)).toEqual([item.itemId])
    // Before joining she heard of the invitation (members) but of no item or upload.
    expect(push.got.some((m) => m.type === 'item' || m.type === 'upload')).toBe(false)
    push.ws.close()
  })
})
