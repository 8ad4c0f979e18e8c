import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  CliProcess,
  cli,
  cliJson,
  randomFile,
  removeDir,
  tempDir,
} from '../../../test-support/harness.js'
import { linkDevice, setupAccount } from './evil-fixture.js'
import { EvilServer, route } from './evil-server.js'

// SECURITY-TESTS 14 during a send: a device removed while an upload is in flight (the server is
// free to stall the upload until then) must not receive the item. The sender re-checks its
// verified log right before committing and cancels instead.

let dir: string
let evil: EvilServer
let A: string
let B: string

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-evil-removal-')
  evil = await EvilServer.start(join(dir, 'data'))
  A = join(dir, 'home-a')
  B = join(dir, 'home-b')
  await setupAccount(evil, A, 'alice', evil.setupCode!)
})

afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

describe('removal during an upload', () => {
  it('an item whose upload was stalled until a recipient was removed is not committed', async () => {
    const b = await linkDevice(evil, A, B, 'lost-phone')
    const file = join(dir, 'big.bin')
    await randomFile(file, 8 * 1024 * 1024)
    let release!: () => void
    const released = new Promise<void>((r) => {
      release = r
    })
    let held = false
    // The server answers the upload only after the phone has been removed.
    evil.tamper(route('PATCH', /\/uploads\//), async (_q, res) => {
      held = true
      await released
      return res
    })
    const send = new CliProcess(A, ['--json', 'send', file])
    for (let i = 0; i < 200 && !held; i++) await new Promise((r) => setTimeout(r, 50))
    expect(held).toBe(true)
    // Removed from another session of the same device (the send keeps its own).
    await cliJson(A, ['devices', 'remove', '--', b.deviceId])
    release()
    const r = await send.exited
    expect(r.code, r.stderr).not.toBe(0)
    expect(r.stderr).toMatch(/RECIPIENTS_CHANGED|removed while this was uploading/)
    evil.reset()
    expect(evil.sql<{ n: number }>("SELECT count(*) AS n FROM items WHERE state = 'committed'")[0]!.n).toBe(0)
    // Nothing waits in the outbox to be committed later.
    const resumed = await cli(A, ['--json', 'resume'])
    expect(evil.sql<{ n: number }>("SELECT count(*) AS n FROM items WHERE state = 'committed'")[0]!.n).toBe(0)
    expect(resumed.code).not.toBe(6)
  })
})
