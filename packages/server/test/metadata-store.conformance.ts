import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { MetadataStore, NewShare } from '../src/metadata-store.js'
import { account, entry, expectCode, id, item, setup, T0 } from './metadata-fixtures.js'
import { shouldKeepTheAccessLog } from './metadata-store.access-log.js'
import { shouldKeepPolicyAndRetention } from './metadata-store.policy.js'
import { shouldSurviveRaces } from './metadata-store.races.js'

/**
 * The contract every `MetadataStore` adapter must meet. Run it from a `*.test.ts` with a factory
 * that returns a fresh, empty, migrated store: `metadataStoreConformance('sqlite', open)`.
 */
export function metadataStoreConformance(name: string, factory: () => Promise<MetadataStore>): void {
  describe(`MetadataStore conformance: ${name}`, () => {
    let store: MetadataStore
    beforeEach(async () => {
      store = await factory()
    })
    afterEach(async () => {
      await store.close()
    })

    shouldCreateAccounts(() => store)
    shouldAppendTheDeviceLog(() => store)
    shouldManageSessions(() => store)
    shouldManageItems(() => store)
    shouldRelayLinkMessages(() => store)
    shouldExpireRows(() => store)
    shouldManageShares(() => store)
    shouldSurviveRaces(() => store)
    shouldKeepTheAccessLog(() => store)
    shouldKeepPolicyAndRetention(() => store)
  })
}

function shouldCreateAccounts(s: () => MetadataStore): void {
  describe('accounts and codes', () => {
    it('creates an admin from the setup code, once', async () => {
      const store = s()
      expect(await store.countAccounts()).toBe(0)
      await store.replaceSetupCode({ id: id(), codeHash: 'setup', createdAt: T0, expiresAt: null })
      const a = account('setup')
      const rec = await store.createAccount(a)
      expect(rec).toMatchObject({ id: a.id, admin: true, selfConversationId: a.selfConversationId })
      expect(await store.countAccounts()).toBe(1)
      await expectCode(store.createAccount(account('setup')), 'FORBIDDEN')
      expect(await store.getAccount(a.id)).toMatchObject({
        username: a.username,
        admin: true,
        quotaBytes: null,
      })
      expect(await store.getDevice(a.device.id)).toMatchObject({ accountId: a.id, active: true, addedSeq: 0 })
      expect(await store.getLogHead(a.id)).toEqual({ seq: 0, hash: a.genesis.hash })
      const convs = await store.listConversations(a.id)
      expect(convs).toEqual([
        { id: a.selfConversationId, kind: 'self', createdAt: T0, lastSeq: 0, members: [a.id] },
      ])
    })

    it('replacing the setup code invalidates the old one', async () => {
      const store = s()
      await store.replaceSetupCode({ id: id(), codeHash: 'old', createdAt: T0, expiresAt: null })
      await store.replaceSetupCode({ id: id(), codeHash: 'new', createdAt: T0, expiresAt: null })
      await expectCode(store.createAccount(account('old')), 'FORBIDDEN')
      await store.createAccount(account('new'))
    })

    it('invites make non-admin accounts, expire, and are single use', async () => {
      const store = s()
      const admin = await setup(store)
      await store.createInvite({
        id: id(),
        codeHash: 'inv',
        createdAt: T0,
        expiresAt: T0 + 1000,
        createdBy: admin.accountId,
      })
      await store.createInvite({
        id: id(),
        codeHash: 'old',
        createdAt: T0,
        expiresAt: T0 + 10,
        createdBy: admin.accountId,
      })
      await expectCode(store.createAccount(account('old', { now: T0 + 10 })), 'FORBIDDEN')
      const b = await store.createAccount(account('inv', { now: T0 + 5 }))
      expect(b.admin).toBe(false)
      await expectCode(store.createAccount(account('inv', { now: T0 + 6 })), 'FORBIDDEN')
      const list = await store.listInvites(admin.accountId)
      expect(list.map((i) => i.usedAt !== null).sort()).toEqual([false, true])
      expect(await store.listInvites(b.id)).toEqual([])
    })

    it('refuses a taken username or an enrolled device, consuming nothing', async () => {
      const store = s()
      const admin = await setup(store)
      const taken = (await store.getAccount(admin.accountId))!.username
      await store.createInvite({
        id: id(),
        codeHash: 'inv',
        createdAt: T0,
        expiresAt: null,
        createdBy: admin.accountId,
      })
      await expectCode(store.createAccount(account('inv', { username: taken })), 'USERNAME_TAKEN')
      await expectCode(
        store.createAccount(account('inv', { device: { id: admin.deviceId, signKey: 'k' } })),
        'CONFLICT',
      )
      await store.createAccount(account('inv'))
    })
  })
}

