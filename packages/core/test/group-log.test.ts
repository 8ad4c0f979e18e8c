import { beforeAll, describe, expect, it } from 'vitest'
import { encryptBytes } from '../src/age.js'
import type { GroupLogResponse, LogResponse } from '../src/api.js'
import { utf8 } from '../src/bytes.js'
import { type Canonical, canonicalJson } from '../src/canonical.js'
import {
  appendEntry,
  createGenesis,
  entryValue,
  extendVerified,
  logFingerprint,
  type VerifiedLog,
  verifyLog,
} from '../src/device-log.js'
import { Directory, type DirectoryStore, type PinnedColleague, type PinnedGroup } from '../src/directory.js'
import { GroupLogError, ManifestError, SignatureError } from '../src/errors.js'
import {
  appendGroupEntry,
  createGroupEntry,
  decodeGroupEntry,
  deviceActiveAt,
  extendGroupLog,
  GROUP_LOG_CONTEXT,
  type GroupEntry,
  groupEntryHash,
  groupFingerprint,
  groupMembersAt,
  groupSignedValue,
  groupSignerFromLogs,
  invitedBy,
  joinedMembers,
  type VerifiedGroup,
  verifyGroupLog,
} from '../src/group-log.js'
import { type DeviceSecrets, generateDevice, signCanonical } from '../src/identity.js'
import { MANIFEST_CONTEXT, openManifest, sealManifest } from '../src/manifest.js'
import { conversationResolveLog, type ItemReader } from '../src/verified-items.js'

/**
 * The group membership log: who may change what, the chain, signatures checked against the
 * signer's verified device log at the position it names; and the Directory clients build on it
 * (colleagues pinned on first use, keys that change without their own signature refused).
 */

const GROUP = 'group-0000000000000000'
let alice: DeviceSecrets
let alicePhone: DeviceSecrets
let bob: DeviceSecrets
let carol: DeviceSecrets
let logs: Map<string, VerifiedLog>
const resolve = async (account: string) => {
  const l = logs.get(account)
  if (!l) throw new Error(`no log for ${account}`)
  return l
}
const check = () => groupSignerFromLogs(resolve)

beforeAll(async () => {
  const devices = await Promise.all(
    ['alice', 'alice-phone', 'bob', 'carol'].map((name, i) => generateDevice({ name, kind: 'cli', now: i })),
  )
  alice = devices[0]!
  alicePhone = devices[1]!
  bob = devices[2]!
  carol = devices[3]!
  logs = new Map()
  for (const [account, d] of [
    ['alice', alice],
    ['bob', bob],
    ['carol', carol],
  ] as const) {
    logs.set(account, verifyLog(account, [entryValue(createGenesis(account, d))]))
  }
})

/** Alice's group "team" with Bob as admin; Bob has joined unless `invited`. */
async function group(opts: { invited?: boolean } = {}): Promise<GroupEntry[]> {
  const create = createGroupEntry({
    group: GROUP,
    name: 'team',
    members: [{ account: 'bob', role: 'admin' }],
    signer: alice,
    signerLog: logs.get('alice')!,
  })
  if (opts.invited) return [create]
  const v = await verifyGroupLog(GROUP, [create], check())
  return [create, appendGroupEntry(v, { op: 'join' }, bob, logs.get('bob')!)]
}

/** Signs an entry as code from before invitations did (version 1), for logs that exist already. */
function legacyEntry(fields: Record<string, unknown>, device: DeviceSecrets, who: string): GroupEntry {
  const log = logs.get(who)!
  const body = {
    v: 1 as const,
    context: GROUP_LOG_CONTEXT,
    ...fields,
    signer: { account: who, device: device.record.id, logSeq: log.seq, logHead: log.head },
  }
  const sig = signCanonical(device, GROUP_LOG_CONTEXT, groupSignedValue(body as GroupEntry))
  return decodeGroupEntry({ ...body, sig })
}

