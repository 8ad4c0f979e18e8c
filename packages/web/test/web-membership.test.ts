import { join } from 'node:path'
import {
  type Canonical,
  canonicalJson,
  decodeLogEntry,
  encryptBytes,
  MANIFEST_CONTEXT,
  type Manifest,
  signCanonical,
  utf8,
} from '@airlock/core'
import Database from 'better-sqlite3'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cliJson,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import { deviceSecrets, readManifest } from '../../cli/test/evil-fixture.js'
import { createAccount, type Device, launch, openDevice } from './harness.js'

// Issue 18, hole 4, in the browser: a group item is accepted only from a member at the group log
// position its signed manifest names. Mallory (on the command line) posts while she is a member,
// then is removed; Alice's browser keeps showing that item, and refuses the same item re-signed by
// mallory's own device without a position (the older form, now accepted only from current
// members) or naming the position after her removal.

let server: ServerProcess
let dir: string
let browser: Browser
let alice: Device
const owner = () => join(dir, 'owner')
const mallory = () => join(dir, 'mallory')
let groupId: string
let itemId: string

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-membership-')
  server = await startServer(join(dir, 'data'))
  await cliJson(
    owner(),
    ['setup', server.url, '--username', 'olga', '--name', 'o-laptop', '--recovery-out', join(dir, 'o.txt')],
    { env: { AIRLOCK_CODE: server.setupCode! } },
  )
  const code = async () => (await cliJson<{ code: string }>(owner(), ['invite'])).code
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
    { env: { AIRLOCK_CODE: await code() } },
  )
  browser = await launch()
  alice = await openDevice(browser, server.url)
  await createAccount(alice.page, await code(), 'alice')
  groupId = (
    await cliJson<{ conversationId: string }>(owner(), ['groups', 'create', 'team', 'alice', 'mallory'])
  ).conversationId
  // Invited members join with their own signed entry: mallory on the command line, Alice in the app.
  await cliJson(mallory(), ['accept', groupId])
  await alice.page.reload()
  await alice.page
    .locator('li.request', { hasText: 'team' })
    .getByRole('button', { name: 'Accept' })
    .click({ timeout: 30_000 })
  await alice.page.locator('li.request', { hasText: 'team' }).waitFor({ state: 'detached', timeout: 30_000 })
  itemId = (
    await cliJson<{ sent: { itemId: string }[] }>(mallory(), ['note', '--to', groupId, 'from mallory'])
  ).sent[0]!.itemId
  await cliJson(owner(), ['groups', 'remove', '#team', 'mallory'])
})

afterAll(async () => {
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

function sql<T>(query: string, ...params: unknown[]): T[] {
  const db = new Database(join(dir, 'data', 'airlock.db'))
  try {
    return db.prepare(query).all(...params) as T[]
  } finally {
    db.close()
  }
}

/** `manifest` signed by mallory's real device and sealed to Alice's browser. */
async function resignedByMallory(manifest: Manifest): Promise<Uint8Array> {
  const aliceId = sql<{ id: string }>("SELECT id FROM accounts WHERE username = 'alice'")[0]!.id
  const genesis = sql<{ entry: string }>(
    'SELECT entry FROM device_log WHERE account_id = ? ORDER BY seq LIMIT 1',
    aliceId,
  )[0]!
  const browserDevice = decodeLogEntry(JSON.parse(genesis.entry)).device
  const m = manifest as unknown as Canonical
  return encryptBytes(
    [browserDevice.recipient],
    utf8(
      canonicalJson({ manifest: m, sig: signCanonical(await deviceSecrets(mallory()), MANIFEST_CONTEXT, m) }),
    ),
  )
}

async function openTeam(): Promise<void> {
  await alice.page.reload()
  await alice.page
    .getByRole('navigation', { name: 'Conversations' })
    .getByRole('button', { name: 'team' })
    .click({ timeout: 30_000 })
}

describe('a former member’s group items in the browser', () => {
  it('are shown when they name a position where she was a member, refused otherwise', async () => {
    await openTeam()
    const shown = alice.page.locator(`li.item[data-item="${itemId}"]`)
    await shown.locator('.note', { hasText: 'from mallory' }).waitFor({ timeout: 30_000 })

    const sealed = sql<{ manifest: Buffer }>('SELECT manifest FROM items WHERE id = ?', itemId)[0]!.manifest
    const { manifest } = await readManifest(new Uint8Array(sealed), await deviceSecrets(owner()))
    // Created at 0, joined by the two invited members at 1 and 2: she sent at the head, 2.
    expect(manifest.groupLog?.seq).toBe(2)
    const head = sql<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM group_log WHERE conversation_id = ? ORDER BY seq DESC LIMIT 1',
      groupId,
    )[0]!
    const { groupLog: _, ...withoutPosition } = manifest
    for (const forged of [
      withoutPosition as Manifest,
      { ...manifest, groupLog: { seq: head.seq, head: head.hash } },
    ]) {
      const db = new Database(join(dir, 'data', 'airlock.db'))
      db.prepare('UPDATE items SET manifest = ? WHERE id = ?').run(
        Buffer.from(await resignedByMallory(forged)),
        itemId,
      )
      db.close()
      // The worker keeps verified manifests in memory only: a reload verifies the item afresh.
      await openTeam()
      const refused = alice.page.locator(`li.item.refused[data-item="${itemId}"]`)
      await refused.waitFor({ timeout: 30_000 })
      // Core's SIGNATURE refusal: the sender is not admitted, whatever the server lists.
      expect(await refused.textContent()).toMatch(/signature does not verify/)
      expect(await alice.page.getByText('from mallory').count()).toBe(0)
    }
  })
})
