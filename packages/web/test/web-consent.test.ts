import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cli,
  cliJson,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import { createAccount, type Device, launch, openDevice, PHONE, screenshot } from './harness.js'

// Consent in the web app (SECURITY-TESTS 26), in real Chromium against the real server, with a
// stranger (mallory) on the command line: a first contact and a group invitation are listed apart
// with Accept / Decline / Block; nothing of them is fetched, shown or notified before Accept; Block
// makes the server refuse the stranger.

let server: ServerProcess
let dir: string
let browser: Browser
let alice: Device
let carol: Device
const mallory = () => join(dir, 'mallory')
/** Every URL each page (and its worker) asked for. */
const asked: Record<string, string[]> = { alice: [], carol: [] }

const requestsList = (page: Page) => page.getByRole('region', { name: 'Requests' })
const chat = (page: Page, title: string) =>
  page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: title })
const note = (page: Page, text: string) => page.locator('.item .note', { hasText: text })
/** Notifications the page created (the browser's own, replaced before the app loads). */
const notified = (page: Page) => page.evaluate(() => (self as unknown as { shown: string[] }).shown)

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-consent-')
  server = await startServer(join(dir, 'data'))
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
  await cliJson(
    mallory(),
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
    { env: { AIRLOCK_CODE: codes[2]! } },
  )
  browser = await launch()
  alice = await openDevice(browser, server.url, PHONE)
  carol = await openDevice(browser, server.url)
  for (const [name, d] of [
    ['alice', alice],
    ['carol', carol],
  ] as const) {
    // Notifications are granted and the page is "hidden", so any item notification would show.
    await d.context.addInitScript(() => {
      const shown: string[] = []
      ;(self as unknown as { shown: string[] }).shown = shown
      class FakeNotification {
        static permission = 'granted'
        static requestPermission = async () => 'granted'
        constructor(title: string, opts?: { body?: string }) {
          shown.push(`${title}: ${opts?.body ?? ''}`)
        }
      }
      Object.defineProperty(self, 'Notification', { value: FakeNotification })
      Object.defineProperty(document, 'hidden', { get: () => true })
    })
    await d.page.reload()
    d.context.on('request', (r) => asked[name]!.push(r.url()))
  }
  await createAccount(alice.page, codes[0]!, 'alice')
  await createAccount(carol.page, codes[1]!, 'carol')
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

describe('requests and invitations in the web app', () => {
  let requestCid = ''

  it('a first contact and a group invitation are listed apart; nothing of them is fetched or notified', async () => {
    const sent = await cliJson<{ conversationId: string; sent: { itemId: string }[] }>(mallory(), [
      'note',
      '--to',
      'alice',
      'click this link now',
    ])
    requestCid = sent.conversationId
    await cliJson(mallory(), ['note', '--to', 'carol', 'hello carol'])
    await cliJson(mallory(), ['groups', 'create', 'prizes', 'alice', 'carol'])

    for (const d of [alice, carol]) {
      await requestsList(d.page).locator('li.request', { hasText: 'wants to send you 1 item' }).waitFor({
        timeout: 30_000,
      })
      await requestsList(d.page).locator('li.request', { hasText: 'prizes' }).waitFor({ timeout: 30_000 })
    }
    // Not a conversation, not shown, not notified, and its items were never asked for.
    expect(await chat(alice.page, 'mallory').count()).toBe(0)
    expect(await note(alice.page, 'click this link now').count()).toBe(0)
    expect(await notified(alice.page)).toEqual([])
    expect(asked.alice!.some((u) => u.includes(`/conversations/${requestCid}/items`))).toBe(false)
    expect(asked.alice!.some((u) => /\/items\/[A-Za-z0-9_-]{22}\/(blob|live)/.test(u))).toBe(false)
    await screenshot(alice.page, 'requests-phone')
    await screenshot(carol.page, 'requests-desktop')
  })

  it('Block: the server refuses the stranger from then on; Decline leaves the group', async () => {
    await requestsList(carol.page)
      .locator('li.request', { hasText: 'wants to send you' })
      .getByRole('button', { name: 'Block' })
      .click()
    await requestsList(carol.page).locator('li.request', { hasText: 'wants to send you' }).waitFor({
      state: 'detached',
      timeout: 30_000,
    })
    const r = await cli(mallory(), ['--json', 'note', '--to', 'carol', 'let me in'])
    expect(r.stderr).toContain('BLOCKED')
    await requestsList(carol.page)
      .locator('li.request', { hasText: 'prizes' })
      .getByRole('button', { name: 'Decline' })
      .click()
    await requestsList(carol.page).waitFor({ state: 'detached', timeout: 30_000 })
    const shown = await cliJson<{ members: { username: string }[] }>(mallory(), ['groups', 'show', '#prizes'])
    expect(shown.members.map((m) => m.username).sort()).toEqual(['alice', 'mallory'])
    expect(await notified(carol.page)).toEqual([])
  })

  it('Accept: the conversation and the group open; their items arrive, and now notify', async () => {
    await requestsList(alice.page)
      .locator('li.request', { hasText: 'wants to send you' })
      .getByRole('button', { name: 'Accept' })
      .click()
    await note(alice.page, 'click this link now').waitFor({ timeout: 30_000 })
    // The positive control of the first test: once accepted, the items are asked for.
    expect(asked.alice!.some((u) => u.includes(`/conversations/${requestCid}/items`))).toBe(true)
    await cliJson(mallory(), ['note', '--to', 'alice', 'second note'])
    await note(alice.page, 'second note').waitFor({ timeout: 30_000 })
    await expect.poll(() => notified(alice.page), { timeout: 15_000 }).not.toEqual([])

    await requestsList(alice.page)
      .locator('li.request', { hasText: 'prizes' })
      .getByRole('button', { name: 'Accept' })
      .click()
    await chat(alice.page, 'prizes').waitFor({ timeout: 30_000 })
    await cliJson(mallory(), ['note', '--to', '#prizes', 'welcome to prizes'])
    await chat(alice.page, 'prizes').click()
    await note(alice.page, 'welcome to prizes').waitFor({ timeout: 30_000 })
    await screenshot(alice.page, 'accepted-phone')
  })

  it('left no page errors and no Content-Security-Policy violations', () => {
    for (const d of [alice, carol]) expect(d.problems).toEqual([])
  })
})
