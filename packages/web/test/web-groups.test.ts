import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { createGenesis, encodeLogEntry, entryHash, generateDevice } from '@airlock/core'
import Database from 'better-sqlite3'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cliJson,
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

// Three accounts in the browser (alice with two browsers, bob, carol): a direct conversation both
// ways with the safety fingerprint compared against the colleague's own Devices page, and a group
// whose removed member gets nothing sent after the removal.

let server: ServerProcess
let dir: string
let browser: Browser
let a1: Device
let a2: Device
let bob: Device
let carol: Device

const note = (page: Page, text: string) => page.locator('.item .note', { hasText: text })

function chat(page: Page, title: string) {
  return page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: title })
}

async function openChat(page: Page, title: string): Promise<void> {
  await chat(page, title).click({ timeout: 30_000 })
  await page
    .getByRole('navigation', { name: 'Conversations' })
    .locator('button[aria-current="true"]', { hasText: title })
    .waitFor()
  await page.getByLabel('Note', { exact: true }).waitFor()
}

/** New conversation with `username`: the existing one if there is one (it must not be duplicated). */
async function startDirect(page: Page, username: string): Promise<void> {
  await page.getByRole('button', { name: 'New conversation' }).click()
  await page.getByLabel('Colleague’s username').fill(username)
  await page.getByRole('button', { name: 'Start conversation' }).click()
  await chat(page, username).waitFor({ timeout: 30_000 })
  expect(await page.locator('nav .chat').count()).toBe(2)
  await page.getByLabel('Note', { exact: true }).waitFor()
}

/** The safety fingerprint of the person's own device list, from their Devices page. */
async function ownFingerprint(page: Page): Promise<string> {
  await page.goto(`${new URL(page.url()).origin}/#devices`)
  const fp = (await page.getByTestId('log-fingerprint').textContent({ timeout: 30_000 }))!.trim()
  await page.goto(`${new URL(page.url()).origin}/#timeline`)
  return fp
}

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-groups-')
  server = await startServer(join(dir, 'data'))
  // An administrator on the command line invites the three people.
  const admin = join(dir, 'admin')
  await cliJson(
    admin,
    [
      'setup',
      server.url,
      '--username',
      'admin',
      '--name',
      'admin-laptop',
      '--recovery-out',
      join(dir, 'r.txt'),
    ],
    { env: { AIRLOCK_CODE: server.setupCode! } },
  )
  const codes = []
  for (let i = 0; i < 3; i++) codes.push((await cliJson<{ code: string }>(admin, ['invite'])).code)
  browser = await launch()
  a1 = await openDevice(browser, server.url)
  bob = await openDevice(browser, server.url)
  carol = await openDevice(browser, server.url, PHONE)
  await createAccount(a1.page, codes[0]!, 'alice')
  await createAccount(bob.page, codes[1]!, 'bob')
  await createAccount(carol.page, codes[2]!, 'carol')
  a2 = await openDevice(browser, server.url, PHONE)
  const code = await startLinking(a2.page, 'Alice phone')
  await approveByCode(a1.page, code, a2.page)
  await a2.page.getByLabel('Note', { exact: true }).waitFor({ timeout: 30_000 })
  await a1.page.goto(`${server.url}/#timeline`)
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

