import { readdir, stat, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
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
import { errorCode, invite, linkDevice, setupAccount } from './evil-fixture.js'
import { EvilServer } from './evil-server.js'

/**
 * Who may reach me (SECURITY-TESTS 27, 29, and the `watch` part of 26), through the real server
 * and CLI: a stranger with an ordinary account on the same server cannot capture a colleague's
 * name with a group, cannot hide a risky extension in a name that is cleaned up on saving, and
 * cannot fill my `watch` folder; received files are mine alone (0600).
 */

let dir: string
let evil: EvilServer
const home = (name: string) => join(dir, `home-${name}`)
const A1 = () => home('a1')
const A2 = () => home('a2')
const B1 = () => home('b1')
const M1 = () => home('m1')
const ids: Record<string, string> = {}
let watch: CliProcess | null = null

interface Sent {
  sent: { itemId: string; to: string; conversationId: string }[]
  to: string
  conversationId: string
}
interface InboxRow {
  itemId: string
  in: string
  name?: string | null
  risk?: { reasons: { kind: string; detail: string }[] } | null
}

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-reach-')
  evil = await EvilServer.start(join(dir, 'data'))
  ids.alice = (await setupAccount(evil, A1(), 'alice', evil.setupCode!)).accountId
  ids.bob = (await setupAccount(evil, B1(), 'bob', await invite(A1()))).accountId
  ids.mallory = (await setupAccount(evil, M1(), 'mallory', await invite(A1()))).accountId
  await linkDevice(evil, A1(), A2(), 'alice-phone')
}, 120_000)

