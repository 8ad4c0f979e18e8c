import { randomBytes } from 'node:crypto'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import {
  approveByCode,
  createAccount,
  type Device,
  item,
  launch,
  openDevice,
  PHONE,
  saveItem,
  screenshot,
  sendFiles,
  sendNote,
  sha256,
  startLinking,
} from './harness.js'

// Two browser profiles as two devices of one account: set up, link by code, send notes and
// files from one and see them arrive at once on the other, verified byte for byte.

let server: ServerProcess
let dir: string
let browser: Browser
let a: Device
let b: Device

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-')
  server = await startServer(dir)
  browser = await launch()
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

describe('web app with two browser devices', () => {
  it('sets up an account in the first browser', async () => {
    a = await openDevice(browser, server.url)
    await screenshot(a.page, 'welcome-desktop')
    await createAccount(a.page, server.setupCode!, 'alice')
    expect(await a.page.locator('.who').textContent()).toBe('alice')
  })

  it('links a second browser by code after both show the same confirmation code', async () => {
    b = await openDevice(browser, server.url, PHONE)
    const code = await startLinking(b.page, 'Phone browser')
    expect(code).toMatch(/^\d{4}-\d{4}-\d{4}$/)
    await screenshot(b.page, 'link-code-phone')
    await approveByCode(a.page, code, b.page)
    await b.page.getByLabel('Note', { exact: true }).waitFor({ timeout: 30_000 })
    await a.page.goto(`${server.url}/#devices`)
    await expect.poll(() => a.page.locator('li.device').count(), { timeout: 15_000 }).toBe(2)
    await a.page.locator('li.device', { hasText: 'Phone browser' }).waitFor()
    await screenshot(a.page, 'devices-desktop')
    // Both browsers verified the same device log.
    const fa = await a.page.getByTestId('log-fingerprint').textContent()
    await b.page.goto(`${server.url}/#devices`)
    expect(await b.page.getByTestId('log-fingerprint').textContent()).toBe(fa)
    await screenshot(b.page, 'devices-phone')
    await b.page.goto(`${server.url}/#settings`)
    await b.page.getByRole('button', { name: 'Export' }).waitFor()
    await screenshot(b.page, 'settings-phone')
    await b.page.goto(`${server.url}/#timeline`)
    await a.page.goto(`${server.url}/#timeline`)
  })

  it('a note from one browser appears in the other without a reload', async () => {
    await sendNote(a.page, 'hello from the desktop')
    await b.page.locator('.item .note', { hasText: 'hello from the desktop' }).waitFor({ timeout: 15_000 })
    await sendNote(b.page, 'and back from the phone')
    await a.page.locator('.item .note', { hasText: 'and back from the phone' }).waitFor({ timeout: 15_000 })
  })

  it('a 5 MiB file arrives and downloads byte-identical', async () => {
    const data = randomBytes(5 * 1024 * 1024)
    await sendFiles(a.page, [{ name: 'report.bin', mimeType: 'application/octet-stream', buffer: data }])
    await item(b.page, 'report.bin').waitFor({ timeout: 60_000 })
    await expect
      .poll(() => item(b.page, 'report.bin').textContent(), { timeout: 15_000 })
      .toContain('5.0 MiB')
    const got = await saveItem(b.page, 'report.bin')
    expect(got.length).toBe(data.length)
    expect(sha256(got)).toBe(sha256(data))
  })

  it('several files at once arrive, each intact', async () => {
    const files = [1, 2, 3].map((i) => ({
      name: `photo-${i}.dat`,
      mimeType: 'application/octet-stream',
      buffer: randomBytes(100_000 * i + 7),
    }))
    await sendFiles(b.page, files)
    for (const f of files) {
      await item(a.page, f.name).waitFor({ timeout: 60_000 })
      expect(sha256(await saveItem(a.page, f.name))).toBe(sha256(f.buffer))
    }
    await screenshot(a.page, 'timeline-desktop')
    await screenshot(b.page, 'timeline-phone')
  })

  it('warns before saving a program disguised by its name', async () => {
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), randomBytes(2000)])
    await sendFiles(a.page, [{ name: 'holiday.jpg', mimeType: 'image/jpeg', buffer: elf }])
    await item(b.page, 'holiday.jpg').waitFor({ timeout: 30_000 })
    await item(b.page, 'holiday.jpg').getByRole('button', { name: 'Save' }).click()
    const dialog = b.page.getByRole('dialog')
    await expect
      .poll(() => dialog.textContent(), { timeout: 15_000 })
      .toContain('This file is a Linux program')
    await screenshot(b.page, 'risk-warning-phone')
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    // A name that says "program" is flagged in the timeline before anything is downloaded.
    await sendFiles(a.page, [
      { name: 'setup.exe', mimeType: 'application/octet-stream', buffer: randomBytes(300) },
    ])
    await expect
      .poll(() => item(b.page, 'setup.exe').locator('.risk').textContent(), { timeout: 15_000 })
      .toContain('programs')
    const got = await saveItem(b.page, 'setup.exe', { acceptRisk: true })
    expect(got.length).toBe(300)
  })

  it('previews a small image only after it verified', async () => {
    // A 1×1 PNG.
    const png = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==',
      'base64',
    )
    await sendFiles(a.page, [{ name: 'dot.png', mimeType: 'image/png', buffer: png }])
    await item(b.page, 'dot.png').waitFor({ timeout: 30_000 })
    await item(b.page, 'dot.png').getByRole('button', { name: 'Preview' }).click()
    const img = item(b.page, 'dot.png').locator('img.preview')
    await img.waitFor({ timeout: 30_000 })
    await expect.poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBe(1)
    expect(await img.getAttribute('src')).toMatch(/^blob:/)
  })

  it('deleting an item removes it from every device', async () => {
    await item(a.page, 'photo-1.dat')
      .getByRole('button', { name: /^Delete/ })
      .click()
    await expect.poll(() => item(b.page, 'photo-1.dat').count(), { timeout: 15_000 }).toBe(0)
  })

  it('removing a device cuts that browser off at once; its keys go only when the person says so', async () => {
    await a.page.goto(`${server.url}/#devices`)
    await a.page
      .locator('li.device', { hasText: 'Phone browser' })
      .getByRole('button', { name: 'Remove' })
      .click()
    await a.page.getByRole('dialog').getByRole('button', { name: 'Remove device' }).click()
    await expect.poll(() => a.page.locator('li.device').count(), { timeout: 15_000 }).toBe(1)
    // The removed browser cannot verify its removal (it can no longer read the log), so it says
    // plainly that the server refuses it and keeps its keys until the person forgets them. Not
    // red: red is only for what fails verification, and a refused login verified nothing.
    const refused = b.page.locator('.banner:not(.security)', { hasText: 'refused this device' })
    await refused.waitFor({ timeout: 30_000 })
    await b.page.reload()
    await refused.waitFor({ timeout: 30_000 })
    await b.page.getByRole('button', { name: 'Forget this browser' }).click()
    await b.page.getByRole('button', { name: 'Create an account' }).waitFor({ timeout: 30_000 })
  })

  it('left no page errors and no Content-Security-Policy violations', () => {
    expect(a.problems).toEqual([])
    expect(b.problems.filter((p) => !/refused this device|removed/.test(p))).toEqual([])
  })
})