describe('colleagues and groups in the web app', () => {
  it('a direct conversation shows the colleague’s own safety fingerprint and can be marked verified', async () => {
    const bobsOwn = await ownFingerprint(bob.page)
    await a1.page.getByRole('button', { name: 'New conversation' }).click()
    await a1.page.getByLabel('Colleague’s username').fill('bob')
    await a1.page.getByRole('button', { name: 'Start conversation' }).click()
    const shown = (await a1.page
      .getByTestId('colleague-fingerprint')
      .textContent({ timeout: 30_000 }))!.trim()
    expect(shown).toBe(bobsOwn)
    await screenshot(a1.page, 'colleague-fingerprint-desktop')
    await a1.page.getByRole('button', { name: 'I compared it with bob' }).click()
    await a1.page.getByTestId('colleague-verified').waitFor({ timeout: 15_000 })
    await expect.poll(() => chat(a1.page, 'bob').textContent()).toContain('✓')
  })

  it('a note and a file cross the direct conversation both ways, to every device', async () => {
    await sendNote(a1.page, 'hello bob, from alice')
    // The server names accounts by id only; looking alice up opens the conversation she started.
    await startDirect(bob.page, 'alice')
    await note(bob.page, 'hello bob, from alice').waitFor({ timeout: 30_000 })
    expect(await note(bob.page, 'hello bob, from alice').locator('xpath=..').textContent()).toContain('alice')
    // Bob's side shows alice's device list as alice's own devices show it (two browsers by now).
    const alicesOwn = await ownFingerprint(a2.page)
    await openChat(bob.page, 'alice')
    expect(
      (await bob.page.getByTestId('colleague-fingerprint').textContent({ timeout: 30_000 }))!.trim(),
    ).toBe(alicesOwn)
    const data = randomBytes(300_000)
    await sendFiles(bob.page, [{ name: 'minutes.bin', mimeType: 'application/octet-stream', buffer: data }])
    await startDirect(a2.page, 'bob')
    await item(a2.page, 'minutes.bin').waitFor({ timeout: 60_000 })
    expect(await item(a2.page, 'minutes.bin').locator('footer').textContent()).toMatch(/bob/)
    expect(sha256(await saveItem(a2.page, 'minutes.bin'))).toBe(sha256(data))
    await item(a1.page, 'minutes.bin').waitFor({ timeout: 30_000 })
    // Items of the conversation stay out of "My devices".
    await openChat(a1.page, 'My devices')
    expect(await note(a1.page, 'hello bob').count()).toBe(0)
  })

  it('a group item reaches every member device; a removed member gets nothing sent after', async () => {
    await a1.page.getByRole('button', { name: 'New group' }).click()
    await a1.page.getByLabel('Group name').fill('Budget 2027')
    await a1.page.getByLabel('Members (usernames, separated by commas)').fill('bob, carol')
    await a1.page.getByRole('button', { name: 'Create group' }).click()
    await a1.page.getByRole('button', { name: 'Members' }).click({ timeout: 30_000 })
    await expect.poll(() => a1.page.locator('li.member').count(), { timeout: 15_000 }).toBe(3)
    const groupFp = (await a1.page.getByTestId('group-fingerprint').textContent())!.trim()
    await sendNote(a1.page, 'kick-off at ten')
    for (const d of [a2, bob, carol]) {
      await openChat(d.page, 'Budget 2027')
      await note(d.page, 'kick-off at ten').waitFor({ timeout: 30_000 })
    }
    await carol.page.getByRole('button', { name: 'Members' }).click()
    expect((await carol.page.getByTestId('group-fingerprint').textContent())!.trim()).toBe(groupFp)
    await screenshot(carol.page, 'group-phone')
    await sendNote(carol.page, 'carol agrees')
    await note(bob.page, 'carol agrees').waitFor({ timeout: 30_000 })
    await note(a1.page, 'carol agrees').waitFor({ timeout: 30_000 })

    await a1.page.locator('li.member[data-username="bob"]').getByRole('button', { name: 'Remove' }).click()
    await a1.page.getByRole('dialog').getByRole('button', { name: 'Remove member' }).click()
    await expect.poll(() => a1.page.locator('li.member').count(), { timeout: 15_000 }).toBe(2)
    await bob.page
      .getByText(/no longer a member/)
      .first()
      .waitFor({ timeout: 30_000 })
    await sendNote(a1.page, 'numbers for members only')
    await note(carol.page, 'numbers for members only').waitFor({ timeout: 30_000 })
    await note(a2.page, 'numbers for members only').waitFor({ timeout: 30_000 })
    // Bob's browser was told of the change at once; give any stray push time to arrive.
    await bob.page.waitForTimeout(1500)
    expect(await note(bob.page, 'numbers for members only').count()).toBe(0)
    expect(await note(bob.page, 'carol agrees').count()).toBe(1)
    await expect(bob.page.getByRole('button', { name: 'Send' }).isDisabled()).resolves.toBe(true)
  })

  it('a member removed while a file uploads gets nothing: the upload is not committed', async () => {
    await a1.page.getByLabel('Add a member (username)').fill('bob')
    await a1.page.getByRole('button', { name: 'Add member' }).click()
    await expect.poll(() => a1.page.locator('li.member').count(), { timeout: 15_000 }).toBe(3)
    await bob.page.locator('.panel', { hasText: 'you are member' }).waitFor({ timeout: 30_000 })
    // Hold the upload's data until bob is removed again.
    let release!: () => void
    const held = new Promise<void>((r) => {
      release = r
    })
    await a1.page.route('**/api/v1/uploads/**', async (route) => {
      if (route.request().method() === 'PATCH') await held
      await route.continue()
    })
    await sendFiles(a1.page, [
      { name: 'draft.bin', mimeType: 'application/octet-stream', buffer: randomBytes(50_000) },
    ])
    await a1.page
      .locator('li.transfer[data-name="draft.bin"][data-phase="uploading"]')
      .waitFor({ timeout: 30_000 })
    await a1.page.locator('li.member[data-username="bob"]').getByRole('button', { name: 'Remove' }).click()
    await a1.page.getByRole('dialog').getByRole('button', { name: 'Remove member' }).click()
    await expect.poll(() => a1.page.locator('li.member').count(), { timeout: 15_000 }).toBe(2)
    release()
    const failed = a1.page.locator('li.transfer[data-name="draft.bin"][data-phase="failed"]')
    await failed.waitFor({ timeout: 30_000 })
    expect(await failed.textContent()).toContain('recipients changed')
    await a1.page.unroute('**/api/v1/uploads/**')
    await sendNote(a1.page, 'after the draft')
    await note(carol.page, 'after the draft').waitFor({ timeout: 30_000 })
    expect(await item(carol.page, 'draft.bin').count()).toBe(0)
    expect(await item(a1.page, 'draft.bin').count()).toBe(0)
  })

  it('left no page errors and no Content-Security-Policy violations', () => {
    for (const d of [a1, a2, bob, carol]) expect(d.problems).toEqual([])
  })
  it('a colleague whose keys the server swaps is shown in red and sending to them is blocked (SECURITY-TESTS 18)', async () => {
    // The server replaces bob's device list with one holding a key of its own.
    const db = new Database(join(dir, 'data', 'airlock.db'))
    const { id } = db.prepare('SELECT id FROM accounts WHERE username = ?').get('bob') as { id: string }
    const genesis = createGenesis(id, await generateDevice({ name: 'bob browser', kind: 'web' }))
    db.prepare('DELETE FROM device_log WHERE account_id = ? AND seq > 0').run(id)
    db.prepare('UPDATE device_log SET hash = ?, entry = ? WHERE account_id = ? AND seq = 0').run(
      entryHash(genesis),
      encodeLogEntry(genesis),
      id,
    )
    db.close()
    await openChat(a1.page, 'My devices')
    await chat(a1.page, 'bob').click()
    const warning = a1.page.locator('.panel.keys-changed')
    await warning.waitFor({ timeout: 30_000 })
    expect(await warning.textContent()).toContain('Do not send anything to bob')
    expect(await warning.textContent()).toContain('keys of bob changed')
    expect(await a1.page.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true)
    await screenshot(a1.page, 'colleague-keys-changed-desktop')
    // A file dropped or picked is refused too, with the reason, before anything is encrypted.
    await sendFiles(a1.page, [
      { name: 'to-bob.bin', mimeType: 'application/octet-stream', buffer: randomBytes(10) },
    ])
    await a1.page.locator('.banner.security', { hasText: 'keys of bob changed' }).waitFor({ timeout: 15_000 })
    expect(await a1.page.locator('li.transfer[data-name="to-bob.bin"]').count()).toBe(0)
    expect(await item(bob.page, 'to-bob.bin').count()).toBe(0)
  })
})