function shouldAppendTheDeviceLog(s: () => MetadataStore): void {
  describe('device log', () => {
    it('appends only on the current head (compare-and-swap) and derives devices', async () => {
      const store = s()
      const a = await setup(store)
      const head = (await store.getLogHead(a.accountId))!
      const e1 = entry(1, head.hash)
      const d2 = id()
      await store.appendLogEntry(a.accountId, e1, { op: 'add', deviceId: d2, signKey: 'k2' })
      // Same seq again, or a wrong prev: stale.
      await expectCode(
        store.appendLogEntry(a.accountId, entry(1, head.hash), { op: 'add', deviceId: id(), signKey: 'k' }),
        'STALE_HEAD',
      )
      await expectCode(
        store.appendLogEntry(a.accountId, entry(2, 'nope'), { op: 'add', deviceId: id(), signKey: 'k' }),
        'STALE_HEAD',
      )
      await expectCode(
        store.appendLogEntry(a.accountId, entry(3, e1.hash), { op: 'add', deviceId: id(), signKey: 'k' }),
        'STALE_HEAD',
      )
      expect(await store.getLogHead(a.accountId)).toEqual({ seq: 1, hash: e1.hash })
      expect((await store.getLog(a.accountId, -1, 10)).map((r) => r.seq)).toEqual([0, 1])
      expect((await store.getLog(a.accountId, 0, 10)).map((r) => r.hash)).toEqual([e1.hash])
      expect((await store.getLog(a.accountId, -1, 1)).length).toBe(1)
      expect(await store.getDevice(d2)).toEqual({
        id: d2,
        accountId: a.accountId,
        signKey: 'k2',
        active: true,
        addedSeq: 1,
        removedSeq: null,
      })
      expect((await store.listDevices(a.accountId)).map((d) => d.id)).toEqual([a.deviceId, d2])
    })

    it('removing a device deactivates it and ends its sessions and challenges', async () => {
      const store = s()
      const a = await setup(store)
      const head = (await store.getLogHead(a.accountId))!
      const d2 = id()
      const e1 = entry(1, head.hash)
      await store.appendLogEntry(a.accountId, e1, { op: 'add', deviceId: d2, signKey: 'k2' })
      await store.createSession({
        tokenHash: 't2',
        deviceId: d2,
        accountId: a.accountId,
        expiresAt: T0 + 1e9,
      })
      await store.createSession({
        tokenHash: 't1',
        deviceId: a.deviceId,
        accountId: a.accountId,
        expiresAt: T0 + 1e9,
      })
      await store.putChallenge({ challenge: 'c2', deviceId: d2, expiresAt: T0 + 1e9 })
      await store.appendLogEntry(a.accountId, entry(2, e1.hash), { op: 'remove', deviceId: d2 })
      expect(await store.getDevice(d2)).toMatchObject({ active: false, removedSeq: 2 })
      expect(await store.getSession('t2')).toBeNull()
      expect(await store.getSession('t1')).not.toBeNull()
      expect(await store.takeChallenge('c2')).toBeNull()
      // A removed device cannot be removed or re-added.
      const head2 = (await store.getLogHead(a.accountId))!
      await expectCode(
        store.appendLogEntry(a.accountId, entry(3, head2.hash), { op: 'remove', deviceId: d2 }),
        'CONFLICT',
      )
      await expectCode(
        store.appendLogEntry(a.accountId, entry(3, head2.hash), { op: 'add', deviceId: d2, signKey: 'k2' }),
        'CONFLICT',
      )
      expect((await store.getLogHead(a.accountId))!.seq).toBe(2)
    })

    it('has no log for an unknown account', async () => {
      const store = s()
      expect(await store.getLogHead(id())).toBeNull()
      await expectCode(
        store.appendLogEntry(id(), entry(1, 'x'), { op: 'add', deviceId: id(), signKey: 'k' }),
        'NOT_FOUND',
      )
    })
  })
}

