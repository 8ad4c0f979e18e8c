import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertBuilt, cli, cliJson, randomFile, removeDir, tempDir } from '../../../test-support/harness.js'
import { expectNothingWritten, invite, setupAccount } from './evil-fixture.js'
import { EvilServer, jsonOf, route, withJson } from './evil-server.js'

/**
 * `airlock admin …`, invitations and sensitivity labels end to end: real `airlock` processes
 * against the real server (behind the evil proxy, for the label tests). Every refusal is a
 * one-line message and its exit code: 10 not an administrator, 11 the policy, 6 a tampered label.
 */

let dir: string
let evil: EvilServer
let A: string // alice, the administrator
let B: string // bob, an ordinary account
let file: string
let n = 0
const outDir = () => join(dir, `out-${++n}`)

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-admin-')
  evil = await EvilServer.start(join(dir, 'data'))
  A = join(dir, 'home-a')
  B = join(dir, 'home-b')
  await setupAccount(evil, A, 'alice', evil.setupCode!)
  await setupAccount(evil, B, 'bob', await invite(A))
  file = join(dir, 'report.pdf')
  await randomFile(file, 20_000)
})
afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

describe('airlock admin', () => {
  it('every account reads the policy; only administrators change it or list accounts (exit 10)', async () => {
    const shown = await cli(B, ['admin', 'policy'])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(/invitations\s+administrators only/)
    expect(shown.stdout).toMatch(/Confidential\s+share links forbidden, max retention 90d/)
    for (const args of [
      ['admin', 'users'],
      ['admin', 'policy', 'set', 'invitations', 'everyone'],
      ['admin', 'disable', 'alice'],
      ['admin', 'quota', 'alice', '1G'],
      ['invite'],
    ]) {
      const r = await cli(B, args)
      expect(r.code, args.join(' ')).toBe(10)
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(r.stderr).toMatch(/not an administrator/)
    }
  })

  it('sets policy keys, refusing unknown keys and bad values (exit 2)', async () => {
    const p = await cliJson<{ shareLinks: { allowed: boolean; maxLifetimeMs: number } }>(A, [
      'admin',
      'policy',
      'set',
      'share-link-max-lifetime',
      '7d',
    ])
    expect(p.shareLinks).toEqual({ allowed: true, maxLifetimeMs: 7 * 86_400_000 })
    const l = await cliJson<{
      labels: { name: string; shareLinks: boolean; maxRetentionMs: number | null }[]
    }>(A, ['admin', 'policy', 'set', 'labels', 'Internal,Confidential,Secret,Board Only'])
    expect(l.labels.map((x) => x.name)).toEqual(['Internal', 'Confidential', 'Secret', 'Board Only'])
    expect(l.labels[1]).toEqual({ name: 'Confidential', shareLinks: false, maxRetentionMs: 90 * 86_400_000 })
    const r = await cliJson<{ labels: { name: string; shareLinks: boolean }[] }>(A, [
      'admin',
      'policy',
      'set',
      'label.board only.share-links',
      'off',
    ])
    expect(r.labels[3]).toMatchObject({ name: 'Board Only', shareLinks: false })
    for (const args of [
      ['bogus', '1'],
      ['invitations', 'nobody'],
      ['item-lifetime', 'forever'],
      ['label.Public.share-links', 'off'],
    ]) {
      const bad = await cli(A, ['admin', 'policy', 'set', ...args])
      expect(bad.code, args.join(' ')).toBe(2)
    }
  })

  it('invitations follow the policy switch', async () => {
    await cliJson(A, ['admin', 'policy', 'set', 'invitations', 'everyone'])
    const r = await cliJson<{ code: string }>(B, ['invite'])
    expect(r.code).toMatch(/^[0-9A-Z-]+$/)
    await cliJson(A, ['admin', 'policy', 'set', 'invitations', 'admins'])
    expect((await cli(B, ['invite'])).code).toBe(10)
  })

  it('lists accounts and sets a quota the server enforces', async () => {
    const users = await cliJson<{ accounts: { username: string; admin: boolean; devices: number }[] }>(A, [
      'admin',
      'users',
    ])
    expect(users.accounts.map((a) => [a.username, a.admin, a.devices])).toEqual([
      // The paper recovery key `setup` makes is a device of the log too.
      ['alice', true, 2],
      ['bob', false, 2],
    ])
    await cliJson(A, ['admin', 'quota', 'bob', '10K'])
    const over = await cli(B, ['send', file])
    expect(over.code).toBe(1)
    expect(over.stderr).toMatch(/quota/)
    await cliJson(A, ['admin', 'quota', 'bob', 'default'])
    expect((await cli(B, ['send', file])).code).toBe(0)
    expect((await cli(A, ['admin', 'quota', 'nobody', '1G'])).code).toBe(7)
  })

  it('a disabled account is locked out with a clear error; enabling lets it back in', async () => {
    expect((await cli(A, ['admin', 'disable', 'alice'])).code).toBe(2)
    const d = await cliJson<{ disabled: boolean }>(A, ['admin', 'disable', 'bob'])
    expect(d.disabled).toBe(true)
    const locked = await cli(B, ['inbox'])
    expect(locked.code).toBe(5)
    expect(locked.stderr).toMatch(/disabled by an administrator/)
    const users = await cli(A, ['admin', 'users'])
    expect(users.stdout).toMatch(/bob\s+DISABLED/)
    await cliJson(A, ['admin', 'enable', 'bob'])
    expect((await cli(B, ['inbox'])).code).toBe(0)
  })
})

