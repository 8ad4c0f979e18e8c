import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  CliProcess,
  cliJson,
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
  sendNote,
  sha256,
} from './harness.js'

// A browser device and a CLI device of one account exchange items both ways.

let server: ServerProcess
let dir: string
let home: string
let browser: Browser
let web: Device

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-cli-')
  server = await startServer(join(dir, 'data'))
  home = join(dir, 'home')
  browser = await launch()
  web = await openDevice(browser, server.url)
  await createAccount(web.page, server.setupCode!, 'carol')
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

describe('a browser and a CLI device', () => {
  it('the browser approves `airlock link` by its code; both show the same confirmation code', async () => {
    const link = new CliProcess(home, ['--json', 'link', server.url, '--name', 'laptop'])
    const code = (await link.waitFor(/"code":"(\d{4}-\d{4}-\d{4})"/))[1]!
    await web.page.goto(`${server.url}/#devices`)
    await web.page.getByLabel('Code from the new device').fill(code)
    await web.page.getByRole('button', { name: 'Add', exact: true }).click()
    const shown = (await web.page.getByTestId('confirm-fingerprint').textContent({ timeout: 30_000 }))!.trim()
    const fp = (await link.waitFor(/"event":"fingerprint","fingerprint":"([\d ]+)"/))[1]
    expect(shown).toBe(fp)
    await web.page.getByRole('button', { name: 'Add device' }).click()
    const done = await link.exited
    expect(done.code, done.stderr).toBe(0)
    expect(link.events().find((e) => e.event === 'linked')).toMatchObject({ username: 'carol' })
    await web.page.goto(`${server.url}/#timeline`)
  })

  it('a file sent from the CLI arrives in the browser at once and saves byte-identical', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 11)
    const path = join(dir, 'from-cli.bin')
    await writeFile(path, data)
    await cliJson(home, ['send', path])
    await item(web.page, 'from-cli.bin').waitFor({ timeout: 30_000 })
    expect(await item(web.page, 'from-cli.bin').textContent()).toContain('laptop')
    expect(sha256(await saveItem(web.page, 'from-cli.bin'))).toBe(sha256(data))
  })

  it('a note and a file from the browser open in the CLI', async () => {
    await sendNote(web.page, 'note for the laptop ✓')
    const data = randomBytes(2 * 1024 * 1024 + 5)
    await sendFiles(web.page, [{ name: 'from-web.bin', mimeType: 'application/octet-stream', buffer: data }])
    let rows: { itemId: string; name: string | null; verified: boolean }[] = []
    for (let i = 0; i < 100; i++) {
      rows = (await cliJson<{ items: typeof rows }>(home, ['inbox'])).items
      if (rows.some((r) => r.name === 'from-web.bin')) break
      await new Promise((r) => setTimeout(r, 300))
    }
    expect(rows.every((r) => r.verified)).toBe(true)
    const out = join(dir, 'out')
    const file = rows.find((r) => r.name === 'from-web.bin')!
    const got = await cliJson<{ path: string }>(home, ['get', '--out', out, '--', file.itemId])
    expect(sha256(await readFile(got.path))).toBe(sha256(data))
    const note = rows.find((r) => r.name === null)!
    const gotNote = await cliJson<{ path: string }>(home, ['get', '--out', out, '--', note.itemId])
    expect(await readFile(gotNote.path, 'utf8')).toBe('note for the laptop ✓')
  })
})
