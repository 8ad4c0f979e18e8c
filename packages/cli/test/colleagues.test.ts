import { join } from 'node:path'
import {
  appendGroupEntry,
  createGenesis,
  entryValue,
  type GroupEntry,
  generateDevice,
  groupEntryHash,
  verifyGroupLog,
} from '@airlock/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cli,
  cliJson,
  randomFile,
  removeDir,
  sha256File,
  tempDir,
} from '../../../test-support/harness.js'
import {
  deviceSecrets,
  errorCode,
  expectNothingWritten,
  expectRefused,
  forgeManifest,
  invite,
  linkDevice,
  pinnedLog,
  readManifest,
  setupAccount,
} from './evil-fixture.js'
import { EvilServer, jsonOf, route, withJson } from './evil-server.js'

/**
 * Colleagues and groups with three accounts and several devices each, through the real server
 * (behind the evil proxy, which passes everything through until a test makes it lie):
 * direct and group items reach every member device and no one else's; removing a member stops
 * delivery; a server that substitutes a colleague's keys (SECURITY-TESTS 18), adds a member to a
 * group behind the owner's back, or forges a group log entry is refused and nothing is sent.
 */

let dir: string
let evil: EvilServer
const home = (name: string) => join(dir, `home-${name}`)
const A1 = () => home('a1')
const A2 = () => home('a2')
const B1 = () => home('b1')
const B2 = () => home('b2')
const C1 = () => home('c1')
const ids: Record<string, string> = {}

interface InboxRow {
  itemId: string
  in: string
  verified: boolean
  kind?: string
  name?: string | null
  fromAccount?: string
  error?: string
}
const inbox = async (h: string) => (await cliJson<{ items: InboxRow[] }>(h, ['inbox'])).items
const itemCount = () => evil.sql<{ n: number }>('SELECT count(*) AS n FROM items')[0]!.n

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-colleagues-')
  evil = await EvilServer.start(join(dir, 'data'))
  ids.alice = (await setupAccount(evil, A1(), 'alice', evil.setupCode!)).accountId
  ids.bob = (await setupAccount(evil, B1(), 'bob', await invite(A1()))).accountId
  ids.carol = (await setupAccount(evil, C1(), 'carol', await invite(A1()))).accountId
  await linkDevice(evil, A1(), A2(), 'alice-phone')
  await linkDevice(evil, B1(), B2(), 'bob-phone')
}, 120_000)

afterEach(() => evil.reset())

afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

describe('colleagues: direct conversations', () => {
  it('pins a colleague on first contact with the fingerprint their own devices show; a wrong one does not verify', async () => {
    const added = await cliJson<{ accountId: string; fingerprint: string; verified: boolean }>(A1(), [
      'colleagues',
      'add',
      'bob',
    ])
    expect(added.accountId).toBe(ids.bob)
    expect(added.verified).toBe(false)
    const bobs = await cliJson<{ logFingerprint: string }>(B2(), ['devices'])
    expect(added.fingerprint).toBe(bobs.logFingerprint)

    const wrong = await cli(A1(), ['--json', 'colleagues', 'verify', 'bob', '--fingerprint', '12345 67890'])
    expectRefused(wrong, 'FINGERPRINT_MISMATCH')
    await cliJson(A1(), ['colleagues', 'verify', 'bob', '--fingerprint', bobs.logFingerprint])
    const list = await cliJson<{ colleagues: { username: string; verified: boolean }[] }>(A1(), [
      'colleagues',
    ])
    expect(list.colleagues).toEqual([expect.objectContaining({ username: 'bob', verified: true })])

    const nobody = await cli(A1(), ['--json', 'colleagues', 'add', 'nobody'])
    expect(errorCode(nobody)).toBe('NOT_FOUND')
    expect(nobody.code).toBe(7)
  })

  it('a note and a file go both ways, to every device of both accounts and to nobody else', async () => {
    const sent = await cliJson<{ sent: { itemId: string }[]; to: string }>(A1(), [
      'note',
      '--to',
      'bob',
      'hello bob',
    ])
    expect(sent.to).toBe('@bob')
    const noteId = sent.sent[0]!.itemId
    for (const h of [B1(), B2(), A2()]) {
      const row = (await inbox(h)).find((r) => r.itemId === noteId)
      expect(row, h).toMatchObject({ verified: true, kind: 'note', fromAccount: ids.alice })
    }
    expect((await inbox(B1())).find((r) => r.itemId === noteId)?.in).toBe('@alice')
    // Carol is in no conversation with it: the server does not even list it to her.
    expect((await inbox(C1())).some((r) => r.itemId === noteId)).toBe(false)
    const carolGet = await cli(C1(), ['--json', 'get', '--out', dir, '--', noteId])
    expect(carolGet.code).toBe(7)

    const file = join(dir, 'reply.bin')
    const hash = await randomFile(file, 300_000)
    const reply = await cliJson<{ sent: { itemId: string }[] }>(B2(), ['send', '--to', 'alice', file])
    const out = join(dir, 'a2-out')
    const got = await cliJson<{ path: string; fromAccount: string }>(A2(), [
      'get',
      '--out',
      out,
      '--',
      reply.sent[0]!.itemId,
    ])
    expect(got.fromAccount).toBe(ids.bob)
    expect(await sha256File(got.path)).toBe(hash)

    // The manifest is addressed to exactly the active devices (recovery keys included) of the two accounts.
    const sealed = evil.sql<{ manifest: Uint8Array }>('SELECT manifest FROM items WHERE id = ?', noteId)[0]!
      .manifest
    const { manifest } = await readManifest(sealed, await deviceSecrets(B1()))
    expect(new Set(manifest.recipients.map((r) => r.accountId))).toEqual(new Set([ids.alice, ids.bob]))
    const active = (await pinnedLog(A1())).active.length + (await pinnedLog(B1())).active.length
    expect(manifest.recipients).toHaveLength(active)
  })

  it("SECURITY-18: a server that substitutes a colleague's keys blocks sending to them; nothing is sent", async () => {
    // The server answers Alice's request for Bob's log with a log it made up: a new genesis with its own device.
    const mallory = await generateDevice({ name: 'bob-laptop', kind: 'cli' })
    const fake = createGenesis(ids.bob!, mallory)
    evil.tamper(route('GET', new RegExp(`/accounts/${ids.bob}/log$`)), (_req, res) => {
      const body = jsonOf<{ entries: unknown[]; head: { seq: number; hash: string }; more: boolean }>(res)
      return withJson(res, { ...body, entries: [entryValue(fake)], head: { seq: 0, hash: body.head.hash } })
    })
    const before = itemCount()
    const r = await cli(A1(), ['--json', 'note', '--to', 'bob', 'secret for bob'])
    expectRefused(r, 'KEYS_CHANGED')
    expect(r.stderr).toMatch(/keys of bob changed/)
    expect(itemCount()).toBe(before)
    evil.reset()
    // With the server honest again, the pinned log still extends: sending works.
    await cliJson(A1(), ['note', '--to', 'bob', 'all good again'])
  })
})

