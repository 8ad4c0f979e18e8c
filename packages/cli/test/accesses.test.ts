import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cli,
  cliJson,
  randomFile,
  removeDir,
  sha256File,
  tempDir,
} from '../../../test-support/harness.js'
import { errorCode, invite, linkDevice, setupAccount } from './evil-fixture.js'
import { EvilServer, route } from './evil-server.js'

// The access log through the real CLI: `airlock accesses` lists every download of an item I sent
// and refuses (exit 9, ACCESS_LOG_TAMPERED) when a stored row was edited, deleted or reordered
// directly in the server's SQLite database — including, against the head it pinned, its newest row.

interface Listed {
  itemId: string
  verified: true
  head: { seq: number; hash: string }
  accesses: { seq: number; deviceId: string | null; accountId: string | null; address: string; who: string }[]
}

let dir: string
let evil: EvilServer
let A: string
let B: string
let C: string
let itemId: string
let phoneId: string
let laptopId: string

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-accesses-')
  evil = await EvilServer.start(join(dir, 'data'))
  A = join(dir, 'home-a')
  B = join(dir, 'home-b')
  C = join(dir, 'home-c')
  laptopId = (await setupAccount(evil, A, 'alice', evil.setupCode!)).deviceId
  phoneId = (await linkDevice(evil, A, B, 'alice-phone')).deviceId
  await setupAccount(evil, C, 'carol', await invite(A))
  const file = join(dir, 'report.bin')
  await randomFile(file, 300_000)
  itemId = (await cliJson<{ sent: { itemId: string }[] }>(A, ['send', file])).sent[0]!.itemId
})

afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

const accesses = (home: string) => cli(home, ['--json', 'accesses', itemId])
const row = (seq: number) =>
  evil.sql<Record<string, unknown>>(
    'SELECT * FROM access_log WHERE item_id = ? AND item_seq = ?',
    itemId,
    seq,
  )[0]!

async function expectTampered(): Promise<void> {
  const r = await accesses(A)
  expect(r.code, r.stderr).toBe(9)
  expect(errorCode(r)).toBe('ACCESS_LOG_TAMPERED')
  expect(r.stdout).toBe('')
  const human = await cli(A, ['accesses', itemId])
  expect(human.code).toBe(9)
  expect(human.stderr).toMatch(/SECURITY WARNING: the access log of this item does not verify/)
}

