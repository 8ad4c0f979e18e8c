import { appendEntry, entryHash, verifyLog } from '@airlock/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, type ServerProcess, startServer, tempDir } from '../../../test-support/harness.js'
import {
  type Actor,
  addDevice,
  createAccount,
  fetchLog,
  login,
  newDevice,
  randomAccountId,
  request,
  startWithAlice,
} from './api-client.js'

describe('device log (real server process)', () => {
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

  it('serves the log as given, and the entries verify with core', async () => {
    const r = await request(server.url, 'GET', `/accounts/${alice.accountId}/log`, { token })
    expect(r.status).toBe(200)
    expect(r.json.entries).toEqual([createGenesisLike(r.json.entries[0])])
    const log = verifyLog(alice.accountId, r.json.entries)
    expect(r.json.head).toEqual({ seq: 0, hash: log.head })
    expect(r.json.more).toBe(false)
  })

  it('appends entries that extend the head, and derives the devices', async () => {
    const { device: phone } = await addDevice(server.url, alice, token, 'alice-phone')
    const log = await fetchLog(server.url, token, alice.accountId)
    expect(log.seq).toBe(1)
    expect(log.active.map((d) => d.id)).toEqual([alice.first.record.id, phone.record.id])
    const devices = await request(server.url, 'GET', `/accounts/${alice.accountId}/devices`, { token })
    expect(devices.json.devices).toEqual([
      { deviceId: alice.first.record.id, active: true, addedSeq: 0, removedSeq: null },
      { deviceId: phone.record.id, active: true, addedSeq: 1, removedSeq: null },
    ])
    const since = await request(server.url, 'GET', `/accounts/${alice.accountId}/log?since=0`, { token })
    expect(since.json.entries.map((e: { seq: number }) => e.seq)).toEqual([1])
    expect(since.json.head).toEqual({ seq: 1, hash: log.head })
  })

  it('rejects an entry built on a stale head (compare-and-swap)', async () => {
    const log = await fetchLog(server.url, token, alice.accountId)
    const a = appendEntry(log, alice.first, 'add', (await newDevice('tablet')).record)
    const b = appendEntry(log, alice.first, 'add', (await newDevice('desktop')).record)
    const first = await request(server.url, 'POST', `/accounts/${alice.accountId}/log`, {
      token,
      json: { entry: a },
    })
    expect(first.status).toBe(200)
    expect(first.json.head).toEqual({ seq: a.seq, hash: entryHash(a) })
    const second = await request(server.url, 'POST', `/accounts/${alice.accountId}/log`, {
      token,
      json: { entry: b },
    })
    expect(second.status).toBe(409)
    expect(second.json.error.code).toBe('STALE_HEAD')
    const replay = await request(server.url, 'POST', `/accounts/${alice.accountId}/log`, {
      token,
      json: { entry: a },
    })
    expect(replay.status).toBe(409)
    expect((await fetchLog(server.url, token, alice.accountId)).seq).toBe(a.seq)
  })

  it('rejects entries that are malformed, forged, or for another account', async () => {
    const log = await fetchLog(server.url, token, alice.accountId)
    const stranger = await newDevice('stranger')
    const post = (entry: unknown) =>
      request(server.url, 'POST', `/accounts/${alice.accountId}/log`, { token, json: { entry } })

    // Signed by a device that is not in the log.
    const valid = appendEntry(log, alice.first, 'add', (await newDevice('x')).record)
    const forged = { ...valid, signer: stranger.record.id }
    let r = await post(forged)
    expect(r.status).toBe(400)
    expect(r.json.error.code).toBe('INVALID_LOG_ENTRY')

    // A valid signature over different content.
    r = await post({ ...valid, device: stranger.record })
    expect(r.json.error.code).toBe('INVALID_LOG_ENTRY')

    // Shape errors.
    r = await post({ ...valid, sig: 'AAAA' })
    expect(r.status).toBe(400)
    r = await post({ ...valid, extra: 1 })
    expect(r.status).toBe(400)
    r = await post('not an object')
    expect(r.status).toBe(400)

    // An entry of another account's log.
    r = await post({ ...valid, account: randomAccountId() })
    expect(r.status).toBe(400)
    expect((await fetchLog(server.url, token, alice.accountId)).seq).toBe(log.seq)
  })

  it('refuses removing the last active device', async () => {
    const dir2 = await tempDir()
    const s2 = await startServer(dir2)
    try {
      const solo = await createAccount(s2.url, s2.setupCode!, 'solo')
      const t = await login(s2.url, solo.first)
      const log = await fetchLog(s2.url, t, solo.accountId)
      // core refuses to build it, so forge the entry by hand the way a buggy client might.
      const entry = { ...log.entries[0]!, seq: 1, prev: log.head, op: 'remove' as const }
      const r = await request(s2.url, 'POST', `/accounts/${solo.accountId}/log`, {
        token: t,
        json: { entry },
      })
      expect(r.status).toBe(400)
    } finally {
      await s2.stop()
      await removeDir(dir2)
    }
  })
})

function createGenesisLike(e: { op: string; seq: number; prev: string }) {
  expect(e).toMatchObject({ op: 'genesis', seq: 0, prev: '' })
  return e
}