describe('groups', () => {
  let groupId: string

  it('a group item reaches every device of every member; the group log verifies the same everywhere', async () => {
    const created = await cliJson<{
      conversationId: string
      fingerprint: string
      members: { username: string; role: string }[]
    }>(A1(), ['groups', 'create', 'team', 'bob', 'carol'])
    groupId = created.conversationId
    expect(created.members.map((m) => [m.username, m.role]).sort()).toEqual([
      ['alice', 'owner'],
      ['bob', 'member'],
      ['carol', 'member'],
    ])
    for (const h of [B2(), C1(), A2()]) {
      const shown = await cliJson<{ fingerprint: string }>(h, ['groups', 'show', '#team'])
      expect(shown.fingerprint, h).toBe(created.fingerprint)
    }

    const file = join(dir, 'plan.bin')
    const hash = await randomFile(file, 200_000)
    const sent = await cliJson<{ sent: { itemId: string }[]; to: string }>(B1(), [
      'send',
      '--to',
      '#team',
      file,
    ])
    expect(sent.to).toBe('#team')
    const id = sent.sent[0]!.itemId
    for (const h of [A1(), A2(), B2(), C1()]) {
      const out = join(dir, `group-${h.slice(-2)}`)
      const got = await cliJson<{ path: string; fromAccount: string }>(h, ['get', '--out', out, '--', id])
      expect(got.fromAccount).toBe(ids.bob)
      expect(await sha256File(got.path)).toBe(hash)
    }
  })

  it('a removed member gets nothing sent after removal, even if the server puts them back', async () => {
    await cliJson(A1(), ['groups', 'remove', '#team', 'carol'])
    const shown = await cliJson<{ members: { username: string }[] }>(B1(), ['groups', 'show', '--', groupId])
    expect(shown.members.map((m) => m.username).sort()).toEqual(['alice', 'bob'])

    const after = await cliJson<{ sent: { itemId: string }[] }>(A2(), [
      'note',
      '--to',
      '#team',
      'after carol left',
    ])
    const id = after.sent[0]!.itemId
    expect((await inbox(B2())).find((r) => r.itemId === id)?.verified).toBe(true)
    // The server no longer lets her list or fetch it…
    expect((await cli(C1(), ['--json', 'get', '--out', dir, '--', id])).code).toBe(7)

    // …and a server that adds her back to the member table behind the owner's back gains nothing:
    // senders encrypt to the members of the signed group log, not to the server's table.
    evil.sql(
      'INSERT INTO conversation_members (conversation_id, account_id, role) VALUES (?, ?, ?)',
      groupId,
      ids.carol,
      'member',
    )
    const sneaky = await cliJson<{ sent: { itemId: string }[] }>(B1(), [
      'note',
      '--to',
      groupId,
      'not for carol',
    ])
    const sneakyId = sneaky.sent[0]!.itemId
    const sealed = evil.sql<{ manifest: Uint8Array }>('SELECT manifest FROM items WHERE id = ?', sneakyId)[0]!
      .manifest
    const { manifest } = await readManifest(sealed, await deviceSecrets(A1()))
    expect(manifest.recipients.some((r) => r.accountId === ids.carol)).toBe(false)
    const out = join(dir, 'carol-out')
    const r = await cli(C1(), ['--json', 'get', '--out', out, '--', sneakyId])
    expect(r.code, r.stderr).toBe(6)
    expect(errorCode(r)).toBe('NO_MATCH')
    evil.sql(
      'DELETE FROM conversation_members WHERE conversation_id = ? AND account_id = ?',
      groupId,
      ids.carol,
    )
  })

  it('a group log entry the server forges (adding its own member) is refused; nothing is sent', async () => {
    const forger = await generateDevice({ name: 'x', kind: 'cli' })
    // An "add carol" entry signed by a device that is in nobody's verified log.
    const stored = evil
      .sql<{ entry: string }>('SELECT entry FROM group_log WHERE conversation_id = ? ORDER BY seq', groupId)
      .map((r) => JSON.parse(r.entry) as GroupEntry)
    const full = await verifyGroupLog(groupId, stored, async () => {})
    const forged = appendGroupEntry(
      full,
      { op: 'add', account: ids.carol!, role: 'member' },
      forger,
      await pinnedLog(A1()),
    )
    evil.tamper(route('GET', new RegExp(`/conversations/${groupId}/log$`)), (req, res) => {
      const since = Number(new URL(req.path, 'http://x').searchParams.get('since') ?? -1)
      return withJson(res, {
        entries: [...stored, forged].filter((e) => e.seq > since),
        head: { seq: forged.seq, hash: groupEntryHash(forged) },
        more: false,
      })
    })
    const before = itemCount()
    const r = await cli(B2(), ['--json', 'note', '--to', groupId, 'to the team'])
    expect(r.code, r.stderr).toBe(6)
    expect(itemCount()).toBe(before)
  })
})