function shouldManageSessions(s: () => MetadataStore): void {
  describe('challenges and sessions', () => {
    it('takes a challenge exactly once', async () => {
      const store = s()
      await store.putChallenge({ challenge: 'c', deviceId: 'd', expiresAt: T0 })
      expect(await store.takeChallenge('c')).toEqual({ challenge: 'c', deviceId: 'd', expiresAt: T0 })
      expect(await store.takeChallenge('c')).toBeNull()
    })

    it('stores, finds and deletes sessions', async () => {
      const store = s()
      await store.createSession({ tokenHash: 'h', deviceId: 'd', accountId: 'a', expiresAt: T0 })
      expect(await store.getSession('h')).toEqual({
        tokenHash: 'h',
        deviceId: 'd',
        accountId: 'a',
        expiresAt: T0,
      })
      await store.deleteSession('h')
      expect(await store.getSession('h')).toBeNull()
    })
  })
}

function shouldManageItems(s: () => MetadataStore): void {
  describe('conversations and items', () => {
    it('lists only committed items and tombstones, in seq order', async () => {
      const store = s()
      const a = await setup(store)
      const i1 = item(a, 10)
      const i2 = item(a, 20)
      const i3 = item(a, 30)
      for (const i of [i1, i2, i3]) await store.reserveItem(i, null)
      expect(await store.listItems(a.conversationId, 0, 10)).toEqual([])
      expect(await store.commitItem(i2.id, new Uint8Array([1, 2, 3]), T0 + 1)).toBe(1)
      expect(await store.commitItem(i1.id, new Uint8Array([4]), T0 + 2)).toBe(2)
      await expectCode(store.commitItem(i1.id, new Uint8Array([4]), T0 + 2), 'ALREADY_COMMITTED')
      const listed = await store.listItems(a.conversationId, 0, 10)
      expect(listed.map((i) => [i.id, i.seq, i.state])).toEqual([
        [i2.id, 1, 'committed'],
        [i1.id, 2, 'committed'],
      ])
      expect(listed[0]!.manifest).toEqual(new Uint8Array([1, 2, 3]))
      expect(listed[0]).toMatchObject({ manifestSize: 3, ciphertextSize: 20, committedAt: T0 + 1 })
      expect((await store.listItems(a.conversationId, 1, 10)).map((i) => i.id)).toEqual([i1.id])
      expect((await store.getConversation(a.conversationId))!.lastSeq).toBe(2)

      // Deleting a committed item leaves a tombstone with a new seq; a reservation just vanishes.
      expect(await store.deleteItem(i2.id, T0 + 3)).toBe(3)
      expect(await store.deleteItem(i3.id, T0 + 3)).toBeNull()
      expect(await store.getItem(i3.id)).toBeNull()
      await expectCode(store.deleteItem(i2.id, T0 + 4), 'NOT_FOUND')
      const after = await store.listItems(a.conversationId, 2, 10)
      expect(after.map((i) => [i.id, i.seq, i.state, i.manifest])).toEqual([[i2.id, 3, 'deleted', null]])
      expect(await store.hasLiveItem(i1.id)).toBe(true)
      expect(await store.hasLiveItem(i2.id)).toBe(false)
    })

    it('enforces the quota on declared sizes of reserved and committed items', async () => {
      const store = s()
      const a = await setup(store)
      await store.reserveItem(item(a, 600, { manifestSize: 100 }), 1000)
      await expectCode(store.reserveItem(item(a, 301), 1000), 'QUOTA_EXCEEDED')
      await store.reserveItem(item(a, 300), 1000)
      expect(await store.accountUsage(a.accountId)).toBe(1000)
      await store.reserveItem(item(a, 10 ** 12), null)
    })

    it('finds live items by device and label', async () => {
      const store = s()
      const a = await setup(store)
      const labelled = item(a, 5, { label: 'L1' })
      await store.reserveItem(labelled, null)
      await store.reserveItem(item(a, 5, { label: 'L2' }), null)
      expect((await store.findItemByLabel(a.deviceId, 'L1'))!.id).toBe(labelled.id)
      expect(await store.findItemByLabel('other-device', 'L1')).toBeNull()
      await store.commitItem(labelled.id, new Uint8Array([1]), T0)
      expect((await store.findItemByLabel(a.deviceId, 'L1'))!.state).toBe('committed')
      await store.deleteItem(labelled.id, T0)
      expect(await store.findItemByLabel(a.deviceId, 'L1')).toBeNull()
    })

    it('finds and drops expired reservations only', async () => {
      const store = s()
      const a = await setup(store)
      const old = item(a, 1, { expiresAt: T0 + 10 })
      const fresh = item(a, 1, { expiresAt: T0 + 100 })
      const done = item(a, 1, { expiresAt: T0 + 10 })
      for (const i of [old, fresh, done]) await store.reserveItem(i, null)
      await store.commitItem(done.id, new Uint8Array([1]), T0)
      expect(await store.expiredReservations(T0 + 50, 10)).toEqual([old.id])
      expect(await store.dropReservation(done.id)).toBe(false)
      expect(await store.dropReservation(old.id)).toBe(true)
      expect(await store.dropReservation(old.id)).toBe(false)
    })

    it('keeps conversation membership', async () => {
      const store = s()
      const a = await setup(store)
      const b = await setup2(store, a.accountId)
      expect(await store.shareConversation(a.accountId, b)).toBe(false)
      const cid = id()
      await store.createConversation({
        id: cid,
        kind: 'direct',
        createdAt: T0 + 1,
        members: [a.accountId, b, b],
      })
      expect(await store.shareConversation(a.accountId, b)).toBe(true)
      expect((await store.getConversation(cid))!.members).toEqual([a.accountId, b].sort())
      expect((await store.listConversations(b)).map((c) => c.kind)).toEqual(['self', 'direct'])
    })
  })
}

