import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  CliProcess,
  cli,
  cliJson,
  removeDir,
  sleep,
  tempDir,
} from '../../../test-support/harness.js'
import {
  deviceSecrets,
  errorCode,
  expectNothingWritten,
  invite,
  linkDevice,
  readManifest,
  setupAccount,
} from './evil-fixture.js'
import { EvilServer } from './evil-server.js'

/**
 * Consent (SECURITY-TESTS 26: who may reach me; the block part of 28), through the real server and CLI processes. A
 * stranger's first direct item is a request: listed apart, never in `inbox`, never fetched by
 * `get`, never saved by `watch` (not even with --all-accepted) until I accept. Declining and
 * blocking make the server refuse. Being put into a group is an invitation my device accepts by
 * signing `join`: until then nothing is encrypted to me and nothing of the group reaches me.
 */

let dir: string
let evil: EvilServer
const home = (name: string) => join(dir, `home-${name}`)
const A1 = () => home('a1')
const A2 = () => home('a2')
const B1 = () => home('b1')
const M1 = () => home('m1')
const E1 = () => home('e1')
const ids: Record<string, string> = {}
let watch: CliProcess | null = null

interface Sent {
  sent: { itemId: string }[]
  conversationId: string
}
interface RequestRow {
  kind: 'request' | 'invitation'
  conversationId: string
  fromName: string
  group: string | null
  waiting: number
}
const requests = async (h: string) => (await cliJson<{ requests: RequestRow[] }>(h, ['requests'])).requests
const inboxIds = async (h: string) =>
  (await cliJson<{ items: { itemId: string }[] }>(h, ['inbox'])).items.map((r) => r.itemId)
const itemCount = () => evil.sql<{ n: number }>('SELECT count(*) AS n FROM items')[0]!.n

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-consent-')
  evil = await EvilServer.start(join(dir, 'data'))
  ids.alice = (await setupAccount(evil, A1(), 'alice', evil.setupCode!)).accountId
  ids.bob = (await setupAccount(evil, B1(), 'bob', await invite(A1()))).accountId
  ids.mallory = (await setupAccount(evil, M1(), 'mallory', await invite(A1()))).accountId
  ids.eve = (await setupAccount(evil, E1(), 'eve', await invite(A1()))).accountId
  await linkDevice(evil, A1(), A2(), 'alice-phone')
}, 120_000)

afterEach(async () => {
  evil.reset()
  if (watch) {
    watch.proc.kill('SIGTERM')
    await watch.exited
    watch = null
  }
})

afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

