import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { expectCode, id, item, setup, T0 } from './metadata-fixtures.js'

/** Conformance of the items area: reservation, quota, commit, listing, deletion and retention. */
export function shouldManageItems(s: () => MetadataStore): void {
  describe('items', () => {
    it('lists only committed items and tombstones, in seq order', async () => {
      const store = s()
      const a = await setup(store)
      const i1 = item(a, 10)
      const i2 = item(a, 20)
      const i3 = item(a, 30)
      for (const i of [i1, i2, i3]) await store.items.reserveItem(i, null)
      expect(await store.items.listItems(a.conversationId, 0, 10)).toEqual([])
      expect(await store.items.commitItem(i2.id, new Uint8Array([1, 2, 3]), T0 + 1)).toBe(1)
      expect(await store.items.commitItem(i1.id, new Uint8Array([4]), T0 + 2)).toBe(2)
      await expectCode(store.items.commitItem(i1.id, new Uint8Array([4]), T0 + 2), 'ALREADY_COMMITTED')
      const listed = await store.items.listItems(a.conversationId, 0, 10)
      expect(listed.map((i) => [i.id, i.seq, i.state])).toEqual([
        [i2.id, 1, 'committed'],
        [i1.id, 2, 'committed'],
      ])
      expect(listed[0]!.manifest).toEqual(new Uint8Array([1, 2, 3]))
      expect(listed[0]).toMatchObject({ manifestSize: 3, ciphertextSize: 20, committedAt: T0 + 1 })
      expect((await store.items.listItems(a.conversationId, 1, 10)).map((i) => i.id)).toEqual([i1.id])
      expect((await store.conversations.getConversation(a.conversationId))!.lastSeq).toBe(2)

      // Deleting a committed item leaves a tombstone with a new seq; a reservation just vanishes.
      expect(await store.items.deleteItem(i2.id, T0 + 3)).toBe(3)
      expect(await store.items.deleteItem(i3.id, T0 + 3)).toBeNull()
      expect(await store.items.getItem(i3.id)).toBeNull()
      await expectCode(store.items.deleteItem(i2.id, T0 + 4), 'NOT_FOUND')
      const after = await store.items.listItems(a.conversationId, 2, 10)
      expect(after.map((i) => [i.id, i.seq, i.state, i.manifest])).toEqual([[i2.id, 3, 'deleted', null]])
      expect(await store.items.hasLiveItem(i1.id)).toBe(true)
      expect(await store.items.hasLiveItem(i2.id)).toBe(false)
    })
    it('refuses to commit an item whose sender left the conversation after reserving it', async () => {
      const store = s()
      const a = await setup(store)
      const b = await setup(store)
      const cid = id()
      const entry = (seq: number) => ({ seq, hash: `g${seq}`, entry: '{}', createdAt: T0 })
      await store.conversations.createConversation({
        id: cid,
        kind: 'group',
        createdAt: T0,
        members: [a.accountId, b.accountId],
        group: {
          entry: entry(0),
          state: {
            name: 'g',
            members: [
              [a.accountId, 'owner'],
              [b.accountId, 'member'],
            ],
            invited: [],
          },
        },
      })
      const early = item({ ...b, conversationId: cid }, 10)
      const late = item({ ...b, conversationId: cid }, 10)
      for (const i of [early, late]) await store.items.reserveItem(i, null)
      expect(await store.items.commitItem(early.id, new Uint8Array([1]), T0)).toBe(1)
      await store.conversations.appendGroupEntry(cid, entry(1), {
        name: 'g',
        members: [[a.accountId, 'owner']],
        invited: [],
      })
      await expectCode(store.items.commitItem(late.id, new Uint8Array([1]), T0 + 1), 'FORBIDDEN')
      expect((await store.items.getItem(late.id))!.state).toBe('reserved')
      expect((await store.conversations.getConversation(cid))!.lastSeq).toBe(1)
    })
    it('enforces the quota on declared sizes of reserved and committed items', async () => {
      const store = s()
      const a = await setup(store)
      await store.items.reserveItem(item(a, 600, { manifestSize: 100 }), 1000)
      await expectCode(store.items.reserveItem(item(a, 301), 1000), 'QUOTA_EXCEEDED')
      await store.items.reserveItem(item(a, 300), 1000)
      expect(await store.accounts.accountUsage(a.accountId)).toBe(1000)
      await store.items.reserveItem(item(a, 10 ** 12), null)
    })
    it('finds live items by device and idempotency key', async () => {
      const store = s()
      const a = await setup(store)
      const labelled = item(a, 5, { idempotencyKey: 'L1' })
      await store.items.reserveItem(labelled, null)
      await store.items.reserveItem(item(a, 5, { idempotencyKey: 'L2' }), null)
      expect((await store.items.findItemByIdempotencyKey(a.deviceId, 'L1'))!.id).toBe(labelled.id)
      expect(await store.items.findItemByIdempotencyKey('other-device', 'L1')).toBeNull()
      await store.items.commitItem(labelled.id, new Uint8Array([1]), T0)
      expect((await store.items.findItemByIdempotencyKey(a.deviceId, 'L1'))!.state).toBe('committed')
      await store.items.deleteItem(labelled.id, T0)
      expect(await store.items.findItemByIdempotencyKey(a.deviceId, 'L1')).toBeNull()
    })
    it('finds and drops expired reservations only', async () => {
      const store = s()
      const a = await setup(store)
      const old = item(a, 1, { expiresAt: T0 + 10 })
      const fresh = item(a, 1, { expiresAt: T0 + 100 })
      const done = item(a, 1, { expiresAt: T0 + 10 })
      for (const i of [old, fresh, done]) await store.items.reserveItem(i, null)
      await store.items.commitItem(done.id, new Uint8Array([1]), T0)
      expect(await store.items.expiredReservations(T0 + 50, 10)).toEqual([old.id])
      expect(await store.items.dropReservation(done.id)).toBe(false)
      expect(await store.items.dropReservation(old.id)).toBe(true)
      expect(await store.items.dropReservation(old.id)).toBe(false)
    })
    it('expires committed items past their retention into tombstones, once', async () => {
      const store = s()
      const a = await setup(store)
      const kept = item(a, 10)
      const short = item(a, 10, { sensitivity: 'Secret', retainMs: 1000 })
      const reserved = item(a, 10, { retainMs: 1, expiresAt: T0 + 10_000 })
      for (const i of [kept, short, reserved]) await store.items.reserveItem(i, null)
      await store.items.commitItem(kept.id, new Uint8Array([1]), T0)
      await store.items.commitItem(short.id, new Uint8Array([2]), T0 + 5)
      expect(await store.items.getItem(short.id)).toMatchObject({
        sensitivity: 'Secret',
        retainMs: 1000,
        retainUntil: T0 + 1005,
      })
      expect(await store.items.getItem(kept.id)).toMatchObject({
        sensitivity: null,
        retainMs: null,
        retainUntil: null,
      })
      expect(await store.items.expireRetainedItems(T0 + 1004, 10)).toEqual([])
      const expired = await store.items.expireRetainedItems(T0 + 1005, 10)
      expect(expired).toEqual([{ id: short.id, conversationId: a.conversationId, seq: 3 }])
      expect(await store.items.expireRetainedItems(T0 + 1_000_000, 10)).toEqual([])
      const listed = await store.items.listItems(a.conversationId, 0, 10)
      expect(listed.map((i) => [i.id, i.state, i.seq])).toEqual([
        [kept.id, 'committed', 1],
        [short.id, 'deleted', 3],
      ])
      expect(listed[1]!.manifest).toBeNull()
      expect(await store.items.hasLiveItem(short.id)).toBe(false)
      // A reservation is never expired by retention (its own expiry is the gc's reservation pass).
      expect(await store.items.hasLiveItem(reserved.id)).toBe(true)
    })
  })
}
