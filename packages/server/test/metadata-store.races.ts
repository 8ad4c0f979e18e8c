import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { entry, id, item, setup, T0 } from './metadata-fixtures.js'

/**
 * The part of the `MetadataStore` contract that matters once several server instances (or
 * several connections of one) write at once: read-then-write steps must not interleave. SQLite
 * passes by having one writer; PostgreSQL needs its row locks.
 */
export function shouldSurviveRaces(s: () => MetadataStore): void {
  describe('concurrent writers', () => {
    it('lets exactly one of several concurrent appends at the same head win', async () => {
      const store = s()
      const a = await setup(store)
      const head = (await store.logs.getLogHead(a.accountId))!
      const tries = await Promise.allSettled(
        Array.from({ length: 6 }, () => {
          const e = entry(head.seq + 1, head.hash)
          return store.logs.appendLogEntry(a.accountId, e, { op: 'add', deviceId: id(), signKey: id() })
        }),
      )
      expect(tries.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      for (const r of tries)
        if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'STALE_HEAD' })
      expect((await store.logs.getLogHead(a.accountId))!.seq).toBe(head.seq + 1)
    })

    it('never lets concurrent reservations or commits go past the quota (several instances race)', async () => {
      const store = s()
      const a = await setup(store)
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, () => store.items.reserveItem(item(a, 100), 500)),
      )
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5)
      expect(await store.accounts.accountUsage(a.accountId)).toBe(500)
      const b = await setup(store)
      const small = Array.from({ length: 6 }, () => item(b, 10))
      for (const i of small) await store.items.reserveItem(i, null)
      // Each manifest is larger than declared: 6 × (10 + 100) = 660 bytes would pass 500.
      const commits = await Promise.allSettled(
        small.map((i) => store.items.commitItem(i.id, new Uint8Array(100), T0, 500)),
      )
      expect(commits.filter((r) => r.status === 'fulfilled')).toHaveLength(4)
      expect(await store.accounts.accountUsage(b.accountId)).toBeLessThanOrEqual(500)
    })

    it('numbers concurrent messages uniquely and still caps each side', async () => {
      const store = s()
      const m = { id: id(), nameplate: '0777', secretHash: 'sh', createdAt: T0, expiresAt: T0 + 1000 }
      await store.mailboxes.createMailbox(m)
      const sends = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) =>
          store.mailboxes.addLinkMessage(m.id, i % 2 ? 'new' : 'existing', `m${i}`, 4),
        ),
      )
      const ok = sends.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      expect(ok).toHaveLength(8)
      expect(new Set(ok).size).toBe(8)
      for (const r of sends)
        if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'RATE_LIMITED' })
    })
  })
}
