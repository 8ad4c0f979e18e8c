import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { account, expectCode, id, item, setup, T0 } from './metadata-fixtures.js'

/** Conformance of the accounts area: setup and invite codes, account creation, administration. */
export function shouldKeepAccounts(s: () => MetadataStore): void {
  describe('accounts, codes and administration', () => {
    it('creates an admin from the setup code, once', async () => {
      const store = s()
      expect(await store.accounts.countAccounts()).toBe(0)
      await store.accounts.replaceSetupCode({ id: id(), codeHash: 'setup', createdAt: T0, expiresAt: null })
      const a = account('setup')
      const rec = await store.accounts.createAccount(a)
      expect(rec).toMatchObject({ id: a.id, admin: true, selfConversationId: a.selfConversationId })
      expect(await store.accounts.countAccounts()).toBe(1)
      await expectCode(store.accounts.createAccount(account('setup')), 'FORBIDDEN')
      expect(await store.accounts.getAccount(a.id)).toMatchObject({
        username: a.username,
        admin: true,
        quotaBytes: null,
      })
      expect(await store.logs.getDevice(a.device.id)).toMatchObject({
        accountId: a.id,
        active: true,
        addedSeq: 0,
      })
      expect(await store.logs.getLogHead(a.id)).toEqual({ seq: 0, hash: a.genesis.hash })
      const convs = await store.conversations.listConversations(a.id)
      expect(convs).toEqual([
        { id: a.selfConversationId, kind: 'self', createdAt: T0, lastSeq: 0, members: [a.id] },
      ])
    })
    it('replacing the setup code invalidates the old one', async () => {
      const store = s()
      await store.accounts.replaceSetupCode({ id: id(), codeHash: 'old', createdAt: T0, expiresAt: null })
      await store.accounts.replaceSetupCode({ id: id(), codeHash: 'new', createdAt: T0, expiresAt: null })
      await expectCode(store.accounts.createAccount(account('old')), 'FORBIDDEN')
      await store.accounts.createAccount(account('new'))
    })
    it('invites make non-admin accounts, expire, and are single use', async () => {
      const store = s()
      const admin = await setup(store)
      await store.accounts.createInvite({
        id: id(),
        codeHash: 'inv',
        createdAt: T0,
        expiresAt: T0 + 1000,
        createdBy: admin.accountId,
      })
      await store.accounts.createInvite({
        id: id(),
        codeHash: 'old',
        createdAt: T0,
        expiresAt: T0 + 10,
        createdBy: admin.accountId,
      })
      await expectCode(store.accounts.createAccount(account('old', { now: T0 + 10 })), 'FORBIDDEN')
      const b = await store.accounts.createAccount(account('inv', { now: T0 + 5 }))
      expect(b.admin).toBe(false)
      await expectCode(store.accounts.createAccount(account('inv', { now: T0 + 6 })), 'FORBIDDEN')
      const list = await store.accounts.listInvites(admin.accountId)
      expect(list.map((i) => i.usedAt !== null).sort()).toEqual([false, true])
      expect(await store.accounts.listInvites(b.id)).toEqual([])
    })
    it('refuses a taken username or an enrolled device, consuming nothing', async () => {
      const store = s()
      const admin = await setup(store)
      const taken = (await store.accounts.getAccount(admin.accountId))!.username
      await store.accounts.createInvite({
        id: id(),
        codeHash: 'inv',
        createdAt: T0,
        expiresAt: null,
        createdBy: admin.accountId,
      })
      await expectCode(store.accounts.createAccount(account('inv', { username: taken })), 'USERNAME_TAKEN')
      await expectCode(
        store.accounts.createAccount(account('inv', { device: { id: admin.deviceId, signKey: 'k' } })),
        'CONFLICT',
      )
      await store.accounts.createAccount(account('inv'))
    })
    it('lists accounts with active devices and usage, ordered by name', async () => {
      const store = s()
      const a = await setup(store)
      const code = id()
      await store.accounts.createInvite({
        id: id(),
        codeHash: code,
        createdAt: T0,
        expiresAt: null,
        createdBy: a.accountId,
      })
      const b = account(code, { username: 'aaa-first' })
      await store.accounts.createAccount(b)
      await store.items.reserveItem(item(a, 100, { manifestSize: 20 }), null)
      const list = await store.accounts.listAccountsForAdmin()
      expect(list.map((x) => x.username)[0]).toBe('aaa-first')
      expect(list.find((x) => x.id === a.accountId)).toMatchObject({
        admin: true,
        disabled: false,
        devices: 1,
        usedBytes: 120,
        quotaBytes: null,
        createdAt: T0,
      })
      expect(list.find((x) => x.id === b.id)).toMatchObject({ admin: false, devices: 1, usedBytes: 0 })
    })
    it('disabling ends sessions and challenges; enabling does not bring them back', async () => {
      const store = s()
      const a = await setup(store)
      await store.sessions.createSession({
        tokenHash: 't',
        deviceId: a.deviceId,
        accountId: a.accountId,
        expiresAt: T0 * 2,
      })
      await store.sessions.putChallenge({ challenge: 'c', deviceId: a.deviceId, expiresAt: T0 * 2 })
      expect(await store.accounts.isAccountDisabled(a.accountId)).toBe(false)
      await store.accounts.setAccountDisabled(a.accountId, true)
      expect(await store.accounts.isAccountDisabled(a.accountId)).toBe(true)
      expect(await store.sessions.getSession('t')).toBeNull()
      expect(await store.sessions.takeChallenge('c')).toBeNull()
      expect((await store.accounts.listAccountsForAdmin())[0]!.disabled).toBe(true)
      await store.accounts.setAccountDisabled(a.accountId, false)
      expect(await store.accounts.isAccountDisabled(a.accountId)).toBe(false)
      await expectCode(store.accounts.setAccountDisabled(id(), true), 'NOT_FOUND')
    })
    it('sets a per-account quota that reservations obey', async () => {
      const store = s()
      const a = await setup(store)
      await store.accounts.setAccountQuota(a.accountId, 500)
      expect((await store.accounts.getAccount(a.accountId))!.quotaBytes).toBe(500)
      await expectCode(store.items.reserveItem(item(a, 501), 500), 'QUOTA_EXCEEDED')
      await store.accounts.setAccountQuota(a.accountId, null)
      expect((await store.accounts.getAccount(a.accountId))!.quotaBytes).toBeNull()
      await expectCode(store.accounts.setAccountQuota(id(), 1), 'NOT_FOUND')
    })
  })
}
