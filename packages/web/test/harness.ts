import { createHash } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { expect } from 'vitest'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../../chromium.mjs'

/**
 * The web app in Debian's Chromium (playwright-core, never a downloaded browser), one browser
 * context per device, against the real server process (test-support/harness.ts).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
export const WEB_DIST = join(ROOT, 'packages/web/dist')
export const SCREENSHOTS = join(ROOT, 'packages/web/test-results/screenshots')

export { CHROMIUM_ARGS, CHROMIUM_PATH }

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] })
}

export interface Device {
  context: BrowserContext
  page: Page
  /** Console errors, page errors and CSP violations seen so far. */
  problems: string[]
}

export const PHONE = { width: 390, height: 844 }
export const DESKTOP = { width: 1280, height: 800 }

/** A fresh browser profile (a new device) on the app. */
export async function openDevice(browser: Browser, url: string, viewport = DESKTOP): Promise<Device> {
  const context = await browser.newContext({ viewport, acceptDownloads: true })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  page.on('console', (m) => {
    if (process.env.AIRLOCK_WEB_DEBUG) console.log(`[${viewport.width}] ${m.type()}: ${m.text()}`)
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text()))
      problems.push(`console: ${m.text()}`)
  })
  await page.goto(url)
  return { context, page, problems }
}

export async function createAccount(page: Page, code: string, username: string): Promise<void> {
  await page.getByRole('button', { name: 'Create an account' }).click()
  await page.getByLabel('Invite or setup code').fill(code)
  await page.getByLabel('Username').fill(username)
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.getByLabel('Note', { exact: true }).waitFor({ timeout: 30_000 })
}

/** The new device's side up to showing its short code; returns the code. */
export async function startLinking(page: Page, name?: string): Promise<string> {
  await page.getByRole('button', { name: 'Link this browser to my account' }).click()
  if (name) await page.getByLabel('Name of this device').fill(name)
  await page.getByRole('button', { name: 'Show linking code' }).click()
  return (await page.getByTestId('link-code').textContent({ timeout: 30_000 }))!.trim()
}

/**
 * Links `newPage` (showing `code`) from `existing`: both show the same confirmation code, the new
 * device confirms it matches, then the existing device approves after checking it again.
 */
export async function approveByCode(existing: Page, code: string, newPage: Page): Promise<void> {
  await existing.goto(`${new URL(existing.url()).origin}/#devices`)
  await existing.getByLabel('Code from the new device').fill(code)
  await existing.getByRole('button', { name: 'Add', exact: true }).click()
  await confirmOnBoth(existing, newPage)
}

/** The confirmation-code comparison on both devices, once the keys agreed. */
export async function confirmOnBoth(existing: Page, newPage: Page): Promise<void> {
  const agreed = (await existing.getByTestId('agreed-fingerprint').textContent({ timeout: 30_000 }))!.trim()
  const other = (await newPage.getByTestId('link-fingerprint').textContent({ timeout: 30_000 }))!.trim()
  expect(other).toBe(agreed)
  await newPage.getByRole('button', { name: 'The codes match' }).click()
  const shown = (await existing.getByTestId('confirm-fingerprint').textContent({ timeout: 30_000 }))!.trim()
  expect(shown).toBe(agreed)
  await existing.getByRole('button', { name: 'Add device' }).click()
  await existing.getByText(/^Added “/).waitFor({ timeout: 30_000 })
}

export async function sendNote(page: Page, text: string): Promise<void> {
  await page.getByLabel('Note', { exact: true }).fill(text)
  await page.getByRole('button', { name: 'Send' }).click()
}

export async function sendFiles(
  page: Page,
  files: { name: string; mimeType: string; buffer: Buffer }[],
): Promise<void> {
  await page.locator('input[type=file]').setInputFiles(files)
}

export function item(page: Page, name: string) {
  return page.locator(`li.item[data-name="${name}"]`)
}

/** Clicks Save on an item and returns the downloaded bytes (after the risk dialog, if any). */
export async function saveItem(
  page: Page,
  name: string,
  opts: { acceptRisk?: boolean } = {},
): Promise<Buffer> {
  const download = page.waitForEvent('download', { timeout: 120_000 })
  await item(page, name).getByRole('button', { name: 'Save' }).click()
  if (opts.acceptRisk) await page.getByRole('button', { name: 'Save anyway' }).click()
  const d = await download
  return readFile((await d.path())!)
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) })
}