describe('a first contact is a request (SECURITY-TESTS 26)', () => {
  it("a stranger's item never reaches inbox, get or watch until I accept; then it does", async () => {
    const folder = join(dir, 'watched')
    watch = new CliProcess(A2(), ['--json', 'watch', '--dir', folder, '--all-accepted'])

    const file = join(dir, 'invoice.pdf')
    await writeFile(file, 'not really a pdf\n')
    const gift = await cliJson<Sent>(M1(), ['send', '--to', 'alice', file])
    const note = await cliJson<Sent>(M1(), ['note', '--to', 'alice', 'open the invoice'])
    const theirs = [gift.sent[0]!.itemId, note.sent[0]!.itemId]

    // Listed apart, with nothing downloaded.
    expect(await requests(A1())).toEqual([
      expect.objectContaining({ kind: 'request', fromName: 'mallory', waiting: 2 }),
    ])
    const human = await cli(A1(), ['requests'])
    expect(human.stdout).toContain('request from @mallory: 2 item(s) waiting, nothing downloaded')
    expect(await inboxIds(A1())).not.toContain(theirs[0])
    // `get` is refused by the server (and would be by core) and writes nothing.
    const out = join(dir, 'get-request')
    const got = await cli(A1(), ['--json', 'get', '--out', out, '--', theirs[0]!])
    expect(errorCode(got), got.stderr).toBe('NOT_ACCEPTED')
    await expectNothingWritten(A1(), out)
    // `inbox --in mallory` says it is a request instead of starting (and so accepting) it.
    const inThem = await cli(A1(), ['--json', 'inbox', '--in', 'mallory'])
    expect(errorCode(inThem), inThem.stderr).toBe('NOT_ACCEPTED')
    expect((await requests(A1())).length).toBe(1)

    // watch --all-accepted saved none of it: the next item of mine arrives, theirs never did.
    const mine = (await cliJson<Sent>(A1(), ['note', 'mine'])).sent[0]!.itemId
    await watch.waitFor(new RegExp(`"event":"received","itemId":"${mine}"`), 30_000)
    await sleep(1500)
    const events = watch.events()
    for (const id of theirs) expect(events.some((e) => e.itemId === id)).toBe(false)
    expect(await readdir(folder).catch(() => [])).not.toContain('invoice.pdf')

    // Accepted: the same items arrive (watch catches up on the next event), inbox lists them.
    const accepted = await cliJson<{ consent: string }>(A1(), ['accept', 'mallory'])
    expect(accepted.consent).toBe('accepted')
    expect(await requests(A1())).toEqual([])
    await cliJson(M1(), ['note', '--to', 'alice', 'thanks'])
    for (const id of theirs) await watch.waitFor(new RegExp(`"event":"received","itemId":"${id}"`), 30_000)
    expect(await readdir(folder)).toContain('invoice.pdf')
    expect(await inboxIds(A1())).toEqual(expect.arrayContaining(theirs))
  })

  it('the person who starts a conversation accepted it; replying needs no accept', async () => {
    const sent = await cliJson<Sent>(A1(), ['note', '--to', 'bob', 'hi bob'])
    expect(await requests(A1())).toEqual([])
    expect((await requests(B1())).map((r) => r.fromName)).toEqual(['alice'])
    // Bob writing back (starting it from his side) accepts it.
    await cliJson(B1(), ['note', '--to', 'alice', 'hi alice'])
    expect(await requests(B1())).toEqual([])
    expect(await inboxIds(B1())).toContain(sent.sent[0]!.itemId)
  })

  it('declining refuses their further items; blocking also refuses conversations and group invitations', async () => {
    await cliJson(E1(), ['note', '--to', 'alice', 'hello?'])
    expect((await cliJson<{ consent: string }>(A1(), ['decline', 'eve'])).consent).toBe('declined')
    expect(await requests(A1())).toEqual([])
    const before = itemCount()
    const again = await cli(E1(), ['--json', 'note', '--to', 'alice', 'hello again'])
    expect(errorCode(again), again.stderr).toBe('NOT_ACCEPTED')
    expect(itemCount()).toBe(before)

    // Block: no item, no conversation, no group invitation — whatever eve's client does.
    await cliJson(A1(), ['block', 'eve'])
    const blocked = await cli(E1(), ['--json', 'note', '--to', 'alice', 'let me in'])
    expect(errorCode(blocked), blocked.stderr).toBe('BLOCKED')
    const group = await cli(E1(), ['--json', 'groups', 'create', 'eves-club', 'alice'])
    expect(errorCode(group), group.stderr).toBe('BLOCKED')
    const own = await cliJson<{ conversationId: string }>(E1(), ['groups', 'create', 'eves-other', 'bob'])
    const add = await cli(E1(), ['--json', 'groups', 'add', own.conversationId, 'alice'])
    expect(errorCode(add), add.stderr).toBe('BLOCKED')
    // Alice's own sends to eve are refused too, until she unblocks.
    const out = await cli(A1(), ['--json', 'note', '--to', 'eve', 'bye'])
    expect(errorCode(out), out.stderr).toBe('BLOCKED')
    expect(itemCount()).toBe(before)

    await cliJson(A1(), ['unblock', 'eve'])
    await cliJson(E1(), ['note', '--to', 'alice', 'sorry'])
    expect((await requests(A1())).map((r) => r.fromName)).toEqual(['eve'])
  })
})