describe('group log', () => {
  it('verifies a history of changes and gives the same fingerprint to every verifier', async () => {
    const entries = await group()
    let v = await verifyGroupLog(GROUP, entries, check())
    const add = appendGroupEntry(v, { op: 'add', account: 'carol', role: 'member' }, bob, logs.get('bob')!)
    v = await extendGroupLog(v, [add], check())
    const leave = appendGroupEntry(v, { op: 'remove', account: 'carol' }, carol, logs.get('carol')!)
    v = await extendGroupLog(v, [leave], check())
    const rename = appendGroupEntry(v, { op: 'rename', name: 'team 2' }, alice, logs.get('alice')!)
    v = await extendGroupLog(v, [rename], check())
    expect(v.name).toBe('team 2')
    expect([...v.members]).toEqual([
      ['alice', 'owner'],
      ['bob', 'admin'],
    ])
    const again = await verifyGroupLog(GROUP, [...entries, add, leave, rename], check(), {
      seq: 2,
      head: groupEntryHash(add),
    })
    expect(groupFingerprint(again)).toBe(groupFingerprint(v))
    // JSON round trip (what the server stores and serves) verifies the same.
    const wire = JSON.parse(JSON.stringify([...entries, add, leave, rename]))
    expect((await verifyGroupLog(GROUP, wire, check())).head).toBe(v.head)
  })

  it('refuses changes the signer may not make', async () => {
    const v = await verifyGroupLog(GROUP, await group(), check())
    // A plain member cannot add; only the owner makes admins or changes roles; nobody removes the owner.
    const withCarol = await extendGroupLog(
      v,
      [appendGroupEntry(v, { op: 'add', account: 'carol', role: 'member' }, alice, logs.get('alice')!)],
      check(),
    )
    expect(() =>
      appendGroupEntry(withCarol, { op: 'add', account: 'dave', role: 'member' }, carol, logs.get('carol')!),
    ).toThrow(GroupLogError)
    expect(() =>
      appendGroupEntry(withCarol, { op: 'role', account: 'carol', role: 'admin' }, bob, logs.get('bob')!),
    ).toThrow(/only the owner/)
    expect(() =>
      appendGroupEntry(withCarol, { op: 'remove', account: 'alice' }, bob, logs.get('bob')!),
    ).toThrow(/owner cannot/)
    expect(() =>
      appendGroupEntry(withCarol, { op: 'add', account: 'carol', role: 'member' }, alice, logs.get('alice')!),
    ).toThrow(/already a member/)
  })

  it("refuses an entry signed by a device that is not in the signer account's log, or a bad signature", async () => {
    const entries = await group()
    const v = await verifyGroupLog(GROUP, entries, check())
    const forger = await generateDevice({ name: 'alice', kind: 'cli', now: 9 })
    const forged = appendGroupEntry(
      v,
      { op: 'add', account: 'carol', role: 'member' },
      forger,
      logs.get('alice')!,
    )
    await expect(extendGroupLog(v, [forged], check())).rejects.toThrow(SignatureError)
    const honest = appendGroupEntry(
      v,
      { op: 'add', account: 'carol', role: 'member' },
      alice,
      logs.get('alice')!,
    )
    const altered = { ...honest, account: 'bob' }
    await expect(extendGroupLog(v, [altered], check())).rejects.toThrow()
    // A reordered or replayed chain breaks the hash links.
    await expect(verifyGroupLog(GROUP, [honest, ...entries], check())).rejects.toThrow(GroupLogError)
    await expect(verifyGroupLog(GROUP, [...entries, honest, honest], check())).rejects.toThrow()
  })

  it("checks the signer was active at the log position it names (a later-added device can't sign earlier)", async () => {
    const aliceLog = logs.get('alice')!
    const withPhone = extendVerified(aliceLog, [
      entryValue(appendEntry(aliceLog, alice, 'add', alicePhone.record)),
    ])
    expect(deviceActiveAt(withPhone, alicePhone.record.id, 0)).toBeUndefined()
    expect(deviceActiveAt(withPhone, alicePhone.record.id, 1)?.id).toBe(alicePhone.record.id)
    const v = await verifyGroupLog(GROUP, await group(), check())
    // Signed by the phone at position 0 of Alice's log, where the phone did not exist yet.
    const early = appendGroupEntry(v, { op: 'rename', name: 'x' }, alicePhone, aliceLog)
    const resolveNew = groupSignerFromLogs(async (a) => (a === 'alice' ? withPhone : resolve(a)))
    await expect(extendGroupLog(v, [early], resolveNew)).rejects.toThrow(SignatureError)
    const ok = appendGroupEntry(v, { op: 'rename', name: 'y' }, alicePhone, withPhone)
    expect((await extendGroupLog(v, [ok], resolveNew)).name).toBe('y')
  })
})

