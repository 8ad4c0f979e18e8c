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
  createAccount,
  type Device,
  item,
  launch,
  openDevice,
  screenshot,
  sendFiles,
  sendNote,
} from './harness.js'

// The Admin page, sensitivity labels and policy refusals in Chromium: an administrator's browser
// and an ordinary account's browser against the real server.

let server: ServerProcess
let dir: string
let browser: Browser
let admin: Device
let bob: Device

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-admin-')
  server = await startServer(dir)
  browser = await launch()
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

const adminPage = () => admin.page
const row = (user: string) => adminPage().locator(`tr[data-user="${user}"]`)

describe('web administration and labels', () => {
  it('an administrator sees the Admin page and invites a new account from it', async () => {
    admin = await openDevice(browser, server.url)
    await createAccount(admin.page, server.setupCode!, 'alice')
    await admin.page.getByRole('link', { name: 'Admin' }).click()
    await admin.page.getByRole('heading', { name: 'Organisation policy' }).waitFor()
    await admin.page.getByRole('button', { name: 'Make an invite code' }).click()
    const code = (await admin.page.getByTestId('invite-code').textContent())!.trim()
    bob = await openDevice(browser, server.url)
    await createAccount(bob.page, code, 'bob')
    // Ordinary accounts have no Admin page.
    await bob.page.getByRole('link', { name: 'Settings' }).waitFor()
    expect(await bob.page.getByRole('link', { name: 'Admin' }).count()).toBe(0)
    await admin.page.reload()
    await row('bob').waitFor({ timeout: 15_000 })
    expect(await row('alice').textContent()).toContain('(admin)')
  })

  it('changes the policy with the form, and it is what the server enforces', async () => {
    const p = adminPage()
    await p.getByLabel('Share links allowed', { exact: true }).uncheck()
    await p.getByLabel('Who may invite').selectOption('everyone')
    await p.getByLabel('Secret: keep at most (days)').fill('1')
    await p.getByLabel('New label').fill('Board Only')
    await p.getByRole('button', { name: 'Add label' }).click()
    await p.getByRole('button', { name: 'Save policy' }).click()
    await p.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
    await screenshot(p, 'admin-desktop')
    await p.reload()
    await p.getByRole('heading', { name: 'Organisation policy' }).waitFor()
    expect(await p.getByLabel('Share links allowed', { exact: true }).isChecked()).toBe(false)
    expect(await p.getByLabel('Who may invite').inputValue()).toBe('everyone')
    expect(await p.getByLabel('Secret: keep at most (days)').inputValue()).toBe('1')
    await p.locator('tr[data-label="Board Only"]').waitFor()
    const policy = await fetch(`${server.url}/api/v1/policy`)
    expect(policy.status).toBe(401)
  })

  it('labels: a picker when sending, a badge on the item, retention from the label', async () => {
    const p = bob.page
    await p.getByLabel('Sensitivity label').selectOption('Secret')
    await sendNote(p, 'the vault code')
    const labelled = p.locator('li.item[data-label="Secret"]')
    await labelled.waitFor({ timeout: 30_000 })
    expect(await labelled.locator('.label-badge').textContent()).toMatch(/^Secret · deleted /)
    expect(await labelled.locator('.note').textContent()).toBe('the vault code')
    await p.getByLabel('Sensitivity label').selectOption('')
    await sendNote(p, 'lunch at noon')
    const plain = p.locator('li.item', { hasText: 'lunch at noon' })
    await plain.waitFor({ timeout: 30_000 })
    expect(await plain.locator('.label-badge').count()).toBe(0)
    await screenshot(p, 'label-badge-desktop')
  })

  it('a send the policy refuses shows a clear banner', async () => {
    const p = bob.page
    // Bob's page loads the policy with Board Only, which the administrator then removes.
    await p.reload()
    await p.getByLabel('Note', { exact: true }).waitFor({ timeout: 30_000 })
    await p.getByLabel('Sensitivity label').selectOption('Board Only')
    const a = adminPage()
    await a.locator('tr[data-label="Board Only"]').getByRole('button', { name: 'Remove' }).click()
    await a.getByRole('button', { name: 'Save policy' }).click()
    await a.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
    await sendNote(p, 'for the board')
    const banner = p.getByRole('alert').filter({ hasText: 'policy' })
    await banner.waitFor({ timeout: 30_000 })
    expect(await banner.textContent()).toMatch(/organisation’s policy does not allow this/)
    expect(await p.locator('li.item', { hasText: 'for the board' }).count()).toBe(0)
  })

  it('sets a quota and disables an account, which is then locked out; enabling lets it back', async () => {
    const a = adminPage()
    await a.getByLabel('bob: quota (MiB, empty: default)').fill('5')
    await row('bob').getByRole('button', { name: 'Set' }).click()
    await expect.poll(() => row('bob').locator('input').inputValue()).toBe('5')
    await row('bob').getByRole('button', { name: 'Disable' }).click()
    await row('bob').getByText('Disabled').waitFor()
    expect(await row('alice').getByRole('button', { name: 'Disable' }).count()).toBe(0)
    await bob.page.reload()
    await bob.page
      .getByRole('alert')
      .filter({ hasText: 'disabled this account' })
      .waitFor({ timeout: 30_000 })
    await row('bob').getByRole('button', { name: 'Enable' }).click()
    await row('bob').getByText('Active').waitFor()
    await bob.page.reload()
    await bob.page.locator('li.item', { hasText: 'lunch at noon' }).waitFor({ timeout: 30_000 })
    expect(admin.problems.filter((x) => !/40[13]/.test(x))).toEqual([])
  })
})