async function setup2(store: MetadataStore, admin: string): Promise<string> {
  const codeHash = id()
  await store.createInvite({ id: id(), codeHash, createdAt: T0, expiresAt: null, createdBy: admin })
  const b = account(codeHash)
  await store.createAccount(b)
  return b.id
}

function shouldRelayLinkMessages(s: () => MetadataStore): void {
  describe('linking mailboxes', () => {
    it('joins once, relays bounded messages per side, and ends', async () => {
      const store = s()
      const m = { id: id(), nameplate: '0042', secretHash: 'sh', createdAt: T0, expiresAt: T0 + 1000 }
      await store.createMailbox(m)
      await expectCode(store.createMailbox({ ...m, id: id() }), 'CONFLICT')
      expect(await store.findMailboxByNameplate('0042')).toMatchObject({
        id: m.id,
        state: 'open',
        failures: 0,
      })
      expect(await store.joinMailbox(m.id, 'acct', 'dev')).toBe(true)
      expect(await store.joinMailbox(m.id, 'acct2', 'dev2')).toBe(false)
      expect(await store.findMailboxByNameplate('0042')).toBeNull()
      expect(await store.getMailbox(m.id)).toMatchObject({
        state: 'joined',
        joinedAccountId: 'acct',
        joinedDeviceId: 'dev',
      })
      expect(await store.addLinkMessage(m.id, 'new', 'a', 2)).toBe(0)
      expect(await store.addLinkMessage(m.id, 'existing', 'b', 2)).toBe(1)
      expect(await store.addLinkMessage(m.id, 'new', 'c', 2)).toBe(2)
      await expectCode(store.addLinkMessage(m.id, 'new', 'd', 2), 'RATE_LIMITED')
      expect(await store.getLinkMessages(m.id, 'new', -1)).toEqual([
        { index: 0, side: 'new', body: 'a' },
        { index: 2, side: 'new', body: 'c' },
      ])
      expect(await store.getLinkMessages(m.id, 'new', 0)).toEqual([{ index: 2, side: 'new', body: 'c' }])
      await store.endMailbox(m.id, 'closed')
      expect(await store.getMailbox(m.id)).toMatchObject({ state: 'closed', nameplate: null })
      expect(await store.getLinkMessages(m.id, 'new', -1)).toEqual([])
      // The nameplate is free again.
      await store.createMailbox({ ...m, id: id() })
    })

    it('burns a mailbox after too many failures', async () => {
      const store = s()
      const m = { id: id(), nameplate: '1234', secretHash: 'sh', createdAt: T0, expiresAt: T0 + 1000 }
      await store.createMailbox(m)
      expect(await store.recordMailboxFailure(m.id, 3)).toBe('open')
      expect(await store.recordMailboxFailure(m.id, 3)).toBe('open')
      expect(await store.recordMailboxFailure(m.id, 3)).toBe('burnt')
      expect(await store.getMailbox(m.id)).toMatchObject({ state: 'burnt', failures: 3, nameplate: null })
    })
  })
}

