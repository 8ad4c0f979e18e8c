import { join } from 'node:path'
import type { Manifest } from '@airlock/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  CliProcess,
  cli,
  cliJson,
  randomFile,
  removeDir,
  tempDir,
} from '../../../test-support/harness.js'
import { login, request } from '../../server/test/api-client.js'
import {
  deviceSecrets,
  expectNothingWritten,
  expectRefused,
  forgeManifest,
  invite,
  readManifest,
  setupAccount,
} from './evil-fixture.js'
import { EvilServer, jsonOf, type ProxyResponse, route, withJson } from './evil-server.js'

/**
 * Issue 18, hole 4: a member removed from a group keeps posting. Through the real CLI and server
 * (behind the evil proxy): an item mallory reserved before her removal is refused at commit even
 * when her client is kept from learning of the removal; and members refuse a group item whose
 * signed manifest does not name a position of the group log at which its sender was a member.
 */

let dir: string
let evil: EvilServer
const A = () => join(dir, 'home-alice')
const B = () => join(dir, 'home-bob')
const M = () => join(dir, 'home-mallory')
const ids: Record<string, { accountId: string; deviceId: string }> = {}
let groupId: string
let earlier: string

const committed = () =>
  evil.sql<{ id: string }>(
    "SELECT id FROM items WHERE conversation_id = ? AND sender_account_id = ? AND state = 'committed'",
    groupId,
    ids.mallory!.accountId,
  )

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-evil-membership-')
  evil = await EvilServer.start(join(dir, 'data'))
  ids.alice = await setupAccount(evil, A(), 'alice', evil.setupCode!)
  ids.bob = await setupAccount(evil, B(), 'bob', await invite(A()))
  ids.mallory = await setupAccount(evil, M(), 'mallory', await invite(A()))
  groupId = (await cliJson<{ conversationId: string }>(A(), ['groups', 'create', 'team', 'bob', 'mallory']))
    .conversationId
  // Invited members join with their own signed entry before they can send or receive.
  for (const home of [B(), M()]) await cliJson(home, ['accept', groupId])
  // While she is a member, mallory's items reach everyone.
  earlier = (await cliJson<{ sent: { itemId: string }[] }>(M(), ['note', '--to', groupId, 'hello team']))
    .sent[0]!.itemId
})

afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

describe('a removed member', () => {
  it('cannot commit an item reserved before the removal, even with her removal hidden from her client', async () => {
    // Her client is kept from learning of the removal: the proxy answers her conversation and
    // group log requests as they were answered before (a modified client would simply skip them).
    const before = new Map<string, ProxyResponse>()
    const mine = route('GET', new RegExp(`/conversations/${groupId}(/log)?$`), ids.mallory!.deviceId)
    evil.tamper(mine, (req, res) => {
      if (res.status === 200) before.set(req.path, res)
      else return before.get(req.path)
    })
    let release!: () => void
    const released = new Promise<void>((r) => {
      release = r
    })
    let held = false
    evil.tamper(route('PATCH', /\/uploads\//, ids.mallory!.deviceId), async (_q, res) => {
      held = true
      await released
      return res
    })
    const file = join(dir, 'late.bin')
    await randomFile(file, 300_000)
    const send = new CliProcess(M(), ['--json', 'send', '--to', groupId, file])
    for (let i = 0; i < 400 && !held; i++) await new Promise((r) => setTimeout(r, 50))
    expect(held).toBe(true)
    await cliJson(A(), ['groups', 'remove', '#team', 'mallory'])
    release()
    const r = await send.exited
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/FORBIDDEN/)
    expect(r.stderr).toMatch(/no longer a member/)
    evil.reset()
    // Only her item from before the removal was ever committed, and nothing waits in her outbox.
    expect(committed().map((i) => i.id)).toEqual([earlier])
    const resumed = await cli(M(), ['resume'])
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stdout + resumed.stderr).toMatch(/nothing to resume/)
    expect(committed().map((i) => i.id)).toEqual([earlier])
  })

  it('her item from while she was a member stays readable; one naming no or a later group position is refused', async () => {
    const out = join(dir, 'out-ok')
    const got = await cliJson<{ fromAccount: string }>(B(), ['get', '--out', out, '--', earlier])
    expect(got.fromAccount).toBe(ids.mallory!.accountId)

    const bob = await deviceSecrets(B())
    const mallory = await deviceSecrets(M())
    const sealed = evil.sql<{ manifest: Uint8Array }>('SELECT manifest FROM items WHERE id = ?', earlier)[0]!
      .manifest
    const { manifest } = await readManifest(sealed, bob)
    // Created at 0, joined by the two invited members at 1 and 2: she sent at the head, 2.
    expect(manifest.groupLog?.seq).toBe(2)
    const head = evil.sql<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM group_log WHERE conversation_id = ? ORDER BY seq DESC LIMIT 1',
      groupId,
    )[0]!
    const { groupLog: _, ...withoutPosition } = manifest
    const forgeries: [string, Manifest][] = [
      // An item in the older form, without a position: admitted only from current members.
      ['no position', withoutPosition as Manifest],
      // Her own device signs the head after her removal: she was not a member there.
      ['after her removal', { ...manifest, groupLog: { seq: head.seq, head: head.hash } }],
    ]
    for (const [what, forged] of forgeries) {
      const resealed = Buffer.from(await forgeManifest(forged, [bob], mallory)).toString('base64url')
      evil.tamper(route('GET', new RegExp(`/items/${earlier}$`), ids.bob!.deviceId), (_q, res) =>
        withJson(res, { ...jsonOf(res), manifest: resealed }),
      )
      const target = join(dir, `out-${what.replaceAll(' ', '-')}`)
      const r = await cli(B(), ['--json', 'get', '--out', target, '--', earlier])
      expectRefused(r, 'SIGNATURE')
      await expectNothingWritten(B(), target)
      evil.reset()
    }
  })
})

describe('who may set a conversation retention', () => {
  it("a group member or the other side of a direct conversation cannot shorten how long others' items are kept", async () => {
    const bobToken = await login(evil.url, await deviceSecrets(B()))
    const aliceToken = await login(evil.url, await deviceSecrets(A()))
    const setRetention = (token: string, conversationId: string, retentionMs: number | null) =>
      request(evil.url, 'PUT', `/conversations/${conversationId}/retention`, { token, json: { retentionMs } })
    const retentionOf = async (conversationId: string) =>
      (await request(evil.url, 'GET', `/conversations/${conversationId}`, { token: aliceToken })).json
        .retentionMs

    // A plain member of the group: refused; the owner (or an admin) decides for the group.
    const byMember = await setRetention(bobToken, groupId, 1000)
    expect(byMember.status).toBe(403)
    expect(byMember.json.error.message).toMatch(/owner or an admin/)
    expect(await retentionOf(groupId)).toBeUndefined()
    expect((await setRetention(aliceToken, groupId, 3_600_000)).status).toBe(200)
    expect(await retentionOf(groupId)).toBe(3_600_000)

    // A direct conversation: neither side decides for the other's items.
    const direct = (await cliJson<{ sent: { itemId: string }[] }>(B(), ['note', '--to', 'alice', 'hi alice']))
      .sent[0]!.itemId
    const cid = evil.sql<{ conversation_id: string }>(
      'SELECT conversation_id FROM items WHERE id = ?',
      direct,
    )[0]!.conversation_id
    for (const token of [bobToken, aliceToken]) {
      const r = await setRetention(token, cid, 1000)
      expect(r.status).toBe(403)
      expect(r.json.error.message).toMatch(/neither side/)
    }
    expect(await retentionOf(cid)).toBeUndefined()
  })
})