describe('group invitations (join)', () => {
  it('an added member is invited until their own device signs join; nobody else can join for them', async () => {
    const [create] = await group({ invited: true })
    const v = await verifyGroupLog(GROUP, [create!], check())
    expect([...v.invited]).toEqual(['bob'])
    expect([...joinedMembers(v).keys()]).toEqual(['alice'])
    expect(invitedBy(v, 'bob')).toBe('alice')
    // The owner cannot accept for Bob, an outsider cannot join, and an invited Bob changes nothing.
    expect(() => appendGroupEntry(v, { op: 'join' }, alice, logs.get('alice')!)).toThrow(
      /only an invited member joins/,
    )
    expect(() => appendGroupEntry(v, { op: 'join' }, carol, logs.get('carol')!)).toThrow(/not a member/)
    expect(() => appendGroupEntry(v, { op: 'rename', name: 'mine' }, bob, logs.get('bob')!)).toThrow(
      /joins or declines/,
    )
    expect(() =>
      appendGroupEntry(v, { op: 'add', account: 'carol', role: 'member' }, bob, logs.get('bob')!),
    ).toThrow(/joins or declines/)
    // A join signed in Bob's name by a device that is not in Bob's log does not verify.
    const forger = await generateDevice({ name: 'bob', kind: 'cli', now: 11 })
    const forged = appendGroupEntry(v, { op: 'join' }, forger, logs.get('bob')!)
    await expect(extendGroupLog(v, [forged], check())).rejects.toThrow(SignatureError)
    // Bob's own device joins: he is a member like any other.
    const joined = await extendGroupLog(
      v,
      [appendGroupEntry(v, { op: 'join' }, bob, logs.get('bob')!)],
      check(),
    )
    expect(joined.invited.size).toBe(0)
    expect([...joinedMembers(joined).keys()].sort()).toEqual(['alice', 'bob'])
    expect(() => appendGroupEntry(joined, { op: 'join' }, bob, logs.get('bob')!)).toThrow(
      /only an invited member joins/,
    )
    // A join entry that names another account is malformed.
    const extra = { ...appendGroupEntry(v, { op: 'join' }, bob, logs.get('bob')!), account: 'carol' }
    await expect(extendGroupLog(v, [extra], check())).rejects.toThrow(GroupLogError)
  })

  it('declining is removing myself; someone removed and added again is invited again', async () => {
    const [create] = await group({ invited: true })
    const v = await verifyGroupLog(GROUP, [create!], check())
    const declined = await extendGroupLog(
      v,
      [appendGroupEntry(v, { op: 'remove', account: 'bob' }, bob, logs.get('bob')!)],
      check(),
    )
    expect(declined.members.has('bob')).toBe(false)
    expect(declined.invited.size).toBe(0)
    expect(declined.everJoined.has('bob')).toBe(false)
    const again = await extendGroupLog(
      declined,
      [appendGroupEntry(declined, { op: 'add', account: 'bob', role: 'member' }, alice, logs.get('alice')!)],
      check(),
    )
    expect(again.invited.has('bob')).toBe(true)
  })

  it('groups from before invitations (version-1 entries) verify with every member joined; a log never goes back to version 1', async () => {
    const create = legacyEntry(
      {
        group: GROUP,
        seq: 0,
        prev: '',
        op: 'create',
        name: 'old team',
        members: [
          { account: 'alice', role: 'owner' },
          { account: 'bob', role: 'member' },
        ],
      },
      alice,
      'alice',
    )
    const add = legacyEntry(
      { group: GROUP, seq: 1, prev: groupEntryHash(create), op: 'add', account: 'carol', role: 'member' },
      alice,
      'alice',
    )
    const old = await verifyGroupLog(GROUP, [create, add], check())
    expect(old.invited.size).toBe(0)
    expect([...joinedMembers(old).keys()].sort()).toEqual(['alice', 'bob', 'carol'])
    // A join is a version-2 entry; new entries on an old log are version 2 and invite.
    const oldJoin = legacyEntry({ group: GROUP, seq: 2, prev: old.head, op: 'join' }, bob, 'bob')
    await expect(extendGroupLog(old, [oldJoin], check())).rejects.toThrow(/version-2/)
    const removed = await extendGroupLog(
      old,
      [appendGroupEntry(old, { op: 'remove', account: 'carol' }, alice, logs.get('alice')!)],
      check(),
    )
    expect(removed.entries.at(-1)!.v).toBe(2)
    const readd = await extendGroupLog(
      removed,
      [appendGroupEntry(removed, { op: 'add', account: 'carol', role: 'member' }, alice, logs.get('alice')!)],
      check(),
    )
    expect(readd.invited.has('carol')).toBe(true)
    // Nobody gets in without consent by signing an old-style entry after a new one.
    const sneaky = legacyEntry(
      { group: GROUP, seq: removed.seq + 1, prev: removed.head, op: 'add', account: 'carol', role: 'member' },
      alice,
      'alice',
    )
    await expect(extendGroupLog(removed, [sneaky], check())).rejects.toThrow(/never goes back/)
  })
})

