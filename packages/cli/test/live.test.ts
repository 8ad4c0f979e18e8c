import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  CliProcess,
  cliJson,
  randomFile,
  removeDir,
  sha256File,
  tempDir,
} from '../../../test-support/harness.js'
import { linkDevice, setupAccount } from './evil-fixture.js'
import { EvilServer, route } from './evil-server.js'

// Receiving while the sender is still uploading: `airlock watch` follows an announced upload
// (GET /items/:id/live), decrypts it into a hidden temporary file and releases it only once the
// item is committed and its signed manifest and hash verify. Whatever goes wrong with the followed
// bytes, the item is downloaded again the ordinary way; nothing unverified is ever left behind.

let dir: string
let evil: EvilServer
let A: string
let B: string
let phoneId: string
let watch: CliProcess | null = null
const MiB = 1024 * 1024

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-live-')
  evil = await EvilServer.start(join(dir, 'data'))
  A = join(dir, 'home-a')
  B = join(dir, 'home-b')
  await setupAccount(evil, A, 'alice', evil.setupCode!)
  phoneId = (await linkDevice(evil, A, B, 'alice-phone')).deviceId
})

afterEach(async () => {
  evil.reset()
  if (watch) {
    watch.proc.kill('SIGTERM')
    await watch.exited
    watch = null
  }
})

afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

/** Starts `airlock watch` on the phone and waits until it receives a note (it is connected). */
async function startWatch(inbox: string): Promise<CliProcess> {
  watch = new CliProcess(B, ['--json', 'watch', '--dir', inbox])
  await cliJson(A, ['note', `ready ${inbox}`])
  await watch.waitFor(/"kind":"note"/, 30_000)
  return watch
}

async function sendAndReceive(w: CliProcess, name: string, size: number) {
  const file = join(dir, name)
  await randomFile(file, size)
  const sent = await cliJson<{ sent: { itemId: string }[] }>(A, ['send', file])
  const itemId = sent.sent[0]!.itemId
  await w.waitFor(new RegExp(`"event":"received","itemId":"${itemId}"`), 60_000)
  const event = w.events().find((e) => e.event === 'received' && e.itemId === itemId)!
  expect(await sha256File(event.path as string)).toBe(await sha256File(file))
  return { itemId, event }
}

/** The phone's downloads of an item, from the verified access log (as its sender sees it). */
async function phoneDownloads(itemId: string): Promise<number> {
  const listed = await cliJson<{ accesses: { deviceId: string | null }[] }>(A, ['accesses', itemId])
  return listed.accesses.filter((a) => a.deviceId === phoneId).length
}

async function leftovers(inbox: string): Promise<string[]> {
  return (await readdir(inbox)).filter((n) => n.startsWith('.airlock-'))
}

describe('receiving while the upload is still arriving', () => {
  it('saves a 24 MiB item that was followed while uploading, downloading it only once', async () => {
    const inbox = join(dir, 'inbox-1')
    const w = await startWatch(inbox)
    const followed: { deviceId: string | null; status: number; bytes: number }[] = []
    evil.tamper(route('GET', /\/items\/[^/]+\/live$/), (q, res) => {
      followed.push({ deviceId: q.deviceId, status: res.status, bytes: res.body.length })
      return undefined
    })
    const { itemId, event } = await sendAndReceive(w, 'big.bin', 24 * MiB)
    expect(event).toMatchObject({ name: 'big.bin', size: 24 * MiB })
    expect(followed).toEqual([{ deviceId: phoneId, status: 200, bytes: expect.any(Number) }])
    expect(followed[0]!.bytes).toBeGreaterThan(24 * MiB)
    // One download: the followed one; no second, ordinary download after the commit.
    expect(await phoneDownloads(itemId)).toBe(1)
    expect(await leftovers(inbox)).toEqual([])
  })

  it('downloads again, and saves the real item, when the followed bytes were altered', async () => {
    const inbox = join(dir, 'inbox-2')
    const w = await startWatch(inbox)
    evil.tamper(route('GET', /\/items\/[^/]+\/live$/), (_q, res) => {
      const body = Buffer.from(res.body)
      body[body.length - 100]! ^= 1
      return { ...res, body }
    })
    const { itemId } = await sendAndReceive(w, 'altered.bin', 3 * MiB)
    expect(evil.stats.tampered).toBeGreaterThan(0)
    expect(await phoneDownloads(itemId)).toBe(2)
    expect(await leftovers(inbox)).toEqual([])
  })

  it('downloads again when the followed bytes are another item’s, or the stream breaks off', async () => {
    const inbox = join(dir, 'inbox-3')
    const w = await startWatch(inbox)
    const first = join(dir, 'first.bin')
    await randomFile(first, 2 * MiB)
    const firstId = (await cliJson<{ sent: { itemId: string }[] }>(A, ['send', first])).sent[0]!.itemId
    await w.waitFor(new RegExp(`"itemId":"${firstId}"`), 60_000)
    // Another item's ciphertext (same size class) in place of this one's.
    let other: Buffer | null = null
    evil.tamper(route('GET', new RegExp(`/items/${firstId}/blob$`)), (_q, res) => {
      other = res.body
      return undefined
    })
    await cliJson(A, ['get', firstId, '--out', join(dir, 'peek')])
    expect(other).not.toBeNull()
    const swap = evil.tamper(route('GET', /\/items\/[^/]+\/live$/), (_q, res) => ({ ...res, body: other! }))
    const swapped = await sendAndReceive(w, 'second.bin', 2 * MiB)
    expect(await phoneDownloads(swapped.itemId)).toBe(2)
    swap()
    evil.cut(route('GET', /\/items\/[^/]+\/live$/), 'response', 500_000)
    const cut = await sendAndReceive(w, 'third.bin', 2 * MiB)
    expect(await phoneDownloads(cut.itemId)).toBe(2)
    expect(await leftovers(inbox)).toEqual([])
  })
})
