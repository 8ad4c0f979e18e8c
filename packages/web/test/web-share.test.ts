import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import { createAccount, type Device, item, launch, openDevice, sendFiles, sha256 } from './harness.js'

// Share links in Chromium: made from the signed-in app, opened by browsers with no account.

let server: ServerProcess
let dir: string
let browser: Browser
let alice: Device
const data = randomBytes(300_000)
const links: string[] = []

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-share-')
  server = await startServer(join(dir, 'data'))
  browser = await launch()
  alice = await openDevice(browser, server.url)
  await createAccount(alice.page, server.setupCode!, 'alice')
  await sendFiles(alice.page, [{ name: 'minutes.bin', mimeType: 'application/octet-stream', buffer: data }])
  await item(alice.page, 'minutes.bin').waitFor({ timeout: 60_000 })
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

async function makeLink(opts: { maxDownloads?: string; passphrase?: string }): Promise<string> {
  const page = alice.page
  await item(page, 'minutes.bin').getByRole('button', { name: 'Share link' }).click()
  if (opts.maxDownloads) await page.getByLabel('Maximum downloads (empty: unlimited)').fill(opts.maxDownloads)
  if (opts.passphrase) await page.getByLabel('Passphrase (optional)').fill(opts.passphrase)
  await page.getByRole('button', { name: 'Create link' }).click()
  const link = await page.getByTestId('share-link').inputValue({ timeout: 60_000 })
  await page.getByRole('button', { name: 'Done' }).click()
  links.push(link)
  return link
}

/** A browser with no account opens the link. */
async function visitor(link: string): Promise<Device> {
  return openDevice(browser, link)
}

async function downloadOnly(page: Page): Promise<Buffer> {
  const download = page.waitForEvent('download', { timeout: 120_000 })
  await page.getByRole('button', { name: 'Download' }).click()
  return readFile((await (await download).path())!)
}

describe('share links in the browser', () => {
  it('a link with a download limit opens in a browser with no account, then is gone', async () => {
    const link = await makeLink({ maxDownloads: '1' })
    expect(link).toMatch(new RegExp(`^${server.url}/s/[A-Za-z0-9_-]{22}#AGE-SECRET-KEY-1`))
    // The page is the app itself, under the same strict policy.
    const page = await fetch(link.split('#')[0]!)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(page.headers.get('referrer-policy')).toBe('no-referrer')
    expect(await page.text()).toContain('integrity=')
    const bob = await visitor(link)
    await bob.page.getByText('minutes.bin').waitFor({ timeout: 60_000 })
    expect(await bob.page.textContent('body')).toContain('1 download(s) left')
    expect(sha256(await downloadOnly(bob.page))).toBe(sha256(data))
    // The visitor's browser holds no account.
    expect(await bob.page.evaluate(async () => (await indexedDB.databases()).length)).toBe(0)
    expect(bob.problems).toEqual([])
    const again = await visitor(link)
    await again.page.getByTestId('share-error').waitFor({ timeout: 30_000 })
    expect(await again.page.getByTestId('share-error').textContent()).toMatch(
      /expired, was used up, or was revoked/,
    )
    await bob.context.close()
    await again.context.close()
  })

  it('a passphrase link asks for it, refuses a wrong one, and opens with the right one', async () => {
    const link = await makeLink({ passphrase: 'blue harbour 7' })
    expect(link).toMatch(/#P1\./)
    const carol = await visitor(link)
    await carol.page.getByLabel('Passphrase').fill('blue harbour')
    await carol.page.getByRole('button', { name: 'Unlock' }).click()
    await carol.page.getByTestId('share-error').waitFor({ timeout: 60_000 })
    expect(await carol.page.getByTestId('share-error').textContent()).toMatch(/wrong passphrase/)
    await carol.page.getByLabel('Passphrase').fill('blue harbour 7')
    await carol.page.getByRole('button', { name: 'Unlock' }).click()
    await carol.page.getByText('minutes.bin').waitFor({ timeout: 60_000 })
    expect(sha256(await downloadOnly(carol.page))).toBe(sha256(data))
    expect(carol.problems).toEqual([])
    await carol.context.close()
  })

  it('a wrong key is refused with a clear message; a revoked link is dead', async () => {
    const link = await makeLink({})
    const broken = await visitor(`${link.split('#')[0]}#AGE-SECRET-KEY-1${'Q'.repeat(58)}`)
    await broken.page.getByTestId('share-error').waitFor({ timeout: 30_000 })
    expect(await broken.page.getByTestId('share-error').textContent()).toMatch(/copy the whole link/)
    await broken.context.close()

    await alice.page.goto(`${server.url}/#links`)
    const shareId = link.split('/s/')[1]!.split('#')[0]!
    const row = alice.page.locator(`li[data-share="${shareId}"]`)
    await row.getByRole('button', { name: 'Revoke' }).click()
    await alice.page.locator(`li[data-share="${shareId}"][data-state="revoked"]`).waitFor({ timeout: 30_000 })
    const dave = await visitor(link)
    await dave.page.getByTestId('share-error').waitFor({ timeout: 30_000 })
    expect(await dave.page.getByTestId('share-error').textContent()).toMatch(/revoked/)
    await dave.context.close()
  })

  it('no link key ever reached the server (request log scanned)', () => {
    const log = server.output()
    expect(log).toMatch(/"path":"\/s\//)
    expect(links).toHaveLength(3)
    for (const link of links) {
      const fragment = link.split('#')[1]!
      expect(log).not.toContain(fragment)
      expect(log).not.toContain(fragment.slice(-30))
    }
    expect(log).not.toContain('blue harbour')
  })
})
