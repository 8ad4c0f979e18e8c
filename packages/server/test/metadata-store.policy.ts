import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/metadata-store.js'
import { account, expectCode, id, item, setup, T0 } from './metadata-fixtures.js'

/** Conformance: the policy document, account administration and retention (`sql-policy.ts`). */
export function shouldKeepPolicyAndRetention(s: () => MetadataStore): void {
  describe('policy and administration', () => {
    it('stores one policy document and replaces it', async () => {
      const store = s()
      expect(await store.getPolicy()).toBeNull()
      await store.putPolicy({ document: '{"a":1}', updatedAt: T0, updatedBy: 'x' })
      await store.putPolicy({ document: '{"a":2}', updatedAt: T0 + 1, updatedBy: null })
      expect(await store.getPolicy()).toEqual({ document: '{"a":2}', updatedAt: T0 + 1, updatedBy: null })
    })

    it('lists accounts with active devices and usage, ordered by name', async () => {
      const store = s()
      const a = await setup(store)
      const code = id()
      await store.createInvite({
        id: id(),
        codeHash: code,
        createdAt: T0,
        expiresAt: null,
        createdBy: a.accountId,
      })
      const b = account(code, { username: 'aaa-first' })
      await store.createAccount(b)
      await store.reserveItem(item(a, 100, { manifestSize: 20 }), null)
      const list = await store.listAccountsForAdmin()
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
      await store.createSession({
        tokenHash: 't',
        deviceId: a.deviceId,
        accountId: a.accountId,
        expiresAt: T0 * 2,
      })
      await store.putChallenge({ challenge: 'c', deviceId: a.deviceId, expiresAt: T0 * 2 })
      expect(await store.isAccountDisabled(a.accountId)).toBe(false)
      await store.setAccountDisabled(a.accountId, true)
      expect(await store.isAccountDisabled(a.accountId)).toBe(true)
      expect(await store.getSession('t')).toBeNull()
      expect(await store.takeChallenge('c')).toBeNull()
      expect((await store.listAccountsForAdmin())[0]!.disabled).toBe(true)
      await store.setAccountDisabled(a.accountId, false)
      expect(await store.isAccountDisabled(a.accountId)).toBe(false)
      await expectCode(store.setAccountDisabled(id(), true), 'NOT_FOUND')
    })

    it('sets a per-account quota that reservations obey', async () => {
      const store = s()
      const a = await setup(store)
      await store.setAccountQuota(a.accountId, 500)
      expect((await store.getAccount(a.accountId))!.quotaBytes).toBe(500)
      await expectCode(store.reserveItem(item(a, 501), 500), 'QUOTA_EXCEEDED')
      await store.setAccountQuota(a.accountId, null)
      expect((await store.getAccount(a.accountId))!.quotaBytes).toBeNull()
      await expectCode(store.setAccountQuota(id(), 1), 'NOT_FOUND')
    })

    it('keeps a conversation retention', async () => {
      const store = s()
      const a = await setup(store)
      expect(await store.getConversationRetention(a.conversationId)).toBeNull()
      await store.setConversationRetention(a.conversationId, 60_000)
      expect(await store.getConversationRetention(a.conversationId)).toBe(60_000)
      await store.setConversationRetention(a.conversationId, null)
      expect(await store.getConversationRetention(a.conversationId)).toBeNull()
      await expectCode(store.setConversationRetention(id(), 1), 'NOT_FOUND')
      await expectCode(store.getConversationRetention(id()), 'NOT_FOUND')
    })

    it('expires committed items past their retention into tombstones, once', async () => {
      const store = s()
      const a = await setup(store)
      const kept = item(a, 10)
      const short = item(a, 10, { sensitivity: 'Secret', retainMs: 1000 })
      const reserved = item(a, 10, { retainMs: 1, expiresAt: T0 + 10_000 })
      for (const i of [kept, short, reserved]) await store.reserveItem(i, null)
      await store.commitItem(kept.id, new Uint8Array([1]), T0)
      await store.commitItem(short.id, new Uint8Array([2]), T0 + 5)
      expect(await store.getItem(short.id)).toMatchObject({
        sensitivity: 'Secret',
        retainMs: 1000,
        retainUntil: T0 + 1005,
      })
      expect(await store.getItem(kept.id)).toMatchObject({
        sensitivity: null,
        retainMs: null,
        retainUntil: null,
      })
      expect(await store.expireRetainedItems(T0 + 1004, 10)).toEqual([])
      const expired = await store.expireRetainedItems(T0 + 1005, 10)
      expect(expired).toEqual([{ id: short.id, conversationId: a.conversationId, seq: 3 }])
      expect(await store.expireRetainedItems(T0 + 1_000_000, 10)).toEqual([])
      const listed = await store.listItems(a.conversationId, 0, 10)
      expect(listed.map((i) => [i.id, i.state, i.seq])).toEqual([
        [kept.id, 'committed', 1],
        [short.id, 'deleted', 3],
      ])
      expect(listed[1]!.manifest).toBeNull()
      expect(await store.hasLiveItem(short.id)).toBe(false)
      // A reservation is never expired by retention (its own expiry is the gc's reservation pass).
      expect(await store.hasLiveItem(reserved.id)).toBe(true)
    })
  })
}