describe('a group is an invitation my device accepts by signing join (SECURITY-TESTS 26)', () => {
  it('nothing is encrypted to an invited member, nothing of the group reaches them; joining changes that', async () => {
    const created = await cliJson<{ conversationId: string; members: { username: string }[] }>(B1(), [
      'groups',
      'create',
      'plans',
      'alice',
    ])
    const gid = created.conversationId
    const groups = await cliJson<{ groups: { conversationId: string; invitation: boolean }[] }>(A1(), [
      'groups',
    ])
    expect(groups.groups.find((g) => g.conversationId === gid)?.invitation).toBe(true)
    expect(await requests(A1())).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'invitation', conversationId: gid, group: 'plans', fromName: 'bob' }),
      ]),
    )

    // Bob's item is encrypted to Bob's devices only; the server does not give it to Alice.
    const early = (await cliJson<Sent>(B1(), ['note', '--to', gid, 'before alice joined'])).sent[0]!.itemId
    const sealed = evil.sql<{ manifest: Uint8Array }>('SELECT manifest FROM items WHERE id = ?', early)[0]!
      .manifest
    const { manifest } = await readManifest(sealed, await deviceSecrets(B1()))
    expect(manifest.recipients.some((r) => r.accountId === ids.alice)).toBe(false)
    const got = await cli(A1(), ['--json', 'get', '--out', join(dir, 'g-early'), '--', early])
    expect(errorCode(got), got.stderr).toBe('NOT_ACCEPTED')
    // Alice cannot send into it either before joining.
    expect(errorCode(await cli(A1(), ['--json', 'note', '--to', gid, 'hi']))).toBe('NOT_ACCEPTED')

    const joined = await cliJson<{ consent: string }>(A1(), ['accept', gid])
    expect(joined.consent).toBe('accepted')
    const shown = await cliJson<{ members: { username: string; role: string }[] }>(B1(), [
      'groups',
      'show',
      gid,
    ])
    expect(shown.members.map((m) => m.username).sort()).toEqual(['alice', 'bob'])
    const later = (await cliJson<Sent>(B1(), ['note', '--to', gid, 'welcome'])).sent[0]!.itemId
    const after = await cliJson<{ path: string }>(A1(), ['get', '--out', join(dir, 'g-later'), '--', later])
    expect(after.path).toBeTruthy()
  })

  it('declining an invitation is leaving the group with my own signed entry', async () => {
    const created = await cliJson<{ conversationId: string }>(B1(), ['groups', 'create', 'other', 'alice'])
    await cliJson(A1(), ['decline', created.conversationId])
    const shown = await cliJson<{ members: { username: string }[] }>(B1(), [
      'groups',
      'show',
      created.conversationId,
    ])
    expect(shown.members.map((m) => m.username)).toEqual(['bob'])
    expect((await requests(A1())).some((r) => r.conversationId === created.conversationId)).toBe(false)
  })
})

describe("the organisation's policy", () => {
  it('colleague-requests off: a first contact from a colleague is accepted at once (blocks still hold)', async () => {
    await cliJson(A1(), ['admin', 'policy', 'set', 'colleague-requests', 'off'])
    try {
      const sent = await cliJson<Sent>(E1(), ['note', '--to', 'bob', 'hello bob'])
      expect((await requests(B1())).filter((r) => r.kind === 'request')).toEqual([])
      expect(await inboxIds(B1())).toContain(sent.sent[0]!.itemId)
      await cliJson(B1(), ['block', 'eve'])
      const r = await cli(E1(), ['--json', 'note', '--to', 'bob', 'again'])
      expect(errorCode(r), r.stderr).toBe('BLOCKED')
    } finally {
      await cliJson(A1(), ['admin', 'policy', 'set', 'colleague-requests', 'on'])
    }
  })
})
