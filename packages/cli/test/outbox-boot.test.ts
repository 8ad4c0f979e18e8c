import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { linkDevice, setupAccount } from './evil-fixture.js'
import { EvilServer, route } from './evil-server.js'
import { assertBuilt, cli, cliJson, randomFile, removeDir, sha256File, tempDir } from './harness.js'

// The spool of a sealed upload is not synced to disk where the machine's boot can be told (the
// server syncs what it receives): `airlock resume` trusts it only within the same boot. After a
// reboot it sends the file again from its source, as a new item, instead of uploading a spool a
// power cut may have damaged.

let dir: string
let evil: EvilServer
let A: string
let B: string
let file: string

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-outbox-boot-')
  evil = await EvilServer.start(join(dir, 'data'))
  A = join(dir, 'home-a')
  B = join(dir, 'home-b')
  await setupAccount(evil, A, 'alice', evil.setupCode!)
  await linkDevice(evil, A, B, 'alice-phone')
  file = join(dir, 'report.bin')
  await randomFile(file, 3 * 1024 * 1024)
})

afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

/** Sends `file` while the server refuses every commit: the item is left sealed in the outbox. */
async function leaveSealed(): Promise<{ itemId: string; entryPath: string }> {
  const refuse = evil.tamper(route('PUT', /\/items\/[^/]+\/manifest$/), (_q, res) => ({
    ...res,
    status: 503,
    body: Buffer.from(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'try later' } })),
  }))
  const r = await cli(A, ['--json', 'send', file], { env: { AIRLOCK_RETRY_SECONDS: '1' } })
  refuse()
  expect(r.code, r.stderr).toBe(8)
  const names = (await readdir(join(A, 'outbox'))).filter((n) => n.endsWith('.json'))
  expect(names).toHaveLength(1)
  const entryPath = join(A, 'outbox', names[0]!)
  const entry = JSON.parse(await readFile(entryPath, 'utf8')) as {
    itemId: string
    stage: string
    boot?: string
  }
  expect(entry.stage).toBe('sealed')
  expect(entry.boot).toBe((await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim())
  return { itemId: entry.itemId, entryPath }
}

describe('resuming a sealed upload whose spool was not synced', () => {
  it('commits the same item within the same boot', async () => {
    const { itemId } = await leaveSealed()
    const resumed = await cliJson<{ sent: { itemId: string }[] }>(A, ['resume'])
    expect(resumed.sent.map((s) => s.itemId)).toEqual([itemId])
  })

  it('sends the source again, as a new item, after a reboot', async () => {
    const { itemId, entryPath } = await leaveSealed()
    const entry = JSON.parse(await readFile(entryPath, 'utf8')) as Record<string, unknown>
    await writeFile(entryPath, JSON.stringify({ ...entry, boot: '00000000-0000-4000-8000-000000000000' }))
    const resumed = await cliJson<{ sent: { itemId: string }[] }>(A, ['resume'])
    expect(resumed.sent).toHaveLength(1)
    const again = resumed.sent[0]!.itemId
    expect(again).not.toBe(itemId)
    expect(await readdir(join(A, 'outbox'))).toEqual([])
    const out = join(dir, 'got')
    const got = await cliJson<{ path: string }>(B, ['get', again, '--out', out])
    expect(await sha256File(got.path)).toBe(await sha256File(file))
  })
})
