import { verifyAccessLog } from '@airlock/core'
import { describe, expect, it } from 'vitest'
import { auditAccessLog, toWireAccess } from '../src/domain/access-log.js'
import type { NewAccess } from '../src/storage/metadata/access-log.js'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { id, T0 } from './metadata-fixtures.js'

export function access(itemId: string, over: Partial<NewAccess> = {}): NewAccess {
  return { itemId, at: T0, accountId: id(), deviceId: id(), shareId: null, address: '127.0.0.1', ...over }
}

/**
 * The access-log part of the `MetadataStore` contract: appends chain per item and server-wide,
 * concurrent appends never fork either chain, and the whole log audits clean.
 */
export function shouldKeepTheAccessLog(s: () => MetadataStore): void {
  describe('access log', () => {
    it('chains each item and the whole server, and lists per item in order', async () => {
      const store = s()
      expect(await store.accessLog.accessLogHead()).toEqual({ seq: 0, hash: '' })
      const [x, y] = [id(), id()]
      const first = await store.accessLog.appendAccess(access(x, { at: T0 + 1 }))
      expect(first).toMatchObject({ seq: 1, itemId: x, itemSeq: 1, at: T0 + 1 })
      await store.accessLog.appendAccess(access(y, { shareId: 'link1', accountId: null, deviceId: null }))
      await store.accessLog.appendAccess(access(x, { address: '2001:db8::1' }))
      const xs = await store.accessLog.listAccesses(x, 0, 10)
      expect(xs.map((r) => [r.seq, r.itemSeq])).toEqual([
        [1, 1],
        [3, 2],
      ])
      expect(xs[1]!.prev).not.toBe(xs[0]!.hash) // server-wide: row 2 (item y) sits between
      expect(verifyAccessLog(x, xs.map(toWireAccess)).seq).toBe(2)
      const ys = await store.accessLog.listAccesses(y, 0, 10)
      expect(ys).toHaveLength(1)
      expect(ys[0]).toMatchObject({ shareId: 'link1', accountId: null, deviceId: null })
      expect((await store.accessLog.listAccesses(x, 1, 10)).map((r) => r.itemSeq)).toEqual([2])
      expect((await store.accessLog.scanAccessLog(1, 1)).map((r) => r.seq)).toEqual([2])
      expect(await store.accessLog.accessLogHead()).toEqual({
        seq: 3,
        hash: (await store.accessLog.scanAccessLog(2, 1))[0]!.hash,
      })
      expect(await auditAccessLog(store, { pageSize: 2 })).toMatchObject({ ok: true, rows: 3, items: 2 })
    })

    it('never forks under concurrent appends (several connections or instances race)', async () => {
      const store = s()
      const items = [id(), id(), id()]
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) =>
          store.accessLog.appendAccess(access(items[i % 3]!, { at: T0 + i })),
        ),
      )
      expect(results.filter((r) => r.status === 'rejected')).toEqual([])
      for (const itemId of items) {
        const rows = await store.accessLog.listAccesses(itemId, 0, 100)
        expect(rows.map((r) => r.itemSeq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
        verifyAccessLog(itemId, rows.map(toWireAccess))
      }
      expect(await auditAccessLog(store)).toMatchObject({ ok: true, rows: 30, items: 3 })
    })

    it('keeps the accesses of a deleted item', async () => {
      const store = s()
      const x = id()
      await store.accessLog.appendAccess(access(x))
      await store.sessions.deleteExpired(T0 + 10 ** 12)
      await store.accounts.deleteExpiredInvites(T0 + 10 ** 12)
      await store.mailboxes.deleteExpired(T0 + 10 ** 12)
      expect(await store.accessLog.listAccesses(x, 0, 10)).toHaveLength(1)
    })
  })
}
