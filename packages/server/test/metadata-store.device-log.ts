import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { entry, expectCode, id, setup, T0 } from './metadata-fixtures.js'

/** Conformance of the device-log area: compare-and-swap appends and the devices they derive. */
export function shouldAppendTheDeviceLog(s: () => MetadataStore): void {
  describe('device log', () => {
    it('appends only on the current head (compare-and-swap) and derives devices', async () => {
      const store = s()
      const a = await setup(store)
      const head = (await store.logs.getLogHead(a.accountId))!
      const e1 = entry(1, head.hash)
      const d2 = id()
      await store.logs.appendLogEntry(a.accountId, e1, { op: 'add', deviceId: d2, signKey: 'k2' })
      // Same seq again, or a wrong prev: stale.
      await expectCode(
        store.logs.appendLogEntry(a.accountId, entry(1, head.hash), {
          op: 'add',
          deviceId: id(),
          signKey: 'k',
        }),
        'STALE_HEAD',
      )
      await expectCode(
        store.logs.appendLogEntry(a.accountId, entry(2, 'nope'), { op: 'add', deviceId: id(), signKey: 'k' }),
        'STALE_HEAD',
      )
      await expectCode(
        store.logs.appendLogEntry(a.accountId, entry(3, e1.hash), {
          op: 'add',
          deviceId: id(),
          signKey: 'k',
        }),
        'STALE_HEAD',
      )
      expect(await store.logs.getLogHead(a.accountId)).toEqual({ seq: 1, hash: e1.hash })
      expect((await store.logs.getLog(a.accountId, -1, 10)).map((r) => r.seq)).toEqual([0, 1])
      expect((await store.logs.getLog(a.accountId, 0, 10)).map((r) => r.hash)).toEqual([e1.hash])
      expect((await store.logs.getLog(a.accountId, -1, 1)).length).toBe(1)
      expect(await store.logs.getDevice(d2)).toEqual({
        id: d2,
        accountId: a.accountId,
        signKey: 'k2',
        active: true,
        addedSeq: 1,
        removedSeq: null,
      })
      expect((await store.logs.listDevices(a.accountId)).map((d) => d.id)).toEqual([a.deviceId, d2])
    })
    it('removing a device deactivates it and ends its sessions and challenges', async () => {
      const store = s()
      const a = await setup(store)
      const head = (await store.logs.getLogHead(a.accountId))!
      const d2 = id()
      const e1 = entry(1, head.hash)
      await store.logs.appendLogEntry(a.accountId, e1, { op: 'add', deviceId: d2, signKey: 'k2' })
      await store.sessions.createSession({
        tokenHash: 't2',
        deviceId: d2,
        accountId: a.accountId,
        expiresAt: T0 + 1e9,
      })
      await store.sessions.createSession({
        tokenHash: 't1',
        deviceId: a.deviceId,
        accountId: a.accountId,
        expiresAt: T0 + 1e9,
      })
      await store.sessions.putChallenge({ challenge: 'c2', deviceId: d2, expiresAt: T0 + 1e9 })
      await store.logs.appendLogEntry(a.accountId, entry(2, e1.hash), { op: 'remove', deviceId: d2 })
      expect(await store.logs.getDevice(d2)).toMatchObject({ active: false, removedSeq: 2 })
      expect(await store.sessions.getSession('t2')).toBeNull()
      expect(await store.sessions.getSession('t1')).not.toBeNull()
      expect(await store.sessions.takeChallenge('c2')).toBeNull()
      // A removed device cannot be removed or re-added.
      const head2 = (await store.logs.getLogHead(a.accountId))!
      await expectCode(
        store.logs.appendLogEntry(a.accountId, entry(3, head2.hash), { op: 'remove', deviceId: d2 }),
        'CONFLICT',
      )
      await expectCode(
        store.logs.appendLogEntry(a.accountId, entry(3, head2.hash), {
          op: 'add',
          deviceId: d2,
          signKey: 'k2',
        }),
        'CONFLICT',
      )
      expect((await store.logs.getLogHead(a.accountId))!.seq).toBe(2)
    })
    it('has no log for an unknown account', async () => {
      const store = s()
      expect(await store.logs.getLogHead(id())).toBeNull()
      await expectCode(
        store.logs.appendLogEntry(id(), entry(1, 'x'), { op: 'add', deviceId: id(), signKey: 'k' }),
        'NOT_FOUND',
      )
    })
  })
}
