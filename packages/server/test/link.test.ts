import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, type ServerProcess } from '../../../test-support/harness.js'
import { type Actor, addDevice, request, startWithAlice } from './api-client.js'

const b64 = (s: string) => Buffer.from(s).toString('base64url')

describe('device-linking mailbox (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let alice: Actor
  let token: string

  beforeAll(async () => {
    ;({ dir, server, alice, token } = await startWithAlice())
  })
  afterAll(async () => {
    await server?.stop()
    await removeDir(dir)
  })

  const post = (path: string, json: unknown, t?: string) =>
    request(server.url, 'POST', path, { json, token: t })
  const open = async () => (await request(server.url, 'POST', '/link', {})).json

  it('relays opaque messages both ways, with long-polls woken at once, then closes for good', async () => {
    const m = await open()
    expect(m.mailboxId).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(m.nameplate).toMatch(/^[0-9]{4}$/)
    expect(m.expiresAt - Date.now()).toBeGreaterThan(9 * 60_000)
    const newSide = { mailboxId: m.mailboxId, secret: m.secret }

    // The new device posts first and waits for the existing device to join.
    expect((await post('/link/send', { ...newSide, body: b64('pake-A') })).json).toEqual({ index: 0 })
    const waiting = post('/link/receive', { ...newSide, waitMs: 10_000 })
    await new Promise((r) => setTimeout(r, 100))
    const joined = await post('/link/join', { nameplate: m.nameplate }, token)
    expect(joined.status).toBe(200)
    expect(joined.json.mailboxId).toBe(m.mailboxId)
    const woke = await waiting
    expect(woke.json).toEqual({ state: 'joined', messages: [] })
    // Joining again from the same device is idempotent.
    expect((await post('/link/join', { mailboxId: m.mailboxId }, token)).status).toBe(200)

    const fromNew = await post('/link/receive', { mailboxId: m.mailboxId }, token)
    expect(fromNew.json).toEqual({ state: 'joined', messages: [{ index: 0, body: b64('pake-A') }] })

    const started = Date.now()
    const reply = post('/link/receive', { ...newSide, after: -1, waitMs: 20_000 })
    await new Promise((r) => setTimeout(r, 100))
    expect((await post('/link/send', { mailboxId: m.mailboxId, body: b64('pake-B') }, token)).json).toEqual({
      index: 1,
    })
    expect((await reply).json.messages).toEqual([{ index: 1, body: b64('pake-B') }])
    expect(Date.now() - started).toBeLessThan(5000)

    expect((await post('/link/close', { ...newSide, outcome: 'done' })).status).toBe(204)
    const after = await post('/link/receive', { mailboxId: m.mailboxId }, token)
    expect(after.status).toBe(410)
    expect(after.json.error.code).toBe('GONE')
    expect((await post('/link/send', { ...newSide, body: 'eA' })).status).toBe(410)
  })

  it('burns a mailbox after three wrong secrets', async () => {
    const m = await open()
    const wrong = 'A'.repeat(43)
    for (let i = 0; i < 3; i++) {
      expect((await post('/link/receive', { mailboxId: m.mailboxId, secret: wrong })).status).toBe(401)
    }
    expect((await post('/link/receive', { mailboxId: m.mailboxId, secret: m.secret })).status).toBe(410)
    expect((await post('/link/join', { nameplate: m.nameplate }, token)).status).toBe(404)
  })

  it('burns a mailbox when a second device tries to join, or when a side reports failure', async () => {
    const m = await open()
    const { token: phoneToken } = await addDevice(server.url, alice, token, 'alice-phone')
    expect((await post('/link/join', { mailboxId: m.mailboxId }, token)).status).toBe(200)
    expect((await post('/link/join', { mailboxId: m.mailboxId }, phoneToken)).status).toBe(410)
    expect((await post('/link/receive', { mailboxId: m.mailboxId, secret: m.secret })).status).toBe(410)

    const m2 = await open()
    await post('/link/join', { mailboxId: m2.mailboxId }, token)
    expect((await post('/link/close', { mailboxId: m2.mailboxId, outcome: 'failed' }, token)).status).toBe(
      204,
    )
    expect((await post('/link/receive', { mailboxId: m2.mailboxId, secret: m2.secret })).status).toBe(410)
  })

  it('bounds messages per side and message sizes', async () => {
    const m = await open()
    const side = { mailboxId: m.mailboxId, secret: m.secret }
    for (let i = 0; i < 8; i++)
      expect((await post('/link/send', { ...side, body: b64(`m${i}`) })).status).toBe(200)
    const ninth = await post('/link/send', { ...side, body: b64('m8') })
    expect(ninth.status).toBe(429)
    const m2 = await open()
    const big = await post('/link/send', {
      mailboxId: m2.mailboxId,
      secret: m2.secret,
      body: 'A'.repeat(16 * 1024 + 1),
    })
    expect(big.status).toBe(400)
    const notB64 = await post('/link/send', {
      mailboxId: m2.mailboxId,
      secret: m2.secret,
      body: 'not base64!',
    })
    expect(notB64.status).toBe(400)
    // The existing side cannot post before joining.
    expect((await post('/link/send', { mailboxId: m2.mailboxId, body: 'eA' }, token)).status).toBe(404)
    expect((await post('/link/receive', { mailboxId: m2.mailboxId })).status).toBe(401)
    expect((await post('/link/receive', { mailboxId: 'A'.repeat(22), secret: m2.secret })).status).toBe(404)
  })

  it('rate-limits opening mailboxes per client', async () => {
    let limited = false
    for (let i = 0; i < 30 && !limited; i++) {
      const r = await request(server.url, 'POST', '/link', {})
      if (r.status === 429) limited = true
      else expect(r.status).toBe(201)
    }
    expect(limited).toBe(true)
  })
})
