import { randomBytes } from 'node:crypto'
import { copyFile, open } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import { createAccount, type Device, item, launch, openDevice, sendFiles, sendNote } from './harness.js'

// The server's storage is changed behind the app's back (what a malicious or broken server could
// serve): the browser refuses every such item with a clear message and saves nothing.

let server: ServerProcess
let dir: string
let browser: Browser
let web: Device
let downloads = 0
const ids: Record<string, string> = {}

const blobPath = (id: string) => join(dir, 'blobs', 'blobs', id.slice(0, 2), id)

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-tamper-')
  server = await startServer(dir)
  browser = await launch()
  web = await openDevice(browser, server.url)
  web.page.on('download', () => downloads++)
  await createAccount(web.page, server.setupCode!, 'erin')
  const names = ['flipped.bin', 'swapped.bin', 'donor.bin', 'renamed.bin']
  await sendFiles(
    web.page,
    names.map((name) => ({ name, mimeType: 'application/octet-stream', buffer: randomBytes(300_000) })),
  )
  for (const name of names) {
    await item(web.page, name).waitFor({ timeout: 60_000 })
    ids[name] = (await item(web.page, name).getAttribute('data-item'))!
  }
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

/** Clicks Save and returns the failure the transfer list shows. */
async function refusedSave(name: string): Promise<string> {
  const before = downloads
  await item(web.page, name).getByRole('button', { name: 'Save' }).click()
  const failed = web.page.locator(`li.transfer[data-phase="failed"][data-name="${name}"]`)
  await failed.waitFor({ timeout: 30_000 })
  await new Promise((r) => setTimeout(r, 500))
  expect(downloads).toBe(before)
  return (await failed.locator('.error').textContent()) ?? ''
}

describe('a tampered item is refused in the browser', () => {
  it('one flipped ciphertext bit: refused, nothing saved', async () => {
    const fh = await open(blobPath(ids['flipped.bin']!), 'r+')
    const b = Buffer.alloc(1)
    await fh.read(b, 0, 1, 150_000)
    b[0]! ^= 0x01
    await fh.write(b, 0, 1, 150_000)
    await fh.close()
    expect(await refusedSave('flipped.bin')).toContain('does not match what the sender signed')
    await expect.poll(() => web.page.locator('.banner.security').count()).toBe(1)
  })

  it('another item’s blob served in its place: refused (SECURITY-TESTS 9)', async () => {
    await copyFile(blobPath(ids['donor.bin']!), blobPath(ids['swapped.bin']!))
    expect(await refusedSave('swapped.bin')).toContain('does not match what the sender signed')
  })

  it('another item’s manifest under this item’s id: the timeline shows it refused', async () => {
    const db = new Database(join(dir, 'airlock.db'))
    const donor = db.prepare('SELECT manifest FROM items WHERE id = ?').get(ids['donor.bin']) as {
      manifest: Buffer
    }
    db.prepare('UPDATE items SET manifest = ? WHERE id = ?').run(donor.manifest, ids['renamed.bin'])
    db.close()
    await web.page.reload()
    const refused = web.page.locator(`li.item.refused[data-item="${ids['renamed.bin']}"]`)
    await refused.waitFor({ timeout: 30_000 })
    expect(await refused.textContent()).toContain('another id')
    expect(await item(web.page, 'renamed.bin').count()).toBe(0)
  })

  it('a sensitivity label the server strips or changes: the timeline shows the item refused', async () => {
    await web.page.getByLabel('Sensitivity label').selectOption('Confidential')
    await sendNote(web.page, 'merger terms')
    const labelled = web.page.locator('li.item[data-label="Confidential"]', { hasText: 'merger terms' })
    await labelled.waitFor({ timeout: 30_000 })
    const id = (await labelled.getAttribute('data-item'))!
    for (const forged of [null, 'Internal']) {
      const db = new Database(join(dir, 'airlock.db'))
      db.prepare('UPDATE items SET sensitivity = ? WHERE id = ?').run(forged, id)
      db.close()
      await web.page.reload()
      const refused = web.page.locator(`li.item.refused[data-item="${id}"]`)
      await refused.waitFor({ timeout: 30_000 })
      expect(await refused.textContent()).toContain('changed this item’s sensitivity label')
      expect(await web.page.getByText('merger terms').count()).toBe(0)
    }
  })
})
