import { randomBytes } from 'node:crypto'
import { PUSH_CLOSE } from '@airlock/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { removeDir, type ServerProcess, until } from '../../../test-support/harness.js'
import {
  type Actor,
  addDevice,
  changeDevice,
  createAccount,
  login,
  pushSocket,
  request,
  sendItem,
  startWithAlice,
} from './api-client.js'

describe('push over WebSocket (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let alice: Actor
  let token: string
  let bobToken: string

  beforeAll(async () => {
    ;({ dir, server, alice, token } = await startWithAlice())
    const inv = await request(server.url, 'POST', '/invites', { token, json: {} })
    const bob = await createAccount(server.url, inv.json.code, 'bob')
    bobToken = await login(server.url, bob.first)
  })
  afterAll(async () => {
    await server?.stop()
    await removeDir(dir)
  })

  it("delivers every item, delete and log event to every connected device of the account, and no one else's", async () => {
    const { device: phone, token: phoneToken } = await addDevice(server.url, alice, token, 'alice-phone')
    const laptop = await pushSocket(server.url, token)
    const onPhone = await pushSocket(server.url, phoneToken)
    const bob = await pushSocket(server.url, bobToken)
    expect(onPhone.got[0]).toEqual({ type: 'ready', deviceId: phone.record.id })

    const cid = alice.selfConversationId
    const sent = await sendItem(server.url, phoneToken, cid, randomBytes(1000))
    await until(() => laptop.events().length >= 1 && onPhone.events().length >= 1, 5000, 'item event')
    expect(laptop.events()).toEqual([{ type: 'item', conversationId: cid, seq: sent.seq }])
    expect(onPhone.events()).toEqual(laptop.events())

    await request(server.url, 'DELETE', `/items/${sent.itemId}`, { token })
    await until(() => laptop.events().length >= 2, 5000, 'delete event')
    expect(laptop.events()[1]).toEqual({ type: 'delete', conversationId: cid, seq: sent.seq + 1 })

    const { device: tablet } = await addDevice(server.url, alice, token, 'alice-tablet')
    await until(() => onPhone.events().length >= 3, 5000, 'log event')
    expect(onPhone.events()[2]).toEqual({ type: 'log', accountId: alice.accountId, seq: 2 })
    expect(tablet.record.id).toBeTruthy()

    // Ping is answered.
    laptop.ws.send(JSON.stringify({ type: 'ping' }))
    await until(() => laptop.got.some((m) => m.type === 'pong'), 5000, 'pong')

    await new Promise((r) => setTimeout(r, 200))
    expect(bob.events()).toEqual([])
    for (const c of [laptop, onPhone, bob]) c.ws.close()
  })

  it('closes the socket of a removed device at once', async () => {
    const { device, token: t } = await addDevice(server.url, alice, token, 'doomed')
    const sock = await pushSocket(server.url, t)
    expect(sock.got[0]?.type).toBe('ready')
    expect((await changeDevice(server.url, token, alice, alice.first, 'remove', device)).status).toBe(200)
    await until(() => sock.closed() !== null, 5000, 'close')
    expect(sock.closed()!.code).toBe(PUSH_CLOSE.unauthenticated)
  })

  it('refuses a bad token or a malformed first message, and takes no token from the URL', async () => {
    const bad = await pushSocket(server.url)
    bad.ws.send(JSON.stringify({ type: 'auth', token: 'A'.repeat(43) }))
    await until(() => bad.closed() !== null, 5000, 'close')
    expect(bad.closed()!.code).toBe(PUSH_CLOSE.unauthenticated)
    expect(bad.got).toEqual([{ type: 'error', code: 'UNAUTHENTICATED', message: expect.any(String) }])

    const junk = await pushSocket(server.url)
    junk.ws.send('{"type":"auth","token":')
    await until(() => junk.closed() !== null, 5000, 'close')
    expect(junk.closed()!.code).toBe(PUSH_CLOSE.badMessage)

    const big = await pushSocket(server.url)
    big.ws.send('x'.repeat(10_000))
    await until(() => big.closed() !== null, 5000, 'close')
    expect(big.closed()!.code).toBe(1009)

    // A token in the query string is ignored: the socket still has to authenticate.
    const url = `${server.url.replace(/^http/, 'ws')}/api/v1/push?token=${token}`
    const ws = new WebSocket(url)
    const msgs: string[] = []
    ws.on('message', (d) => msgs.push(String(d)))
    await new Promise((r) => ws.once('open', r))
    ws.send(JSON.stringify({ type: 'ping' }))
    await until(() => msgs.length > 0, 5000, 'pong')
    expect(msgs.map((m) => JSON.parse(m).type)).toEqual(['pong'])
    ws.close()
  })

  it('lets a device catch up by seq after reconnecting', async () => {
    const cid = alice.selfConversationId
    const before = await request(server.url, 'GET', `/conversations/${cid}/items`, { token })
    const lastSeq = Math.max(0, ...before.json.items.map((i: { seq: number }) => i.seq))
    const sock = await pushSocket(server.url, token)
    sock.ws.close()
    const missed = await sendItem(server.url, token, cid, randomBytes(10))
    const again = await pushSocket(server.url, token)
    const catchUp = await request(server.url, 'GET', `/conversations/${cid}/items?since=${lastSeq}`, {
      token,
    })
    expect(catchUp.json.items.map((i: { itemId: string }) => i.itemId)).toEqual([missed.itemId])
    again.ws.close()
  })
})