/** A Directory over in-memory pins and a server that serves `served` logs. */
function directory(served: Map<string, unknown[]>, groups: Map<string, GroupEntry[]>, me = 'alice') {
  const colleagues = new Map<string, PinnedColleague>()
  const pinnedGroups = new Map<string, PinnedGroup>()
  const direct = new Map<string, string>()
  const store: DirectoryStore = {
    getColleague: async (id) => colleagues.get(id) ?? null,
    putColleague: async (c) => void colleagues.set(c.accountId, c),
    deleteColleague: async (id) => void colleagues.delete(id),
    listColleagues: async () => [...colleagues.values()],
    getGroup: async (id) => pinnedGroups.get(id) ?? null,
    putGroup: async (g) => void pinnedGroups.set(g.conversationId, g),
    getDirectPeer: async (id) => direct.get(id) ?? null,
    putDirectPeer: async (id, a) => void direct.set(id, a),
  }
  const page = (entries: unknown[], since: number | undefined, head: { seq: number; hash: string }) => ({
    entries: entries.filter((e) => since === undefined || (e as { seq: number }).seq > since),
    head,
    more: false,
  })
  return new Directory(
    store,
    {
      logPage: async (id, since): Promise<LogResponse> => {
        const entries = served.get(id)!
        const v = verifyLog(id, entries)
        return page(entries, since, { seq: v.seq, hash: v.head }) as LogResponse
      },
      groupLogPage: async (id, since): Promise<GroupLogResponse> => {
        const entries = groups.get(id)!
        const last = entries.at(-1)!
        return page(entries, since, { seq: last.seq, hash: groupEntryHash(last) })
      },
      username: async (id) => id,
    },
    { accountId: me, log: async () => logs.get(me)! },
  )
}

