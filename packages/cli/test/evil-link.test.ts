import { join } from 'node:path'
import { fromBase64Url, fromUtf8, generateLinkCode, PakeSession, toBase64Url, utf8 } from '@airlock/core'
import { x25519 } from '@noble/curves/ed25519.js'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  CliProcess,
  cli,
  type Run,
  removeDir,
  sleep,
  tempDir,
} from '../../../test-support/harness.js'
import { deviceSecrets, errorCode, linkDevice, pinnedLogText, setupAccount } from './evil-fixture.js'
import { EvilServer, jsonOf, type ProxyResponse, route, withJson } from './evil-server.js'

/**
 * SECURITY-TESTS 17: the server relays the linking mailbox, so it is the natural man in the
 * middle. A replaced PAKE share or QR key ends in a mismatch on both sides and no device is
 * added; used and expired codes are refused. (A wrong code burning the session is in cli.test.)
 */

let dir: string
let evil: EvilServer
let A: string
let n = 0

const receive = route('POST', /\/link\/receive$/)

/** Rewrites the linking messages of type `t` in a `/link/receive` response. */
function rewriteMessages(
  res: ProxyResponse,
  t: string,
  f: (m: Record<string, string>) => void,
): ProxyResponse {
  if (res.status !== 200) return res
  const r = jsonOf<{ state: string; messages: { index: number; body: string }[] }>(res)
  for (const m of r.messages) {
    const msg = JSON.parse(fromUtf8(fromBase64Url(m.body))) as Record<string, string>
    if (msg.t !== t) continue
    f(msg)
    m.body = toBase64Url(utf8(JSON.stringify(msg)))
  }
  return withJson(res, r)
}

const startLink = () => new CliProcess(join(dir, `new-${++n}`), ['--json', 'link', evil.url, '--name', 'new'])

/** Waits for a linking process to end, killing it after `ms` (the test then fails on its code). */
async function ended(p: CliProcess, ms = 30_000): Promise<Run> {
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), ms)
  const r = await p.exited
  clearTimeout(timer)
  return r
}

/** The account's devices and log did not change. */
async function expectNoDeviceAdded(pinned: string): Promise<void> {
  expect((await cli(A, ['--json', 'devices'])).code).toBe(0)
  expect(await pinnedLogText(A)).toBe(pinned)
}

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-evil-link-')
  evil = await EvilServer.start(join(dir, 'data'))
  A = join(dir, 'home-a')
  await setupAccount(evil, A, 'alice', evil.setupCode!)
})

afterEach(() => evil.reset())

afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

describe('a malicious server relaying device linking (evil-server harness, real CLI)', () => {
  it('SECURITY-17: a PAKE share replaced by an attacker’s: mismatch on both sides, nothing added', async () => {
    const a = await deviceSecrets(A)
    const pinned = await pinnedLogText(A)
    const link = startLink()
    const code = (await link.waitFor(/"code":"(\d{4}-\d{4}-\d{4})"/))[1]!
    // The attacker guesses a code for the same mailbox and swaps in its own share.
    const attacker = new PakeSession({
      role: 'initiator',
      code: generateLinkCode(code.slice(0, 4)),
      channel: 'x',
    })
    evil.tamper(route('POST', /\/link\/receive$/, a.record.id), (_q, res) =>
      rewriteMessages(res, 'hello', (m) => {
        m.share = toBase64Url(attacker.message)
      }),
    )
    const approve = await cli(A, ['--json', 'devices', 'approve'], { input: `${code}\ny\n` })
    const linked = await ended(link)
    expect(errorCode(linked)).toBe('PAKE_FAILED')
    expect(linked.code).toBe(6)
    expect(approve.code).not.toBe(0)
    expect(approve.stdout).not.toMatch(/"event":"device"/)
    await expectNoDeviceAdded(pinned)
    // The burnt code cannot be used again.
    expect((await cli(A, ['--json', 'devices', 'approve'], { input: `${code}\ny\n` })).code).toBe(7)
  })

  it('SECURITY-17: a QR key replaced by the server: fingerprints differ, the existing device aborts', async () => {
    const pinned = await pinnedLogText(A)
    const link = startLink()
    const url = (await link.waitFor(/"link":"([^"]+)"/))[1]!
    const fake = x25519.getPublicKey(x25519.utils.randomSecretKey())
    evil.tamper(
      (q) => receive(q) && q.deviceId === null,
      (_q, res) =>
        rewriteMessages(res, 'qr', (m) => {
          m.key = toBase64Url(fake)
        }),
    )
    const approve = await cli(A, ['--json', 'devices', 'approve'], { input: `${url}\ny\n` })
    expect(errorCode(approve)).toBe('PAKE_FAILED')
    expect(approve.code).toBe(6)
    const linked = await ended(link)
    expect(linked.code).not.toBe(0)
    expect(link.events().some((e) => e.event === 'linked')).toBe(false)
    await expectNoDeviceAdded(pinned)
  })

  it('SECURITY-17: used and expired codes and links are refused', async () => {
    // Used: a code that already linked a device.
    const { code } = await linkDevice(evil, A, join(dir, 'phone'), 'phone')
    const pinned = await pinnedLogText(A)
    expect((await cli(A, ['--json', 'devices', 'approve'], { input: `${code}\ny\n` })).code).toBe(7)
    // Expired on the server: the mailbox is past its time.
    const link1 = startLink()
    const code1 = (await link1.waitFor(/"code":"(\d{4}-\d{4}-\d{4})"/))[1]!
    evil.sql(
      'UPDATE link_mailboxes SET expires_at = ? WHERE nameplate = ?',
      Date.now() - 1000,
      code1.slice(0, 4),
    )
    expect((await cli(A, ['--json', 'devices', 'approve'], { input: `${code1}\ny\n` })).code).toBe(7)
    link1.proc.kill('SIGTERM')
    await ended(link1)
    // Expired in the link itself (the server shortened the mailbox's life): both sides refuse.
    evil.tamper(route('POST', /\/link$/), (_q, res) =>
      withJson(res, { ...jsonOf(res), expiresAt: Date.now() + 1500 }),
    )
    const link2 = startLink()
    const url = (await link2.waitFor(/"link":"([^"]+)"/))[1]!
    await sleep(2000)
    const approve = await cli(A, ['--json', 'devices', 'approve'], { input: `${url}\ny\n` })
    expect(errorCode(approve)).toBe('LINK_EXPIRED')
    // Expired is gone, like an expired share link (7), not a failed verification (6).
    expect(approve.code).toBe(7)
    const linked = await ended(link2)
    expect(errorCode(linked)).toBe('LINK_EXPIRED')
    await expectNoDeviceAdded(pinned)
  })
})