function shouldExpireRows(s: () => MetadataStore): void {
  describe('expiry', () => {
    it('deletes expired challenges, sessions, invites and mailboxes, and nothing else', async () => {
      const store = s()
      const a = await setup(store)
      await store.putChallenge({ challenge: 'old', deviceId: 'd', expiresAt: T0 })
      await store.putChallenge({ challenge: 'new', deviceId: 'd', expiresAt: T0 + 100 })
      await store.createSession({ tokenHash: 'old', deviceId: 'd', accountId: 'a', expiresAt: T0 })
      await store.createSession({ tokenHash: 'new', deviceId: 'd', accountId: 'a', expiresAt: T0 + 100 })
      await store.createInvite({
        id: id(),
        codeHash: 'i-old',
        createdAt: T0,
        expiresAt: T0,
        createdBy: a.accountId,
      })
      await store.createMailbox({
        id: 'mbox-old-0123456789ab',
        nameplate: '0001',
        secretHash: 's',
        createdAt: T0,
        expiresAt: T0,
      })
      await store.addLinkMessage('mbox-old-0123456789ab', 'new', 'x', 8)
      const n = await store.deleteExpired(T0 + 50)
      expect(n).toBe(4)
      expect(await store.takeChallenge('old')).toBeNull()
      expect(await store.takeChallenge('new')).not.toBeNull()
      expect(await store.getSession('old')).toBeNull()
      expect(await store.getSession('new')).not.toBeNull()
      expect(await store.getMailbox('mbox-old-0123456789ab')).toBeNull()
      expect(await store.listInvites(a.accountId)).toEqual([])
      expect(await store.getAccount(a.accountId)).not.toBeNull()
    })
  })
}