describe('Directory', () => {
  it('pins a colleague on first use, follows chain-valid growth, and refuses substituted keys', async () => {
    const bobLog = logs.get('bob')!
    const served = new Map<string, unknown[]>([['bob', bobLog.entries.map(entryValue)]])
    const dir = directory(served, new Map())
    const first = await dir.colleague('bob')
    expect(first.firstSeen).toBe(true)
    expect(logFingerprint(first.log)).toBe(logFingerprint(bobLog))

    const bobPhone = await generateDevice({ name: 'bob-phone', kind: 'web', now: 5 })
    served.set('bob', [
      ...bobLog.entries.map(entryValue),
      entryValue(appendEntry(bobLog, bob, 'add', bobPhone.record)),
    ])
    // Bob's own device signed the addition: the pin moves on.
    const grown = await dir.colleague('bob', { seq: 1, head: '' })
    expect(grown.firstSeen).toBe(false)
    expect(grown.log.seq).toBe(1)

    // The server now claims Bob is someone else: a new genesis with its own key.
    const mallory = await generateDevice({ name: 'bob', kind: 'cli', now: 7 })
    served.set('bob', [entryValue(createGenesis('bob', mallory))])
    await expect(dir.colleague('bob', { seq: 2, head: '' })).rejects.toMatchObject({ code: 'KEYS_CHANGED' })
  })

  it("recipients of a group come from the verified group log, not the server's member list", async () => {
    const served = new Map<string, unknown[]>([
      ['bob', logs.get('bob')!.entries.map(entryValue)],
      ['carol', logs.get('carol')!.entries.map(entryValue)],
    ])
    const entries = await group()
    const dir = directory(served, new Map([[GROUP, entries]]))
    const sets = await dir.recipients({
      conversationId: GROUP,
      kind: 'group',
      members: ['alice', 'bob', 'carol'], // the server adds Carol
      lastSeq: 0,
      createdAt: 0,
    })
    expect(sets.map((s) => s.log.accountId).sort()).toEqual(['alice', 'bob'])
  })

  it('encrypts to joined members only, refuses to send while I am invited, and accepts items only from members who joined', async () => {
    const served = new Map<string, unknown[]>([
      ['alice', logs.get('alice')!.entries.map(entryValue)],
      ['bob', logs.get('bob')!.entries.map(entryValue)],
      ['carol', logs.get('carol')!.entries.map(entryValue)],
    ])
    const conv = { conversationId: GROUP, kind: 'group' as const, members: [], lastSeq: 0, createdAt: 0 }
    // Bob invited (not joined): Alice's items go to Alice only, and Bob is no sender.
    const invited = await group({ invited: true })
    const aliceDir = directory(served, new Map([[GROUP, invited]]))
    expect((await aliceDir.recipients(conv)).map((s) => s.log.accountId)).toEqual(['alice'])
    const invitedRule = await aliceDir.senders(conv)
    await expect(invitedRule.admit('alice', undefined)).resolves.toBeUndefined()
    await expect(invitedRule.admit('bob', undefined)).rejects.toThrow(SignatureError)
    // Bob's own directory: sending to a group he has not joined is refused.
    const bobDir = directory(served, new Map([[GROUP, invited]]), 'bob')
    await expect(bobDir.recipients(conv)).rejects.toMatchObject({ code: 'NOT_ACCEPTED' })
    // Once Bob's join is in the log, both encrypt to both.
    const joined = await group()
    const after = directory(served, new Map([[GROUP, joined]]))
    expect((await after.recipients(conv)).map((s) => s.log.accountId).sort()).toEqual(['alice', 'bob'])
    await expect((await after.senders(conv)).admit('bob', undefined)).resolves.toBeUndefined()
  })

  it('a group item is admitted only from a member at the group log position its signed manifest names', async () => {
    const served = new Map<string, unknown[]>(
      ['bob', 'carol'].map((a) => [a, logs.get(a)!.entries.map(entryValue)]),
    )
    // alice (owner), bob joins at 1; carol added at 2 and joins at 3; bob removed at 4.
    const entries = await group()
    let v = await verifyGroupLog(GROUP, entries, check())
    for (const [change, signer, account] of [
      [{ op: 'add', account: 'carol', role: 'member' }, alice, 'alice'],
      [{ op: 'join' }, carol, 'carol'],
      [{ op: 'remove', account: 'bob' }, alice, 'alice'],
    ] as const) {
      const e = appendGroupEntry(v, change, signer, logs.get(account)!)
      entries.push(e)
      v = await extendGroupLog(v, [e], check())
    }
    const at = (seq: number) => ({ seq, head: groupEntryHash(entries[seq]!) })
    // Invited (added, not joined) is no sender yet.
    expect([...groupMembersAt(v, at(2))!.keys()]).toEqual(['alice', 'bob'])
    expect([...groupMembersAt(v, at(3))!.keys()]).toEqual(['alice', 'bob', 'carol'])
    expect(groupMembersAt(v, { seq: 1, head: at(0).head })).toBeNull()
    expect(groupMembersAt(v, { seq: 5, head: at(4).head })).toBeNull()

    const dir = directory(served, new Map([[GROUP, entries]]))
    const conversation = {
      conversationId: GROUP,
      kind: 'group' as const,
      members: [],
      lastSeq: 0,
      createdAt: 0,
    }
    const reader: ItemReader = {
      accountId: 'alice',
      device: alice,
      directory: dir,
      conversation: async () => conversation,
    }
    const seal = (sender: DeviceSecrets, account: string, g?: VerifiedGroup) =>
      sealManifest({
        sender: { device: sender, log: logs.get(account)! },
        recipients: [{ log: logs.get('alice')! }],
        meta: { ...META, conversationId: GROUP },
        ...(g ? { group: g } : {}),
        ciphertextSha256: 'A'.repeat(43),
        ciphertextSize: 100,
        plaintextSize: 10,
      })
    const open = async (sealed: Uint8Array) =>
      openManifest({
        sealed,
        device: alice,
        expect: { itemId: META.itemId, conversationId: GROUP },
        resolveLog: await conversationResolveLog(reader, GROUP),
        accountId: 'alice',
      })
    // Sealing names the head of the verified log, and refuses a sender who is not a member there.
    const fromCarol = await seal(carol, 'carol', v)
    expect(fromCarol.manifest.groupLog).toEqual(at(4))
    expect((await open(fromCarol.sealed)).sender.accountId).toBe('carol')
    await expect(seal(bob, 'bob', v)).rejects.toThrow(/not a member/)
    // Bob's item from while he was a member stays readable; one naming a later head is refused.
    const v1 = await verifyGroupLog(GROUP, entries.slice(0, 2), check())
    expect((await open((await seal(bob, 'bob', v1)).sealed)).sender.accountId).toBe('bob')
    // Carol names a head from before she was added (her own device signs it): refused.
    const forged = await forgeGroupLog(carol, 'carol', at(0))
    await expect(open(forged)).rejects.toThrow(/not a member of the group then/)
    // A position that is not in the verified log is refused; so is an item without one from a
    // former member (old items are admitted only from current members).
    await expect(open(await forgeGroupLog(carol, 'carol', { seq: 1, head: at(0).head }))).rejects.toThrow(
      /not in it/,
    )
    await expect(open((await seal(bob, 'bob')).sealed)).rejects.toThrow(SignatureError)
    expect((await open((await seal(carol, 'carol')).sealed)).sender.accountId).toBe('carol')
  })

  it('outside a group, only me (and the pinned peer) may have sent an item, which names no group position', async () => {
    const dir = directory(new Map(), new Map())
    const self = { conversationId: 'me', kind: 'self' as const, members: ['alice'], lastSeq: 0, createdAt: 0 }
    const rule = await dir.senders(self)
    await expect(rule.admit('alice', undefined)).resolves.toBeUndefined()
    await expect(rule.admit('bob', undefined)).rejects.toThrow(SignatureError)
    await expect(rule.admit('alice', { seq: 0, head: 'A'.repeat(43) })).rejects.toThrow(ManifestError)
  })
})

const META = {
  itemId: 'item-1',
  conversationId: GROUP,
  filename: 'a.txt',
  type: 'text/plain',
  mtime: 0,
  created: 0,
  kind: 'file' as const,
}

/** A manifest signed by `sender` (a real device of a member) naming any group log position. */
async function forgeGroupLog(
  sender: DeviceSecrets,
  account: string,
  groupLog: { seq: number; head: string },
): Promise<Uint8Array> {
  const log = logs.get(account)!
  const manifest = {
    ...META,
    v: 1,
    context: MANIFEST_CONTEXT,
    sender: { accountId: account, deviceId: sender.record.id, logSeq: log.seq, logHead: log.head },
    groupLog,
    recipients: logs
      .get('alice')!
      .active.map((d) => ({ accountId: 'alice', deviceId: d.id, logHead: logs.get('alice')!.head })),
    ciphertextSha256: 'A'.repeat(43),
    ciphertextSize: 100,
    plaintextSize: 10,
  } as unknown as Canonical
  return encryptBytes(
    logs.get('alice')!.active.map((d) => d.recipient),
    utf8(canonicalJson({ manifest, sig: signCanonical(sender, MANIFEST_CONTEXT, manifest) })),
  )
}
