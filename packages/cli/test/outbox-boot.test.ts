import { readdir, readFile, truncate, writeFile } from 'node:fs/promises'
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
import { linkDevice, setupAccount } from './evil-fixture.js'
import { EvilServer, route } from './evil-server.js'

// An upload that keeps up holds its ciphertext in memory; one that fails is spooled to disk for
// `airlock resume`. That spool is not synced where the machine's boot can be told (the server
// syncs what it receives): resume trusts it only within the same boot. After a reboot it sends the
// file again from its source, as a new item, instead of uploading a spool a power cut may have
// damaged.

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

/**
 * Sends `file` while the server refuses every commit (the upload completes) or every PATCH (the
 * upload never starts): either way the item is left sealed in the outbox.
 */
async function leaveSealed(
  refused: 'commit' | 'upload',
  source = file,
  firstCut = 1_000_000,
): Promise<{
  itemId: string
  entryPath: string
  entry: { stage: string; boot?: string; spoolFrom?: number; ciphertextSize: number }
  spooled: boolean
}> {
  if (refused === 'commit') {
    evil.tamper(route('PUT', /\/items\/[^/]+\/manifest$/), (_q, res) => ({
      ...res,
      status: 503,
      body: Buffer.from(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'try later' } })),
    }))
  } else {
    // The first PATCH breaks off after `firstCut` bytes, every later one at once.
    evil.cut(route('PATCH', /\/uploads\/[^/]+$/), 'request', firstCut, 1)
    evil.cut(route('PATCH', /\/uploads\/[^/]+$/), 'request', 0, 1000)
  }
  const r = await cli(A, ['--json', 'send', source], { env: { AIRLOCK_RETRY_SECONDS: '1' } })
  evil.reset()
  expect(r.code, r.stderr).toBe(8)
  const names = await readdir(join(A, 'outbox'))
  const states = names.filter((n) => n.endsWith('.json'))
  expect(states).toHaveLength(1)
  const entryPath = join(A, 'outbox', states[0]!)
  const entry = JSON.parse(await readFile(entryPath, 'utf8')) as {
    itemId: string
    stage: string
    boot?: string
    spoolFrom?: number
    ciphertextSize: number
  }
  expect(entry.stage).toBe('sealed')
  return { itemId: entry.itemId, entryPath, entry, spooled: names.includes(`${entry.itemId}.age`) }
}

/** `airlock resume` commits `itemId` itself, and the other device receives `source` intact. */
async function resumesAsSameItem(itemId: string, source: string): Promise<void> {
  const resumed = await cliJson<{ sent: { itemId: string }[] }>(A, ['resume'])
  expect(resumed.sent.map((s) => s.itemId)).toEqual([itemId])
  const got = await cliJson<{ path: string }>(B, ['get', itemId, '--out', join(dir, `same-${itemId}`)])
  expect(await sha256File(got.path)).toBe(await sha256File(source))
}

/** `airlock resume` sends `source` again as a new item, clears the outbox, and the other device receives it intact. */
async function resumesAsNewItem(itemId: string, source: string): Promise<void> {
  const resumed = await cliJson<{ sent: { itemId: string }[] }>(A, ['resume'])
  expect(resumed.sent).toHaveLength(1)
  const again = resumed.sent[0]!.itemId
  expect(again).not.toBe(itemId)
  expect(await readdir(join(A, 'outbox'))).toEqual([])
  const got = await cliJson<{ path: string }>(B, ['get', again, '--out', join(dir, `new-${again}`)])
  expect(await sha256File(got.path)).toBe(await sha256File(source))
}

const thisBoot = async () => (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()

describe('resuming a sealed upload', () => {
  it('commits the same item, with no spool file, when the server already holds the whole upload', async () => {
    // The upload kept up, so its ciphertext never went to disk; only the commit is missing.
    const { itemId, entry, spooled } = await leaveSealed('commit')
    expect(spooled).toBe(false)
    // The entry says so: no usable spool file.
    expect(entry.spoolFrom).toBe(entry.ciphertextSize)
    const resumed = await cliJson<{ sent: { itemId: string }[] }>(A, ['resume'])
    expect(resumed.sent.map((s) => s.itemId)).toEqual([itemId])
    expect(await readdir(join(A, 'outbox'))).toEqual([])
  })

  it('spools a failed upload to disk and resumes it as the same item within the same boot', async () => {
    const { itemId, entry, spooled } = await leaveSealed('upload')
    expect(spooled).toBe(true)
    expect(entry.boot).toBe(await thisBoot())
    expect(entry.spoolFrom).toBe(0)
    await resumesAsSameItem(itemId, file)
  })

  it('sends the source again, as a new item, after a reboot (the spool was not synced)', async () => {
    const { itemId, entryPath, entry } = await leaveSealed('upload')
    await writeFile(entryPath, JSON.stringify({ ...entry, boot: '00000000-0000-4000-8000-000000000000' }))
    await resumesAsNewItem(itemId, file)
  })

  describe('larger than what is kept in memory (the spool file starts past 0)', () => {
    let big: string
    beforeAll(async () => {
      big = join(dir, 'big.bin')
      await randomFile(big, 48 * 1024 * 1024)
    })

    it('resumes at the server offset from the spool file, as the same item', async () => {
      const { itemId, entry, spooled } = await leaveSealed('upload', big, 36_000_000)
      expect(spooled).toBe(true)
      expect(entry.spoolFrom).toBeGreaterThan(0)
      await resumesAsSameItem(itemId, big)
    })

    it('sends the source again when the server lost bytes older than the spool holds', async () => {
      const { itemId, entry } = await leaveSealed('upload', big, 36_000_000)
      // What a server losing unsynced bytes looks like: its staged blob is shorter than the spool's start.
      await truncate(join(dir, 'data', 'blobs', 'staging', itemId), 1000)
      expect(entry.spoolFrom).toBeGreaterThan(1000)
      await resumesAsNewItem(itemId, big)
    })
  })
})
