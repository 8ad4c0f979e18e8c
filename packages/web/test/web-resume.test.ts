import { randomBytes } from 'node:crypto'
import type { Browser, Route } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import {
  createAccount,
  type Device,
  item,
  launch,
  openDevice,
  saveItem,
  sendFiles,
  sha256,
} from './harness.js'

// An upload cut off by a page reload resumes from the server's offset after the reload, from the
// ciphertext spooled in the browser's private storage: nothing is encrypted or sent twice.

let server: ServerProcess
let dir: string
let browser: Browser
let web: Device

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-resume-')
  server = await startServer(dir)
  browser = await launch()
  web = await openDevice(browser, server.url)
  await createAccount(web.page, server.setupCode!, 'dave')
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

describe('resumable uploads in the browser', () => {
  it('a reload in the middle of an upload resumes it and the item arrives intact', async () => {
    const { page } = web
    const data = randomBytes(24 * 1024 * 1024)
    let patches = 0
    let hold = true
    const held: Route[] = []
    let firstDone!: () => void
    const firstPatchDone = new Promise<void>((r) => {
      firstDone = r
    })
    // Let the first 16 MiB chunk through, then hold the next PATCH until the page is reloaded.
    await page.route('**/api/v1/uploads/**', async (route) => {
      if (route.request().method() !== 'PATCH') return route.continue()
      if (patches++ === 0) {
        await route.fulfill({ response: await route.fetch() })
        firstDone()
      } else if (hold) held.push(route)
      else await route.continue()
    })
    await sendFiles(page, [{ name: 'big.bin', mimeType: 'application/octet-stream', buffer: data }])
    await firstPatchDone
    await expect.poll(() => held.length, { timeout: 60_000 }).toBe(1)

    const offsets: number[] = []
    page.on('request', (r) => {
      if (r.method() === 'PATCH' && r.url().includes('/api/v1/uploads/'))
        offsets.push(Number(r.headers()['upload-offset']))
    })
    // The held request never completes, so the old page sends no further PATCH.
    hold = false
    await page.reload()
    for (const r of held) await r.abort().catch(() => {})
    await item(page, 'big.bin').waitFor({ timeout: 120_000 })
    expect(offsets.length).toBeGreaterThan(0)
    // It continued from where the server's stored bytes ended, not from zero.
    expect(offsets[0]).toBeGreaterThanOrEqual(16 * 1024 * 1024)
    expect(sha256(await saveItem(page, 'big.bin'))).toBe(sha256(data))
  })
})
