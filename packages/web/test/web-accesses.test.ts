import { randomBytes } from 'node:crypto'
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
import {
  createAccount,
  type Device,
  item,
  launch,
  openDevice,
  saveItem,
  screenshot,
  sendFiles,
} from './harness.js'

// The Accesses dialog of a sent item: every download listed from a chain the worker verified,
// and a security warning instead of a list once a stored row is edited or the newest one deleted.

let server: ServerProcess
let dir: string
let browser: Browser
let web: Device
let itemId: string

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-accesses-')
  server = await startServer(dir)
  browser = await launch()
  web = await openDevice(browser, server.url)
  await createAccount(web.page, server.setupCode!, 'fay')
  await sendFiles(web.page, [
    { name: 'plan.bin', mimeType: 'application/octet-stream', buffer: randomBytes(200_000) },
  ])
  await item(web.page, 'plan.bin').waitFor({ timeout: 60_000 })
  itemId = (await item(web.page, 'plan.bin').getAttribute('data-item'))!
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

function sql(query: string, ...params: unknown[]): Record<string, unknown>[] {
  const db = new Database(join(dir, 'airlock.db'))
  try {
    const stmt = db.prepare(query)
    if (stmt.reader) return stmt.all(...params) as Record<string, unknown>[]
    stmt.run(...params)
    return []
  } finally {
    db.close()
  }
}

/** Opens the dialog, waits for its verdict, returns it, and closes the dialog. */
async function openAccesses(): Promise<{ rows: string[][]; alert: string | null; code: string | null }> {
  const page = web.page
  await item(page, 'plan.bin').getByRole('button', { name: 'Accesses of plan.bin' }).click()
  const dialog = page.getByRole('dialog', { name: 'Accesses: plan.bin' })
  await dialog.waitFor()
  await dialog
    .locator('p.verified, p.error, p:text("Nobody has downloaded it yet.")')
    .first()
    .waitFor({ timeout: 30_000 })
  const alert = dialog.getByRole('alert')
  const result = {
    rows: await dialog
      .locator('tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
      ),
    alert: (await alert.count()) ? await alert.textContent() : null,
    code: (await alert.count()) ? await alert.getAttribute('data-code') : null,
  }
  await dialog.getByRole('button', { name: 'Close' }).click()
  await dialog.waitFor({ state: 'hidden' })
  return result
}

describe('the Accesses dialog', () => {
  it('lists each download of my item once, verified in the worker', async () => {
    expect(await openAccesses()).toEqual({ rows: [], alert: null, code: null })
    await saveItem(web.page, 'plan.bin')
    await saveItem(web.page, 'plan.bin')
    const seen = await openAccesses()
    expect(seen.alert).toBeNull()
    expect(seen.rows.map((r) => r[0])).toEqual(['1', '2'])
    for (const r of seen.rows) expect(r[3]).toBe('127.0.0.1')
    const deviceId = sql('SELECT device_id FROM access_log WHERE item_id = ?', itemId)[0]!.device_id as string
    expect(seen.rows[0]![1]).not.toBe(`device ${deviceId}`) // the name from the verified device log
    await item(web.page, 'plan.bin').getByRole('button', { name: 'Accesses of plan.bin' }).click()
    await web.page.locator('p.verified').waitFor()
    await screenshot(web.page, 'accesses-dialog')
    await web.page.getByRole('button', { name: 'Close' }).click()
  })

  it('shows a security warning for an edited row, and for a deleted newest row (pinned head)', async () => {
    sql("UPDATE access_log SET address = '192.0.2.66' WHERE item_id = ? AND item_seq = 1", itemId)
    const edited = await openAccesses()
    expect(edited.rows).toEqual([])
    expect(edited.code).toBe('ACCESS_LOG_TAMPERED')
    expect(edited.alert).toMatch(/access log of this item does not verify/)
    sql("UPDATE access_log SET address = '127.0.0.1' WHERE item_id = ? AND item_seq = 1", itemId)
    expect((await openAccesses()).rows).toHaveLength(2)

    const newest = sql('SELECT * FROM access_log WHERE item_id = ? AND item_seq = 2', itemId)[0]!
    sql('DELETE FROM access_log WHERE item_id = ? AND item_seq = 2', itemId)
    expect((await openAccesses()).code).toBe('ACCESS_LOG_TAMPERED')
    const cols = Object.keys(newest)
    sql(
      `INSERT INTO access_log (${cols.join(',')}) VALUES (${cols.map(() => '?').join(',')})`,
      ...cols.map((c) => newest[c]),
    )
    expect((await openAccesses()).rows).toHaveLength(2)
    expect(web.problems.filter((p) => !/ACCESS_LOG|status of 4/.test(p))).toEqual([])
  })
})