describe('airlock accesses', () => {
  it('lists every download by device, time and address, once each', async () => {
    const none = await cliJson<Listed>(A, ['accesses', itemId])
    expect(none.accesses).toEqual([])
    for (const [home, out] of [
      [B, 'b1'],
      [A, 'a1'],
      [B, 'b2'],
    ] as const) {
      await cliJson(home, ['get', itemId, '--out', join(dir, out)])
    }
    const listed = await cliJson<Listed>(A, ['accesses', itemId])
    expect(listed.accesses.map((a) => [a.seq, a.deviceId])).toEqual([
      [1, phoneId],
      [2, laptopId],
      [3, phoneId],
    ])
    expect(listed.head.seq).toBe(3)
    for (const a of listed.accesses) expect(a.address).toBe('127.0.0.1')
    const human = await cli(A, ['accesses', itemId])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/^ {3}1 .* alice-phone \(\S+\) {2}from 127\.0\.0\.1$/m)
    expect(human.stdout).toMatch(/3 downloads; the log verifies/)
    // The other device of the account sees the same.
    expect((await cliJson<Listed>(B, ['accesses', itemId])).accesses).toHaveLength(3)
  })

  it('nobody outside the sending account sees them; bad ids are usage errors', async () => {
    const r = await cli(C, ['--json', 'accesses', itemId])
    expect(r.code).toBe(7)
    expect(r.stdout).not.toContain(phoneId)
    expect((await cli(A, ['accesses', 'not-an-item'])).code).toBe(2)
  })

  it('takes an id that starts with - as an id, not as an unknown option', async () => {
    // Device ids (and item ids from servers before they avoided it) may start with '-'.
    const dashed = `-${'A'.repeat(21)}`
    for (const args of [
      ['accesses', dashed],
      ['get', '--out', '.', dashed],
      ['inbox', '--in', dashed],
    ]) {
      const r = await cli(A, ['--json', ...args])
      expect(r.stderr, args.join(' ')).not.toMatch(/unknown option|usage/i)
      expect(r.code, args.join(' ')).toBe(7)
    }
    // A real option still is one, and a misspelt one is still refused.
    expect((await cli(A, ['accesses', '--no-such-option-abcdef'])).code).toBe(2)
  })

  it('detects an edited row', async () => {
    const original = row(2).address
    evil.sql('UPDATE access_log SET address = ? WHERE item_id = ? AND item_seq = 2', '198.51.100.1', itemId)
    await expectTampered()
    evil.sql('UPDATE access_log SET address = ? WHERE item_id = ? AND item_seq = 2', original, itemId)
    expect((await accesses(A)).code).toBe(0)
  })

  it('detects a deleted row, in the middle and the newest one (against the pinned head)', async () => {
    for (const seq of [2, 3]) {
      const saved = row(seq)
      evil.sql('DELETE FROM access_log WHERE item_id = ? AND item_seq = ?', itemId, seq)
      await expectTampered()
      const cols = Object.keys(saved)
      evil.sql(
        `INSERT INTO access_log (${cols.join(',')}) VALUES (${cols.map(() => '?').join(',')})`,
        ...cols.map((c) => saved[c]),
      )
      expect((await accesses(A)).code).toBe(0)
    }
  })

  it('detects reordered rows', async () => {
    const [two, three] = [row(2), row(3)]
    // Rows 2 and 3 trade places in the item's chain (each keeps its own hashes).
    evil.sql('UPDATE access_log SET item_seq = -1 WHERE seq = ?', two.seq)
    evil.sql('UPDATE access_log SET item_seq = 2 WHERE seq = ?', three.seq)
    evil.sql('UPDATE access_log SET item_seq = 3 WHERE seq = ?', two.seq)
    await expectTampered()
    evil.sql('UPDATE access_log SET item_seq = -1 WHERE seq = ?', two.seq)
    evil.sql('UPDATE access_log SET item_seq = 3 WHERE seq = ?', three.seq)
    evil.sql('UPDATE access_log SET item_seq = 2 WHERE seq = ?', two.seq)
    expect((await accesses(A)).code).toBe(0)
  })

  it('after a recall the item is gone from every device but its accesses remain', async () => {
    await cliJson(A, ['rm', itemId])
    const inbox = await cliJson<{ items: { itemId: string }[] }>(B, ['inbox'])
    expect(inbox.items.map((i) => i.itemId)).not.toContain(itemId)
    expect((await cli(B, ['get', itemId, '--out', join(dir, 'b3')])).code).toBe(7)
    const listed = await cliJson<Listed>(A, ['accesses', itemId])
    expect(listed.accesses).toHaveLength(3)
    // The blob file is gone from the server's disk.
    await expect(evil.readBlob(itemId)).rejects.toThrow()
  })

  it('a download cut twice and resumed with Range counts once', async () => {
    const file = join(dir, 'big.bin')
    const sha = await randomFile(file, 3 * 1024 * 1024)
    const id = (await cliJson<{ sent: { itemId: string }[] }>(A, ['send', file])).sent[0]!.itemId
    evil.cut(route('GET', /\/blob$/), 'response', 700_000, 2)
    const got = await cli(B, ['--json', 'get', '--out', join(dir, 'cut-out'), '--', id], {
      env: { AIRLOCK_RETRY_SECONDS: '20' },
    })
    expect(got.code, got.stderr).toBe(0)
    expect(evil.stats.cut).toBe(2)
    expect(await sha256File((JSON.parse(got.stdout) as { path: string }).path)).toBe(sha)
    const blobRequests = evil.sql<{ n: number }>('SELECT count(*) AS n FROM access_log WHERE item_id = ?', id)
    expect(blobRequests[0]!.n).toBe(1)
    const listed = await cliJson<Listed>(A, ['accesses', id])
    expect(listed.accesses.map((a) => [a.seq, a.deviceId])).toEqual([[1, phoneId]])
  })
})