function shouldManageShares(s: () => MetadataStore): void {
  describe('share links', () => {
    const share = (a: { accountId: string; deviceId: string }, over: Partial<NewShare> = {}): NewShare => ({
      id: id(),
      accountId: a.accountId,
      deviceId: a.deviceId,
      itemIds: [id(), id()],
      blobs: [
        { id: id(), size: 300 },
        { id: id(), size: 200 },
      ],
      createdAt: T0,
      expiresAt: T0 + 10_000,
      uploadExpiresAt: T0 + 1000,
      maxDownloads: null,
      ...over,
    })
    const session = (expiresAt = T0 + 5000) => ({ tokenHash: id(), expiresAt })

    it('creates, finds by blob, lists newest first, and counts blobs against the quota', async () => {
      const store = s()
      const a = await setup(store)
      const first = share(a)
      await store.createShare(first, 600)
      const second = share(a, { createdAt: T0 + 1 })
      await expectCode(store.createShare(second, 600), 'QUOTA_EXCEEDED')
      await store.createShare(second, null)
      expect(await store.accountUsage(a.accountId)).toBe(1000)
      expect(await store.getShare(first.id)).toMatchObject({
        ...first,
        state: 'uploading',
        downloads: 0,
        manifest: null,
        blobsDeleted: false,
      })
      expect((await store.getShareByBlob(first.blobs[1]!.id))?.id).toBe(first.id)
      expect(await store.getShareByBlob(id())).toBeNull()
      expect((await store.listShares(a.accountId, 10)).map((x) => x.id)).toEqual([second.id, first.id])
      expect(await store.listShares(id(), 10)).toEqual([])
      expect(await store.hasLiveShareBlob(first.blobs[0]!.id)).toBe(true)
    })

    it('commits once, counts downloads, and retires a used-up link when its last session ends', async () => {
      const store = s()
      const a = await setup(store)
      const sh = share(a, { maxDownloads: 2 })
      await store.createShare(sh, null)
      await expectCode(store.openShare(sh.id, session(), T0), 'NOT_FOUND')
      const committed = await store.commitShare(sh.id, new Uint8Array([1, 2, 3]))
      expect(committed.state).toBe('active')
      await expectCode(store.commitShare(sh.id, new Uint8Array([1])), 'ALREADY_COMMITTED')
      expect((await store.getShare(sh.id))?.manifest).toEqual(new Uint8Array([1, 2, 3]))
      const s1 = session()
      expect(await store.openShare(sh.id, s1, T0)).toMatchObject({ downloads: 1, state: 'active' })
      const s2 = session()
      expect(await store.openShare(sh.id, s2, T0)).toMatchObject({ downloads: 2, state: 'exhausted' })
      await expectCode(store.openShare(sh.id, session(), T0), 'GONE')
      // Downloads in flight finish; a session is bound to its share and expires.
      expect(await store.touchShareSession(s2.tokenHash, sh.id, T0 + 1, T0 + 6000)).toBe(true)
      expect(await store.touchShareSession(s2.tokenHash, id(), T0 + 1, T0 + 6000)).toBe(false)
      expect(await store.touchShareSession(id(), sh.id, T0 + 1, T0 + 6000)).toBe(false)
      expect(await store.touchShareSession(s1.tokenHash, sh.id, T0 + 5000, T0 + 9000)).toBe(false)
      expect(await store.sharesToRetire(T0 + 1, 10)).toEqual([])
      await store.endShareSession(s1.tokenHash)
      await store.endShareSession(s2.tokenHash)
      expect((await store.sharesToRetire(T0 + 1, 10)).map((x) => x.id)).toEqual([sh.id])
      await store.markShareBlobsDeleted(sh.id)
      expect(await store.sharesToRetire(T0 + 1, 10)).toEqual([])
      expect(await store.hasLiveShareBlob(sh.blobs[0]!.id)).toBe(false)
      expect(await store.accountUsage(a.accountId)).toBe(0)
      expect(await store.getShare(sh.id)).toMatchObject({
        state: 'exhausted',
        blobsDeleted: true,
        manifest: null,
      })
    })

    it('revocation ends sessions at once; revoking again changes nothing', async () => {
      const store = s()
      const a = await setup(store)
      const sh = share(a)
      await store.createShare(sh, null)
      await store.commitShare(sh.id, new Uint8Array([1]))
      const s1 = session()
      await store.openShare(sh.id, s1, T0)
      expect((await store.revokeShare(sh.id)).state).toBe('revoked')
      expect(await store.touchShareSession(s1.tokenHash, sh.id, T0 + 1, T0 + 2)).toBe(false)
      await expectCode(store.openShare(sh.id, session(), T0), 'GONE')
      expect((await store.revokeShare(sh.id)).state).toBe('revoked')
      await expectCode(store.revokeShare(id()), 'NOT_FOUND')
      expect((await store.sharesToRetire(T0, 10)).map((x) => x.id)).toEqual([sh.id])
      await expectCode(store.commitShare(sh.id, new Uint8Array([1])), 'GONE')
    })

    it('expires links past their deadline and uploads past theirs', async () => {
      const store = s()
      const a = await setup(store)
      const live = share(a)
      const abandoned = share(a)
      await store.createShare(live, null)
      await store.createShare(abandoned, null)
      await store.commitShare(live.id, new Uint8Array([1]))
      const s1 = session(T0 + 20_000)
      await store.openShare(live.id, s1, T0)
      await expectCode(store.openShare(live.id, session(), T0 + 10_000), 'GONE')
      expect(await store.touchShareSession(s1.tokenHash, live.id, T0 + 10_000, T0 + 20_000)).toBe(false)
      expect((await store.sharesToRetire(T0 + 999, 10)).map((x) => x.id)).toEqual([])
      expect((await store.sharesToRetire(T0 + 1000, 10)).map((x) => x.id)).toEqual([abandoned.id])
      const due = await store.sharesToRetire(T0 + 10_000, 10)
      expect(due.map((x) => x.id).sort()).toEqual([live.id, abandoned.id].sort())
      expect(due.every((x) => x.state === 'expired')).toBe(true)
      await expectCode(store.commitShare(abandoned.id, new Uint8Array([1])), 'GONE')
    })
  })
}