describe("every account's share links on the Admin page (issue 18, hole 5)", () => {
  it("lists bob's link as metadata, suspends it while bob is disabled, and revokes it", async () => {
    const a = adminPage()
    // Share links were switched off by the policy test above.
    await a.getByLabel('Share links allowed', { exact: true }).check()
    await a.getByRole('button', { name: 'Save policy' }).click()
    await a.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
    const p = bob.page
    await p.reload()
    await sendFiles(p, [
      { name: 'plan.bin', mimeType: 'application/octet-stream', buffer: randomBytes(5000) },
    ])
    await item(p, 'plan.bin').getByRole('button', { name: 'Share link' }).click({ timeout: 60_000 })
    await p.getByRole('button', { name: 'Create link' }).click()
    const link = await p.getByTestId('share-link').inputValue({ timeout: 60_000 })
    await p.getByRole('button', { name: 'Done' }).click()
    const shareId = /\/s\/([A-Za-z0-9_-]{22})#/.exec(link)![1]!
    const publicInfo = () => fetch(`${server.url}/api/v1/public/shares/${shareId}`)

    await a.reload()
    const share = a.locator(`tr[data-share="${shareId}"]`)
    await share.waitFor({ timeout: 15_000 })
    expect(await share.getAttribute('data-owner')).toBe('bob')
    expect(await share.textContent()).toContain('Active')
    expect(await share.textContent()).not.toContain('plan.bin')

    await row('bob').getByRole('button', { name: 'Disable' }).click()
    await share.getByText('Suspended').waitFor()
    const suspended = await publicInfo()
    expect(suspended.status).toBe(410)
    expect(((await suspended.json()) as { error: { code: string } }).error.code).toBe('SHARE_SUSPENDED')

    await row('bob').getByRole('button', { name: 'Enable' }).click()
    await share.getByText('Active').waitFor()
    expect((await publicInfo()).status).toBe(200)
    await share.getByRole('button', { name: 'Revoke' }).click()
    await share.getByText('Revoked').waitFor()
    const revoked = await publicInfo()
    expect(revoked.status).toBe(410)
    expect(((await revoked.json()) as { error: { code: string } }).error.code).toBe('GONE')
  })
})