describe('share links of a disabled account (issue 18, hole 5)', () => {
  it('are suspended (410) while it is disabled; administrators list and revoke any link', async () => {
    const N = join(dir, 'home-nobody')
    const sent = await cliJson<{ sent: { itemId: string }[] }>(B, ['send', file])
    const { shareId, link } = await cliJson<{ shareId: string; link: string }>(B, [
      'share',
      sent.sent[0]!.itemId,
    ])
    const open = () => cli(N, ['--json', 'open-link', '-o', outDir()], { env: { AIRLOCK_SHARE_LINK: link } })
    expect((await open()).code).toBe(0)
    const listed = async () =>
      (await cliJson<{ shares: Record<string, unknown>[] }>(A, ['admin', 'shares'])).shares.find(
        (x) => x.shareId === shareId,
      )!

    await cliJson(A, ['admin', 'disable', 'bob'])
    try {
      const suspended = await open()
      expect(suspended.code, suspended.stderr).toBe(7)
      expect(suspended.stderr).toMatch(/suspended: its owner's account has been disabled/)
      // Metadata only: the owner, dates, downloads and state; never which items the link holds.
      const row = await listed()
      expect(row).toMatchObject({ username: 'bob', state: 'suspended', downloads: 1, files: 1 })
      expect(Object.keys(row).sort()).toEqual(
        [
          'accountId',
          'ciphertextSize',
          'createdAt',
          'downloads',
          'expiresAt',
          'files',
          'maxDownloads',
          'shareId',
          'state',
          'username',
        ].sort(),
      )
      expect(JSON.stringify(row)).not.toContain(sent.sent[0]!.itemId)
      expect((await cli(A, ['admin', 'shares'])).stdout).toMatch(new RegExp(`${shareId}\\s+bob\\s+suspended`))
    } finally {
      // Enabled again (also if a check above failed, for the tests after this one), the link
      // works until it expires…
      await cliJson(A, ['admin', 'enable', 'bob'])
    }
    expect((await open()).code).toBe(0)
    expect((await listed()).state).toBe('active')
    // …unless an administrator revokes it, which only administrators may.
    const refused = await cli(B, ['admin', 'revoke-share', shareId])
    expect(refused.code).toBe(10)
    expect((await cli(B, ['admin', 'shares'])).code).toBe(10)
    const revoked = await cliJson<{ state: string }>(A, ['admin', 'revoke-share', shareId])
    expect(revoked.state).toBe('revoked')
    const gone = await open()
    expect(gone.code).toBe(7)
    expect(gone.stderr).toMatch(/was revoked/)
    expect((await cli(A, ['admin', 'revoke-share', 'no-such-link-000000000'])).code).toBe(7)
  })
})

describe('retention', () => {
  it("an account sets its own conversation's retention; items then carry their deletion time", async () => {
    const set = await cliJson<{ retentionMs: number }>(B, ['retention', '2h'])
    expect(set.retentionMs).toBe(2 * 3_600_000)
    const sent = await cliJson<{ sent: { itemId: string }[] }>(B, ['note', 'kept two hours'])
    const row = evil.sql<{ retain_until: number; committed_at: number }>(
      'SELECT retain_until, committed_at FROM items WHERE id = ?',
      sent.sent[0]!.itemId,
    )[0]!
    expect(row.retain_until - row.committed_at).toBe(2 * 3_600_000)
    expect((await cli(B, ['inbox'])).stdout).toMatch(/\(note\) {2}from .* {2}\(deleted /)
    expect((await cliJson<{ retentionMs: number | null }>(B, ['retention', 'none'])).retentionMs).toBeNull()
    expect((await cli(B, ['retention', 'soon'])).code).toBe(2)
  })
})

describe('sensitivity labels', () => {
  let itemId: string

  it('refuses a label outside the policy before sending anything (exit 10)', async () => {
    const before = evil.stats.requests
    const r = await cli(A, ['send', '--label', 'Public', file])
    expect(r.code).toBe(11)
    expect(r.stderr).toMatch(/policy.*label/)
    expect(
      evil.sql(
        'SELECT id FROM items WHERE sender_account_id IN (SELECT id FROM accounts WHERE username = ?)',
        'alice',
      ),
    ).toEqual([])
    expect(evil.stats.requests - before).toBeLessThan(10)
  })

  it('sends with a label the server binds and the receiver shows prominently', async () => {
    const sent = await cliJson<{ sent: { itemId: string; label: string }[] }>(A, [
      'send',
      '--label',
      'confidential',
      file,
    ])
    itemId = sent.sent[0]!.itemId
    expect(sent.sent[0]!.label).toBe('Confidential')
    expect(
      evil.sql<{ sensitivity: string }>('SELECT sensitivity FROM items WHERE id = ?', itemId)[0]!.sensitivity,
    ).toBe('Confidential')
    const inbox = await cli(A, ['inbox'])
    expect(inbox.stdout).toContain(`${itemId}`)
    expect(inbox.stdout).toMatch(/\[CONFIDENTIAL\]\s+report\.pdf/)
    const got = await cliJson<{ label: string }>(A, ['get', '--out', outDir(), '--', itemId])
    expect(got.label).toBe('Confidential')
    const note = await cliJson<{ sent: { label: string }[] }>(A, [
      'note',
      '--label',
      'Secret',
      'the code is 1234',
    ])
    expect(note.sent[0]!.label).toBe('Secret')
  })

  it('a server that strips or changes the label is detected; nothing is written (exit 6)', async () => {
    for (const rewrite of [
      (j: Record<string, unknown>) => {
        const { sensitivity: _, ...rest } = j
        return rest
      },
      (j: Record<string, unknown>) => ({ ...j, sensitivity: 'Internal' }),
    ]) {
      const undo = evil.tamper(route('GET', new RegExp(`/items/${itemId}$`)), (_q, res) =>
        withJson(res, rewrite(jsonOf(res))),
      )
      const out = outDir()
      const r = await cli(A, ['get', '--out', out, '--', itemId])
      undo()
      expect(r.code).toBe(6)
      expect(r.stderr).toMatch(/sensitivity label/)
      await expectNothingWritten(A, out)
    }
    const undo = evil.tamper(route('GET', /\/conversations\/[^/]+\/items/), (_q, res) => {
      const j = jsonOf<{ items: Record<string, unknown>[] }>(res)
      return withJson(res, { ...j, items: j.items.map(({ sensitivity: _, ...i }) => i) })
    })
    const inbox = await cli(A, ['inbox'])
    undo()
    expect(inbox.stdout).toMatch(
      new RegExp(`${itemId}\\s+me\\s+REFUSED: the server changed its sensitivity label`),
    )
  })
})
