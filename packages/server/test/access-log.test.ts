import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { type AccessEntry, isAirlockError, listAccessesResponseSchema, verifyAccessLog } from '@airlock/core'
import SQLite from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, SERVER_BIN, type ServerProcess } from '../../../test-support/harness.js'
import { type Actor, request, sendItem, startWithAlicePhoneAndBob } from './api-client.js'

/**
 * The access log against the real server process: what counts as one download, who may read an
 * item's accesses, recall, and `airlock-server verify-access-log` on rows edited in SQLite.
 */
describe('access log and recall (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let alice: Actor
  let laptop: string
  let phone: { token: string; id: string }
  let bob: string

  beforeAll(async () => {
    ;({ dir, server, alice, token: laptop, phone, bob } = await startWithAlicePhoneAndBob(['--trust-proxy']))
  })
  afterAll(async () => {
    await server?.stop()
    await removeDir(dir)
  })

  const blob = (itemId: string, token: string, headers: Record<string, string> = {}, method = 'GET') =>
    request(server.url, method, `/items/${itemId}/blob`, { token, headers })
  const accesses = async (itemId: string, token = laptop): Promise<AccessEntry[]> => {
    const r = await request(server.url, 'GET', `/items/${itemId}/accesses`, { token })
    expect(r.status, JSON.stringify(r.json)).toBe(200)
    const body = listAccessesResponseSchema.parse(r.json)
    expect(body.itemId).toBe(itemId)
    verifyAccessLog(itemId, body.accesses)
    return body.accesses
  }
  const verifyCommand = (expectHead?: string) =>
    spawnSync(
      process.execPath,
      [
        SERVER_BIN,
        'verify-access-log',
        '--data-dir',
        dir,
        ...(expectHead ? ['--expect-head', expectHead] : []),
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, NODE_NO_WARNINGS: '1' },
      },
    )

  it('records every download exactly once: full, resumed, concurrent from two devices; never HEAD', async () => {
    const bytes = randomBytes(300_000)
    const { itemId } = await sendItem(server.url, laptop, alice.selfConversationId, bytes)
    expect(await accesses(itemId)).toEqual([])

    // 1: the laptop reads it whole, through a proxy that names the client.
    const full = await blob(itemId, laptop, { 'x-forwarded-for': '203.0.113.9' })
    expect(full.bytes.length).toBe(bytes.length)
    // 2: the phone starts at 0, is cut off, and resumes from 100,000: one download.
    expect((await blob(itemId, phone.token, { range: 'bytes=0-99999' })).status).toBe(206)
    expect((await blob(itemId, phone.token, { range: 'bytes=100000-' })).status).toBe(206)
    // Neither a HEAD nor a range from the middle starts a download.
    expect((await blob(itemId, phone.token, {}, 'HEAD')).status).toBe(200)
    expect((await blob(itemId, phone.token, { range: 'bytes=5000-6000' })).status).toBe(206)
    // 3–8: both devices at once, three each.
    const both = await Promise.all(
      Array.from({ length: 6 }, (_, i) => blob(itemId, i % 2 ? phone.token : laptop)),
    )
    for (const r of both) expect(r.bytes.length).toBe(bytes.length)
    // 9: a suffix range covering the whole blob starts at byte 0.
    expect((await blob(itemId, laptop, { range: `bytes=-${bytes.length}` })).status).toBe(206)

    const log = await accesses(itemId)
    expect(log.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
    const aliceDevices = new Set([alice.first.record.id, phone.id])
    for (const e of log) {
      expect(e.accountId).toBe(alice.accountId)
      expect(aliceDevices.has(e.deviceId!)).toBe(true)
      expect(e.shareId).toBeNull()
    }
    expect(log[0]).toMatchObject({ deviceId: alice.first.record.id, address: '203.0.113.9' })
    expect(log[1]).toMatchObject({ deviceId: phone.id, address: '127.0.0.1' })
    expect(log.slice(2, 8).filter((e) => e.deviceId === phone.id)).toHaveLength(3)
    // The phone (same account) sees the same chain.
    expect(await accesses(itemId, phone.token)).toEqual(log)
    // Pages continue the chain.
    const page = await request(server.url, 'GET', `/items/${itemId}/accesses?since=4&limit=2`, {
      token: laptop,
    })
    expect(page.json.accesses.map((e: AccessEntry) => e.seq)).toEqual([5, 6])
    expect(page.json.more).toBe(true)
  })

  it('shows accesses to the sending account only', async () => {
    const { itemId } = await sendItem(server.url, laptop, alice.selfConversationId, randomBytes(100))
    await blob(itemId, phone.token)
    const r = await request(server.url, 'GET', `/items/${itemId}/accesses`, { token: bob })
    expect(r.status).toBe(404)
    expect(JSON.stringify(r.json)).not.toContain(phone.id)
    expect((await request(server.url, 'GET', `/items/${itemId}/accesses`)).status).toBe(401)
    expect((await request(server.url, 'GET', '/items/nope/accesses', { token: laptop })).status).toBe(404)
    const bad = await request(server.url, 'GET', `/items/${itemId}/accesses?limit=0`, { token: laptop })
    expect(bad.status).toBe(400)
  })

  it("records a co-recipient's download under its account; the co-recipient can neither read the log nor recall", async () => {
    const bobAccount = (await request(server.url, 'GET', '/accounts/me', { token: bob })).json.accountId
    const conv = await request(server.url, 'POST', '/conversations', {
      token: laptop,
      json: { kind: 'direct', members: [bobAccount] },
    })
    expect(conv.status).toBe(201)
    const { itemId } = await sendItem(server.url, laptop, conv.json.conversationId, randomBytes(2000))
    expect((await blob(itemId, bob, { 'x-forwarded-for': '198.51.100.23' })).status).toBe(200)
    const log = await accesses(itemId)
    expect(log).toHaveLength(1)
    expect(log[0]).toMatchObject({ accountId: bobAccount, shareId: null, address: '198.51.100.23' })
    const r = await request(server.url, 'GET', `/items/${itemId}/accesses`, { token: bob })
    expect(r.status).toBe(403)
    expect(r.json.error.code).toBe('FORBIDDEN')
    expect((await request(server.url, 'DELETE', `/items/${itemId}`, { token: bob })).status).toBe(403)
  })

  it('recall: only the sender deletes; the blob leaves the disk, every device sees a tombstone, the accesses stay', async () => {
    const { itemId, seq } = await sendItem(server.url, laptop, alice.selfConversationId, randomBytes(5000))
    await blob(itemId, phone.token)
    expect((await request(server.url, 'DELETE', `/items/${itemId}`, { token: bob })).status).toBe(404)
    const blobFiles = async () => (await readdir(join(dir, 'blobs'), { recursive: true })).map(String)
    expect((await blobFiles()).some((f) => f.endsWith(itemId))).toBe(true)

    // Recalled from the phone: any device of the sending account may.
    expect((await request(server.url, 'DELETE', `/items/${itemId}`, { token: phone.token })).status).toBe(200)
    expect((await blobFiles()).some((f) => f.endsWith(itemId))).toBe(false)
    for (const token of [laptop, phone.token]) {
      const list = await request(server.url, 'GET', `/conversations/${alice.selfConversationId}/items`, {
        token,
      })
      const mine = list.json.items.filter((i: { itemId: string }) => i.itemId === itemId)
      expect(mine).toEqual([
        { itemId, conversationId: alice.selfConversationId, seq: seq + 1, deleted: true },
      ])
      expect((await blob(itemId, token)).status).toBe(404)
    }
    const kept = await accesses(itemId)
    expect(kept).toHaveLength(1)
    expect(kept[0]!.deviceId).toBe(phone.id)
    expect((await request(server.url, 'GET', `/items/${itemId}/accesses`, { token: bob })).status).toBe(404)
  })

  it('verify-access-log finds an edited, a deleted and a reordered row in the database', async () => {
    const ok = verifyCommand()
    expect(ok.status, ok.stderr).toBe(0)
    const report = JSON.parse(ok.stdout)
    const db = new SQLite(join(dir, 'airlock.db'))
    const counted = db
      .prepare('select count(*) as rows, count(distinct item_id) as items from access_log')
      .get()
    expect(report).toMatchObject({ ok: true, ...(counted as object) })
    expect(report.rows).toBeGreaterThanOrEqual(12)

    try {
      const row = db.prepare('select * from access_log where seq = 5').get() as Record<string, unknown>
      const itemId = row.item_id as string
      const apiSees = async () => {
        const r = await request(server.url, 'GET', `/items/${itemId}/accesses`, { token: laptop })
        try {
          verifyAccessLog(itemId, listAccessesResponseSchema.parse(r.json).accesses)
          return 'ok'
        } catch (e) {
          return isAirlockError(e, 'ACCESS_LOG_TAMPERED') ? e.message : String(e)
        }
      }
      const expectTampered = async (server: RegExp, client: RegExp) => {
        const r = verifyCommand()
        expect(r.status, r.stdout).toBe(1)
        expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, seq: 5 })
        expect(r.stderr).toMatch(server)
        expect(await apiSees()).toMatch(client)
      }

      // Edited: another address.
      db.prepare("update access_log set address = '192.0.2.1' where seq = 5").run()
      await expectTampered(/row 5 was altered/, /access 5 was altered/)
      db.prepare('update access_log set address = ? where seq = 5').run(row.address)
      expect(verifyCommand().status).toBe(0)

      // Deleted.
      db.prepare('delete from access_log where seq = 5').run()
      await expectTampered(/row 5 is missing/, /access 5 is missing/)
      const cols = Object.keys(row)
      db.prepare(`insert into access_log (${cols.join(',')}) values (${cols.map(() => '?').join(',')})`).run(
        ...cols.map((c) => row[c]),
      )
      expect(verifyCommand().status).toBe(0)

      // The newest row deleted and the recorded head moved back with it: the chain alone is
      // consistent, but not with the head an earlier run printed.
      const last = db.prepare('select * from access_log where seq = 12').get() as Record<string, unknown>
      const prior = db.prepare('select hash from access_log where seq = 11').get() as { hash: string }
      db.prepare('delete from access_log where seq = 12').run()
      db.prepare("update access_log_head set seq = 11, hash = ? where id = 'server'").run(prior.hash)
      expect(verifyCommand().status).toBe(0)
      const pinned = verifyCommand(`${report.head.seq}:${report.head.hash}`)
      expect(pinned.status).toBe(1)
      expect(pinned.stderr).toMatch(/rows 12–12 recorded earlier are gone/)
      db.prepare(`insert into access_log (${cols.join(',')}) values (${cols.map(() => '?').join(',')})`).run(
        ...cols.map((c) => last[c]),
      )
      db.prepare("update access_log_head set seq = 12, hash = ? where id = 'server'").run(last.hash)
      expect(verifyCommand(`${report.head.seq}:${report.head.hash}`).status).toBe(0)
      expect(verifyCommand(`${report.head.seq}:${'A'.repeat(43)}`).status).toBe(1)
      expect(verifyCommand('junk').status).toBe(2)

      // Reordered: rows 5 and 6 swap places (server-wide and in the item's chain).
      const swap = (a: number, b: number) => {
        db.prepare('update access_log set seq = -1, item_seq = -1 where seq = ?').run(a)
        const ra = db.prepare('select item_seq from access_log where seq = ?').get(b) as { item_seq: number }
        const rb = row.item_seq as number
        db.prepare('update access_log set seq = ?, item_seq = ? where seq = ?').run(a, rb, b)
        db.prepare('update access_log set seq = ?, item_seq = ? where seq = -1').run(b, ra.item_seq)
      }
      swap(5, 6)
      await expectTampered(/row 5 does not follow row 4/, /access 5 does not follow access 4/)
    } finally {
      db.close()
    }
  })

  it('a first request that skips the start of the blob still counts (the age header is well known)', async () => {
    const { itemId } = await sendItem(server.url, laptop, alice.selfConversationId, randomBytes(50_000))
    // The phone never downloaded it: starting past the known header does not hide the download…
    expect((await blob(itemId, phone.token, { range: 'bytes=22-' })).status).toBe(206)
    // …but continuing it does not count again.
    expect((await blob(itemId, phone.token, { range: 'bytes=30000-' })).status).toBe(206)
    const log = await accesses(itemId)
    expect(log.map((e) => e.deviceId)).toEqual([phone.id])
  })
})