describe('a server that re-routes or injects', () => {
  it('a server that names another account "bob" is refused once bob is pinned', async () => {
    evil.tamper(route('GET', /\/accounts\/lookup$/), (req, res) =>
      req.path.includes('username=bob')
        ? withJson(res, { accountId: ids.carol, username: 'bob' })
        : undefined,
    )
    const before = itemCount()
    const r = await cli(A1(), ['--json', 'note', '--to', 'bob', 'for bob only'])
    expectRefused(r, 'KEYS_CHANGED')
    expect(itemCount()).toBe(before)
    evil.reset()
    // An account that was really re-created: forgetting the pin lets the next contact pin afresh.
    const forgot = await cliJson<{ forgotten: string[] }>(A1(), ['colleagues', 'forget', 'bob'])
    expect(forgot.forgotten).toEqual([ids.bob])
    expect((await cli(A1(), ['--json', 'colleagues', 'forget', 'bob'])).code).toBe(7)
    const again = await cliJson<{ accountId: string; verified: boolean }>(A1(), ['colleagues', 'add', 'bob'])
    expect(again).toMatchObject({ accountId: ids.bob, verified: false })
  })

  it('a server that presents a pinned group as a direct conversation is refused', async () => {
    const groupId = evil.sql<{ id: string }>("SELECT id FROM conversations WHERE kind = 'group'")[0]!.id
    evil.tamper(route('GET', new RegExp(`/conversations/${groupId}$`)), (_req, res) =>
      withJson(res, { ...jsonOf(res), kind: 'direct', members: [ids.bob, ids.carol] }),
    )
    const before = itemCount()
    expectRefused(await cli(B1(), ['--json', 'note', '--to', groupId, 'to the team']), 'GROUP_LOG')
    expect(itemCount()).toBe(before)
  })

  it("an item signed by someone outside the conversation (even a pinned colleague) is refused in 'me'", async () => {
    // Carol signs a manifest for Alice's own conversation and the server lists it there.
    const own = await cliJson<{ sent: { itemId: string }[] }>(A1(), ['note', 'only mine'])
    const id = own.sent[0]!.itemId
    const sealed = evil.sql<{ manifest: Uint8Array }>('SELECT manifest FROM items WHERE id = ?', id)[0]!
      .manifest
    const { manifest } = await readManifest(sealed, await deviceSecrets(A1()))
    const carol = await deviceSecrets(C1())
    const carolLog = await pinnedLog(C1())
    const forged = await forgeManifest(
      {
        ...manifest,
        sender: {
          accountId: ids.carol!,
          deviceId: carol.record.id,
          logSeq: carolLog.seq,
          logHead: carolLog.head,
        },
      },
      [await deviceSecrets(A1()), await deviceSecrets(A2())],
      carol,
    )
    evil.sql('UPDATE items SET manifest = ? WHERE id = ?', Buffer.from(forged), id)
    const out = join(dir, 'injected')
    const r = await cli(A2(), ['--json', 'get', '--out', out, '--', id])
    expectRefused(r, 'SIGNATURE')
    await expectNothingWritten(A2(), out)
  })
})
