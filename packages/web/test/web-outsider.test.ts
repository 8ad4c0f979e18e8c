import { join } from 'node:path'
import {
  type Canonical,
  canonicalJson,
  decodeLogEntry,
  encryptBytes,
  MANIFEST_CONTEXT,
  type Manifest,
  signCanonical,
  toBase64Url,
  utf8,
} from '@airlock/core'
import Database from 'better-sqlite3'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cliJson,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import { deviceSecrets, pinnedLog } from '../../cli/test/evil-fixture.js'
import { createAccount, type Device, launch, openDevice, sendNote } from './harness.js'

// A stranger with an ordinary account on the same server (mallory) signs an item with her own,
// real device and the server lists it in Alice's own conversation. Alice's browser must refuse it
// because mallory is not in that conversation, and decide so *before* it fetches or pins
// mallory's device log: otherwise a server could make the browser pin any account it likes.

let server: ServerProcess
let dir: string
let browser: Browser
let web: Device
let mallory: { accountId: string; home: string }
const logRequests: string[] = []
const itemListings: string[] = []

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-outsider-')
  server = await startServer(dir)
  const home = join(dir, 'mallory')
  const m = await cliJson<{ accountId: string }>(
    home,
    [
      'setup',
      server.url,
      '--username',
      'mallory',
      '--name',
      'm-laptop',
      '--recovery-out',
      join(dir, 'm.txt'),
    ],
    { env: { AIRLOCK_CODE: server.setupCode! } },
  )
  mallory = { accountId: m.accountId, home }
  const { code } = await cliJson<{ code: string }>(home, ['invite'])
  browser = await launch()
  web = await openDevice(browser, server.url)
  web.page.on('request', (r) => {
    const path = new URL(r.url()).pathname
    if (path.startsWith(`/api/v1/accounts/${mallory.accountId}/log`)) logRequests.push(path)
    if (/^\/api\/v1\/conversations\/[^/]+\/items$/.test(path)) itemListings.push(path)
  })
  await createAccount(web.page, code, 'alice')
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

/** A manifest for `itemId` signed by mallory's real device and sealed to Alice's browser. */
async function forgedByMallory(itemId: string): Promise<Uint8Array> {
  const db = new Database(join(dir, 'airlock.db'))
  const row = db.prepare('SELECT conversation_id, sender_account_id FROM items WHERE id = ?').get(itemId) as {
    conversation_id: string
    sender_account_id: string
  }
  const entries = db
    .prepare('SELECT entry FROM device_log WHERE account_id = ? ORDER BY seq')
    .all(row.sender_account_id) as { entry: string }[]
  db.close()
  const alice = decodeLogEntry(JSON.parse(entries[0]!.entry)).device
  const signer = await deviceSecrets(mallory.home)
  const log = await pinnedLog(mallory.home)
  const manifest: Manifest = {
    v: 1,
    context: MANIFEST_CONTEXT,
    itemId,
    conversationId: row.conversation_id,
    filename: 'invoice.exe',
    type: 'application/octet-stream',
    mtime: 0,
    created: Date.now(),
    kind: 'file',
    sender: { accountId: mallory.accountId, deviceId: signer.record.id, logSeq: log.seq, logHead: log.head },
    recipients: [{ accountId: row.sender_account_id, deviceId: alice.id, logHead: log.head }],
    ciphertextSha256: toBase64Url(new Uint8Array(32)),
    ciphertextSize: 1000,
    plaintextSize: 10,
  }
  const m = manifest as unknown as Canonical
  return encryptBytes(
    [alice.recipient],
    utf8(canonicalJson({ manifest: m, sig: signCanonical(signer, MANIFEST_CONTEXT, m) })),
  )
}

/** The keys of this browser's IndexedDB store (pins are `dir:colleague:<account>`). */
function storedKeys(): Promise<string[]> {
  return web.page.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        const open = indexedDB.open('airlock')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const req = open.result.transaction('kv').objectStore('kv').getAllKeys()
          req.onsuccess = () => resolve(req.result.map(String))
          req.onerror = () => reject(req.error)
        }
      }),
  )
}

describe('an item signed by someone outside the conversation', () => {
  it('is refused without fetching or pinning the signer’s device log', async () => {
    await sendNote(web.page, 'quarterly figures')
    const note = web.page.locator('li.item', { hasText: 'quarterly figures' })
    await note.waitFor({ timeout: 30_000 })
    const id = (await note.getAttribute('data-item'))!
    const sealed = await forgedByMallory(id)
    const db = new Database(join(dir, 'airlock.db'))
    db.prepare('UPDATE items SET manifest = ? WHERE id = ?').run(Buffer.from(sealed), id)
    db.close()

    itemListings.length = 0
    await web.page.reload()
    const refused = web.page.locator(`li.item.refused[data-item="${id}"]`)
    await refused.waitFor({ timeout: 30_000 })
    expect(await web.page.getByText('invoice.exe').count()).toBe(0)
    // The worker's requests are seen (the listing that carried the forged item) ...
    expect(itemListings.length).toBeGreaterThan(0)
    // ... and none of them asked for mallory's device log, and nothing of hers is pinned.
    expect(logRequests).toEqual([])
    const keys = await storedKeys()
    expect(keys.some((k) => k.startsWith('dir:colleague:'))).toBe(false)
    expect(keys.filter((k) => k.includes(mallory.accountId))).toEqual([])
  })
})