afterEach(async () => {
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

const umask = process.umask()
const fileMode = async (p: string) => (await stat(p)).mode & 0o777

describe('names mean one thing (SECURITY-TESTS 27)', () => {
  it('a stranger\'s group called "bob" with alice in it never receives what alice sends --to bob', async () => {
    const trap = await cliJson<{ conversationId: string }>(M1(), ['groups', 'create', 'bob', 'alice'])
    // Alice is in it: it is listed to her, and it verifies.
    const shown = await cliJson<{ name: string }>(A1(), ['groups', 'show', trap.conversationId])
    expect(shown.name).toBe('bob')

    const file = join(dir, 'salary.txt')
    await writeFile(file, 'for bob only\n')
    const sent = await cliJson<Sent>(A1(), ['send', '--to', 'bob', file])
    expect(sent.to).toBe('@bob')
    expect(sent.conversationId).not.toBe(trap.conversationId)
    expect(sent.sent[0]).toMatchObject({ to: '@bob', conversationId: sent.conversationId })
    const itemId = sent.sent[0]!.itemId

    // Bob gets it; the stranger sees nothing of it, and cannot fetch it.
    const bobs = (await cliJson<{ items: InboxRow[] }>(B1(), ['inbox'])).items
    expect(bobs.find((r) => r.itemId === itemId)?.in).toBe('@alice')
    const mallorys = (await cliJson<{ items: InboxRow[] }>(M1(), ['inbox'])).items
    expect(mallorys.some((r) => r.itemId === itemId)).toBe(false)
    expect((await cli(M1(), ['--json', 'get', '--out', join(dir, 'm-out'), '--', itemId])).code).toBe(7)

    // The human output says where it went; `#bob` is the group, and says which one.
    const human = await cli(A1(), ['note', '--to', 'bob', 'hi bob'])
    expect(human.stdout).toMatch(/ to @bob$/m)
    const toGroup = await cli(A1(), ['note', '--to', '#bob', 'to the group'])
    expect(toGroup.code, toGroup.stderr).toBe(0)
    expect(toGroup.stdout).toContain(`to #bob (id ${trap.conversationId})`)
    // `inbox --in bob` is the colleague too.
    const inBob = (await cliJson<{ items: InboxRow[] }>(A1(), ['inbox', '--in', 'bob'])).items
    expect(inBob.map((r) => r.in)).toEqual(inBob.map(() => '@bob'))
    expect(inBob.some((r) => r.itemId === itemId)).toBe(true)
  })

  it('two groups with one name are refused, each listed with its owner and id; the id picks one', async () => {
    const mine = await cliJson<{ conversationId: string }>(A1(), ['groups', 'create', 'team', 'bob'])
    const theirs = await cliJson<{ conversationId: string }>(M1(), ['groups', 'create', 'team', 'alice'])
    const r = await cli(A1(), ['--json', 'note', '--to', '#team', 'plans'])
    expect(r.code).toBe(1)
    expect(errorCode(r)).toBe('INVALID_INPUT')
    expect(r.stderr).toContain(`owned by @alice (id ${mine.conversationId})`)
    expect(r.stderr).toContain(`owned by @mallory (id ${theirs.conversationId})`)
    expect((await cli(A1(), ['--json', 'groups', 'show', 'team'])).code).toBe(1)

    const sent = await cliJson<Sent>(A1(), ['note', '--to', mine.conversationId, 'plans'])
    expect(sent.conversationId).toBe(mine.conversationId)
    expect(sent.to).toBe('#team')
  })
})

describe('risk is judged on the name the file is saved under (SECURITY-TESTS 29)', () => {
  // [name as sent, what the saved name must end with]
  const disguises: [string, string, RegExp][] = [
    ['trailing space', 'invoice.hta ', /\.hta$/],
    ['trailing dot', 'invoice.hta.', /\.hta$/],
    ['zero-width space', 'photo.vb\u200Bs', /\.vbs$/],
    ['ideographic space', 'invoice.hta\u3000', /\.hta$/],
    ['no-break space', 'run.bat\u00A0', /\.bat$/],
    ['bidi override', 'report.ex\u202Ee', /\.exe$/],
    ['truncation at 200 bytes', `${'x'.repeat(196)}.batch_file_with_a_long_tail`, /\.bat$/],
    ['NTFS stream suffix', 'payload.hta:stream', /^payload\.hta_stream$/],
  ]

  it.each(disguises)('%s: flagged by inbox, get and export --decrypted', async (_what, name, saved) => {
    const file = join(dir, 'harmless.txt')
    await writeFile(file, 'nothing to see here\n')
    const sent = await cliJson<Sent>(A1(), ['send', '--name', name, file])
    const itemId = sent.sent[0]!.itemId

    const row = (await cliJson<{ items: InboxRow[] }>(A2(), ['inbox', '--in', 'me'])).items.find(
      (r) => r.itemId === itemId,
    )
    expect(row?.name).toBe(name)
    expect(row?.risk?.reasons.length, JSON.stringify(row)).toBeGreaterThan(0)

    const out = join(dir, `get-${itemId}`)
    const r = await cli(A2(), ['--json', 'get', '--out', out, '--', itemId])
    expect(r.code, r.stderr).toBe(0)
    const got = JSON.parse(r.stdout) as { path: string; risk: { reasons: unknown[] } | null }
    expect(basename(got.path)).toMatch(saved)
    expect(got.risk?.reasons.length).toBeGreaterThan(0)
    expect(r.stderr).toContain('looks risky')
  })

  it('export --decrypted runs the same check', async () => {
    const exported = await cliJson<{ exported: { path: string; risk: { reasons: unknown[] } | null }[] }>(
      A2(),
      ['export', '--decrypted', join(dir, 'export')],
    )
    const risky = exported.exported.filter((e) => /\.(hta|vbs|bat|exe)$/.test(e.path))
    expect(risky.length).toBeGreaterThanOrEqual(6)
    for (const e of risky) expect(e.risk?.reasons.length, e.path).toBeGreaterThan(0)
    for (const e of exported.exported) expect(await fileMode(e.path), e.path).toBe(0o600 & ~umask)
  })
})

describe('received files are mine alone', () => {
  it('get writes 0600, and --mode asks for more (never executable)', async () => {
    const file = join(dir, 'plain.txt')
    await writeFile(file, 'private\n', { mode: 0o644 })
    const itemId = (await cliJson<Sent>(A1(), ['send', file])).sent[0]!.itemId
    const got = await cliJson<{ path: string }>(A2(), ['get', '--out', join(dir, 'modes'), '--', itemId])
    expect(await fileMode(got.path)).toBe(0o600)
    const shared = await cliJson<{ path: string }>(A2(), [
      'get',
      '--mode',
      '640',
      '--out',
      join(dir, 'modes'),
      '--',
      itemId,
    ])
    expect(await fileMode(shared.path)).toBe(0o640 & ~umask)
    const exec = await cli(A2(), ['get', '--mode', '755', '--out', join(dir, 'modes'), '--', itemId])
    expect(exec.code).toBe(2)
  })
})

describe("watch saves my own devices' items by default (SECURITY-TESTS 26)", () => {
  it("a stranger's direct item is not saved unless asked for with --from; mine are, 0600", async () => {
    const folder = join(dir, 'watched')
    watch = new CliProcess(A2(), ['--json', 'watch', '--dir', folder])
    const ready = (await cliJson<Sent>(A1(), ['note', 'watch is running'])).sent[0]!.itemId
    await watch.waitFor(new RegExp(`"event":"received","itemId":"${ready}"`), 30_000)

    // A stranger opens a direct conversation with alice and sends into it.
    const note = await cliJson<Sent>(M1(), ['note', '--to', 'alice', 'open me'])
    const strangerFile = join(dir, 'gift.txt')
    await writeFile(strangerFile, 'a present\n')
    const gift = await cliJson<Sent>(M1(), ['send', '--to', 'alice', strangerFile])
    const theirs = [note.sent[0]!.itemId, gift.sent[0]!.itemId]
    const mine = (await cliJson<Sent>(A1(), ['note', 'from my laptop'])).sent[0]!.itemId
    await watch.waitFor(new RegExp(`"event":"received","itemId":"${mine}"`), 30_000)
    // Every pass lists all conversations after the stranger's items were committed; a moment more
    // for the rest of the pass that saved mine.
    await sleep(2000)
    const events = watch.events()
    for (const id of theirs)
      expect(
        events.some((e) => e.itemId === id),
        id,
      ).toBe(false)
    const saved = await readdir(folder)
    expect(saved).not.toContain('gift.txt')
    const path = events.find((e) => e.itemId === mine)!.path as string
    expect(await fileMode(path)).toBe(0o600)
    watch.proc.kill('SIGTERM')
    await watch.exited

    // Asked for: the same items arrive (their conversation's cursor was never moved).
    watch = new CliProcess(A2(), ['--json', 'watch', '--dir', folder, '--from', 'mallory'])
    for (const id of theirs) await watch.waitFor(new RegExp(`"event":"received","itemId":"${id}"`), 30_000)
    expect(await readdir(folder)).toContain('gift.txt')
  })
})
