import {
  AUTH_SIGN_CONTEXT,
  authSignedValue,
  createGenesis,
  type DeviceLogEntry,
  signCanonical,
} from '@airlock/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, type ServerProcess, startServer, tempDir } from '../../../test-support/harness.js'
import {
  type Actor,
  addDevice,
  changeDevice,
  createAccount,
  login,
  newDevice,
  randomAccountId,
  request,
} from './api-client.js'

describe('accounts, invites and challenge-response login (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let admin: Actor
  let adminToken: string

  beforeAll(async () => {
    dir = await tempDir()
    server = await startServer(dir)
  })
  afterAll(async () => {
    await server?.stop()
    await removeDir(dir)
  })

  it('prints a one-time setup code that makes the first account an admin, once', async () => {
    expect(server.setupCode).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$/)
    // Typed loosely: lower case, no dashes.
    admin = await createAccount(server.url, server.setupCode!.toLowerCase().replaceAll('-', ''), 'alice')
    expect(admin.admin).toBe(true)
    const again = await createAccount(server.url, server.setupCode!, 'mallory').catch((e: Error) => e.message)
    expect(again).toMatch(/403/)
    adminToken = await login(server.url, admin.first)
    const me = await request(server.url, 'GET', '/accounts/me', { token: adminToken })
    expect(me.status).toBe(200)
    expect(me.json).toMatchObject({
      accountId: admin.accountId,
      username: 'alice',
      admin: true,
      deviceId: admin.first.record.id,
      selfConversationId: admin.selfConversationId,
      usedBytes: 0,
    })
    const convs = await request(server.url, 'GET', '/conversations', { token: adminToken })
    expect(convs.json.conversations).toEqual([
      expect.objectContaining({
        conversationId: admin.selfConversationId,
        kind: 'self',
        members: [admin.accountId],
      }),
    ])
  })

  it('creates single-use invites for admins only', async () => {
    const inv = await request(server.url, 'POST', '/invites', {
      token: adminToken,
      json: { expiresInHours: 2 },
    })
    expect(inv.status).toBe(201)
    expect(inv.headers.get('cache-control')).toBe('no-store')
    const bob = await createAccount(server.url, inv.json.code, 'bob')
    expect(bob.admin).toBe(false)
    const reuse = await createAccount(server.url, inv.json.code, 'carol').catch((e: Error) => e.message)
    expect(reuse).toMatch(/403/)
    const bobToken = await login(server.url, bob.first)
    const denied = await request(server.url, 'POST', '/invites', { token: bobToken, json: {} })
    expect(denied.status).toBe(403)
    expect(denied.json.error.code).toBe('FORBIDDEN')
    expect((await request(server.url, 'GET', '/invites', { token: bobToken })).status).toBe(403)
    const list = await request(server.url, 'GET', '/invites', { token: adminToken })
    expect(list.json.invites).toEqual([expect.objectContaining({ inviteId: inv.json.inviteId, used: true })])
    expect(JSON.stringify(list.json)).not.toContain(inv.json.code)
    expect((await request(server.url, 'POST', '/invites', { json: {} })).status).toBe(401)
  })

  it('refuses taken usernames, bad codes and genesis entries that do not verify', async () => {
    const inv = await request(server.url, 'POST', '/invites', { token: adminToken, json: {} })
    expect(
      (await createAccount(server.url, inv.json.code, 'alice').catch((e: Error) => e.message)) as string,
    ).toMatch(/409/)
    expect(
      (await createAccount(server.url, 'AAAA-BBBB-CCCC-DDDD-EEEE', 'dave').catch(
        (e: Error) => e.message,
      )) as string,
    ).toMatch(/403/)
    const device = await newDevice('forged')
    const other = await newDevice('other')
    const genesis = createGenesis(randomAccountId(), device)
    const forged: DeviceLogEntry = { ...genesis, device: other.record }
    const r = await request(server.url, 'POST', '/accounts', {
      json: { code: inv.json.code, username: 'dave', genesis: forged },
    })
    expect(r.status).toBe(400)
    expect(r.json.error.code).toBe('INVALID_LOG_ENTRY')
    const shortId = createGenesis('abc', device)
    const short = await request(server.url, 'POST', '/accounts', {
      json: { code: inv.json.code, username: 'dave', genesis: shortId },
    })
    expect(short.status).toBe(400)
    // The invite survived the failed attempts.
    expect((await createAccount(server.url, inv.json.code, 'dave')).admin).toBe(false)
  })

  it('accepts a signed challenge once; rejects replays, wrong keys, wrong origins and unknown devices', async () => {
    const device = admin.first
    const origin = new URL(server.url).origin
    const challenge = async (deviceId = device.record.id) =>
      (await request(server.url, 'POST', '/auth/challenge', { json: { deviceId } })).json.challenge as string
    const session = (body: object) => request(server.url, 'POST', '/auth/session', { json: body })
    const sign = (signer: typeof device, c: string, o = origin, deviceId = device.record.id) =>
      signCanonical(signer, AUTH_SIGN_CONTEXT, authSignedValue({ challenge: c, deviceId, origin: o }))

    const c1 = await challenge()
    const ok = await session({
      deviceId: device.record.id,
      challenge: c1,
      origin,
      signature: sign(device, c1),
    })
    expect(ok.status).toBe(200)
    expect(ok.json.token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(ok.json.expiresAt - Date.now()).toBeGreaterThan(10 * 60_000)
    expect(ok.json.expiresAt - Date.now()).toBeLessThanOrEqual(15 * 60_000)
    // Replay of the same, valid, signed challenge.
    const replay = await session({
      deviceId: device.record.id,
      challenge: c1,
      origin,
      signature: sign(device, c1),
    })
    expect(replay.status).toBe(401)
    expect(replay.json.error.code).toBe('BAD_SIGNATURE')

    const wrongKey = await newDevice('attacker')
    const c2 = await challenge()
    expect(
      (await session({ deviceId: device.record.id, challenge: c2, origin, signature: sign(wrongKey, c2) }))
        .status,
    ).toBe(401)
    // The failed attempt used the challenge up.
    expect(
      (await session({ deviceId: device.record.id, challenge: c2, origin, signature: sign(device, c2) }))
        .status,
    ).toBe(401)

    // A signature for another origin (a look-alike server relaying the login) is refused.
    const c3 = await challenge()
    const evil = 'https://airlock.evil.example'
    expect(
      (
        await session({
          deviceId: device.record.id,
          challenge: c3,
          origin,
          signature: sign(device, c3, evil),
        })
      ).status,
    ).toBe(401)
    const c4 = await challenge()
    expect(
      (
        await session({
          deviceId: device.record.id,
          challenge: c4,
          origin: evil,
          signature: sign(device, c4, evil),
        })
      ).status,
    ).toBe(401)

    // An unknown device gets a challenge that looks the same, and cannot log in with it.
    const c5 = await challenge(wrongKey.record.id)
    expect(c5).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const unknown = await session({
      deviceId: wrongKey.record.id,
      challenge: c5,
      origin,
      signature: sign(wrongKey, c5, origin, wrongKey.record.id),
    })
    expect(unknown.status).toBe(401)

    // A challenge issued to one device cannot be used by another.
    const c6 = await challenge()
    const cross = await session({
      deviceId: wrongKey.record.id,
      challenge: c6,
      origin,
      signature: sign(wrongKey, c6, origin, wrongKey.record.id),
    })
    expect(cross.status).toBe(401)
  })

  it('ends sessions on logout, and a removed device can neither use its token nor log in again', async () => {
    const token = await login(server.url, admin.first)
    const { device: phone, token: phoneToken } = await addDevice(server.url, admin, token, 'alice-phone')
    expect((await request(server.url, 'GET', '/accounts/me', { token: phoneToken })).json.deviceId).toBe(
      phone.record.id,
    )

    const extra = await login(server.url, phone)
    expect((await request(server.url, 'DELETE', '/auth/session', { token: extra })).status).toBe(204)
    expect((await request(server.url, 'GET', '/accounts/me', { token: extra })).status).toBe(401)

    const removed = await changeDevice(server.url, token, admin, admin.first, 'remove', phone)
    expect(removed.status).toBe(200)
    const after = await request(server.url, 'GET', '/accounts/me', { token: phoneToken })
    expect(after.status).toBe(401)
    expect(after.json.error.code).toBe('UNAUTHENTICATED')
    await expect(login(server.url, phone)).rejects.toThrow(/401/)
    expect((await request(server.url, 'GET', '/accounts/me', { token })).status).toBe(200)
  })

  it('rate-limits login attempts per client', async () => {
    const codes = new Set<number>()
    for (let i = 0; i < 300; i++) {
      const r = await request(server.url, 'POST', '/auth/challenge', {
        json: { deviceId: admin.first.record.id },
      })
      codes.add(r.status)
      if (r.status === 429) {
        expect(r.json.error.code).toBe('RATE_LIMITED')
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0)
        break
      }
    }
    expect(codes.has(429)).toBe(true)
  })

  it('never writes tokens or codes to its output', async () => {
    const out = server.output()
    expect(out).toContain('setup-code:')
    const withoutBanner = out.replace(/setup-code: \S+/, '')
    expect(withoutBanner).not.toContain(server.setupCode!)
    expect(withoutBanner).not.toContain(adminToken)
    expect(withoutBanner.toLowerCase()).not.toContain('authorization')
  })

  it('prints no setup code once an account exists, and keeps the data across restarts', async () => {
    await server.stop()
    server = await startServer(dir)
    expect(server.setupCode).toBeNull()
    const token = await login(server.url, admin.first)
    expect((await request(server.url, 'GET', '/accounts/me', { token })).json.username).toBe('alice')
  })
})

describe('setup code before the first account', () => {
  it('is replaced on every start until used', async () => {
    const dir = await tempDir()
    try {
      const s1 = await startServer(dir)
      await s1.stop()
      const s2 = await startServer(dir)
      try {
        expect(s2.setupCode).not.toBe(s1.setupCode)
        await expect(createAccount(s2.url, s1.setupCode!, 'alice')).rejects.toThrow(/403/)
        expect((await createAccount(s2.url, s2.setupCode!, 'alice')).admin).toBe(true)
      } finally {
        await s2.stop()
      }
    } finally {
      await removeDir(dir)
    }
  })
})
