import { join } from 'node:path'
import {
  appendEntry,
  type DeviceLogEntry,
  encodeLogEntry,
  entryHash,
  entryValue,
  generateDevice,
  signCanonical,
  verifyLog,
} from '@airlock/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { assertBuilt, cli, cliJson, removeDir, tempDir } from '../../../test-support/harness.js'
import {
  deviceSecrets,
  expectNothingWritten,
  expectRefused,
  linkDevice,
  pinnedLog,
  pinnedLogText,
  setupAccount,
} from './evil-fixture.js'
import { EvilServer, type Exchange, jsonOf, route, withJson } from './evil-server.js'

/**
 * SECURITY-TESTS 13–16 (18, a colleague's substituted keys, is in colleagues.test.ts): a malicious server inserts, hides, rolls back and forks device-log
 * entries, for real `airlock` processes behind the evil proxy. Each is refused with its typed
 * error (exit 6), the pinned log stays as it was, and nothing is sent to a device the server
 * slipped in or kept.
 */

let dir: string
let evil: EvilServer
let A: string // laptop
let B: string // phone
let accountId: string
let n = 0

const logOf = (deviceId?: string) => route('GET', /\/accounts\/[^/]+\/log$/, deviceId)
const itemCount = () => evil.sql<{ n: number }>('SELECT count(*) AS n FROM items')[0]!.n
const send = (home: string) => cli(home, ['--json', 'note', `note ${++n}`])
const lastLogResponse = (deviceId: string): Exchange =>
  evil.history.filter((e) => logOf(deviceId)(e.req) && e.res.status === 200).at(-1)!

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-evil-log-')
  evil = await EvilServer.start(join(dir, 'data'))
  A = join(dir, 'home-a')
  B = join(dir, 'home-b')
  accountId = (await setupAccount(evil, A, 'alice', evil.setupCode!)).accountId
  await linkDevice(evil, A, B, 'phone')
})

afterEach(() => evil.reset())

afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

describe('a malicious server serving device logs (evil-server harness, real CLI)', () => {
  it('SECURITY-13: an inserted entry not signed by an active device is rejected; nothing is sent to it', async () => {
    const log = await pinnedLog(A)
    const mallory = await generateDevice({ name: 'laptop', kind: 'cli' })
    const entry: DeviceLogEntry = {
      account: accountId,
      seq: log.seq + 1,
      prev: log.head,
      op: 'add',
      device: mallory.record,
      signer: mallory.record.id,
      sig: signCanonical(mallory, 'airlock device log entry v1', { seq: log.seq + 1 }),
    }
    evil.sql(
      'INSERT INTO device_log (account_id, seq, prev, hash, entry, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      accountId,
      entry.seq,
      entry.prev,
      entryHash(entry),
      encodeLogEntry(entry),
      Date.now(),
    )
    const pinned = await pinnedLogText(A)
    const items = itemCount()
    expectRefused(await cli(A, ['--json', 'devices']), 'SIGNATURE')
    expectRefused(await send(A), 'SIGNATURE')
    expectRefused(await send(B), 'SIGNATURE')
    expect(itemCount()).toBe(items)
    expect(await pinnedLogText(A)).toBe(pinned)
    evil.sql('DELETE FROM device_log WHERE account_id = ? AND seq = ?', accountId, entry.seq)
    expect((await send(A)).code).toBe(0)
  })

  it('SECURITY-14: an older log replayed after a removal is a RollbackError; the removed device gets nothing', async () => {
    const C = join(dir, 'home-c')
    const c = await linkDevice(evil, A, C, 'tablet')
    await cliJson(B, ['devices'])
    const old = lastLogResponse((await deviceSecrets(B)).record.id)
    await cliJson(A, ['devices', 'remove', c.deviceId])
    await cliJson(B, ['devices'])
    const pinnedB = await pinnedLogText(B)
    const items = itemCount()
    // Both devices that saw the removal are served the log from before it.
    evil.tamper(logOf(), (_q, res) => ({ ...res, body: old.res.body }))
    const human = await cli(B, ['devices'])
    expect(human.code).toBe(6)
    expect(human.stderr).toMatch(/SECURITY WARNING.*rollback/)
    expectRefused(await cli(B, ['--json', 'inbox']), 'ROLLBACK')
    expectRefused(await send(A), 'ROLLBACK')
    expect(itemCount()).toBe(items)
    expect(await pinnedLogText(B)).toBe(pinnedB)
    evil.reset()
    expect((await cli(C, ['--json', 'inbox'])).code).toBe(5)
  })

  it('SECURITY-15: a different log at the same seq is a ForkError with a loud warning', async () => {
    const a = await deviceSecrets(A)
    const b = await deviceSecrets(B)
    const mine = await pinnedLog(B)
    const before = verifyLog(accountId, mine.entries.slice(0, -1).map(entryValue))
    const mallory = await generateDevice({ name: 'tablet', kind: 'cli' })
    const alt = appendEntry(before, a, 'add', mallory.record)
    const pinnedB = await pinnedLogText(B)
    // Only the phone is shown the other history; the laptop still sees the real one.
    evil.tamper(logOf(b.record.id), (_q, res) =>
      withJson(res, {
        entries: [entryValue(alt)],
        head: { seq: alt.seq, hash: entryHash(alt) },
        more: false,
      }),
    )
    const human = await cli(B, ['devices'])
    expect(human.code).toBe(6)
    expect(human.stderr).toMatch(/SECURITY WARNING.*fork/)
    expectRefused(await cli(B, ['--json', 'inbox']), 'FORK')
    expect((await cli(A, ['--json', 'devices'])).code).toBe(0)
    expect(await pinnedLogText(B)).toBe(pinnedB)
  })

  it('SECURITY-16: a device add is shown on every other device at its next sync, and cannot be hidden', async () => {
    const b = await deviceSecrets(B)
    const pinnedB = await pinnedLog(B)
    const D = join(dir, 'home-d')
    const d = await linkDevice(evil, A, D, 'desk')
    // The server hides the add from the phone; the laptop sends a note (also to the new desk).
    evil.tamper(logOf(b.record.id), (_q, res) =>
      withJson(res, { ...jsonOf(res), entries: [], head: { seq: pinnedB.seq, hash: pinnedB.head } }),
    )
    const sent = await cliJson<{ sent: { itemId: string }[] }>(A, ['note', 'for every device'])
    const id = sent.sent[0]!.itemId
    const out = join(dir, 'out-16')
    expectRefused(await cli(B, ['--json', 'get', '--out', out, '--', id]), 'ROLLBACK')
    await expectNothingWritten(B, out)
    evil.reset()
    // One sync later, the phone warns of the new device with its fingerprint.
    const shown = await cli(B, ['devices'])
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stderr).toMatch(
      new RegExp(`"desk" \\(cli, ${d.deviceId}\\) was added .*fingerprint [0-9 ]+`),
    )
    expect((await cli(B, ['--json', 'get', '--out', out, '--', id])).code).toBe(0)
  })
})
