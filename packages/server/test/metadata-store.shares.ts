import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import type { NewShare } from '../src/storage/metadata/shares.js'
import { expectCode, id, setup, T0 } from './metadata-fixtures.js'

/** Conformance of the shares area: share links, their blobs, downloads and retirement. */
export function shouldManageShares(s: () => MetadataStore): void {
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
      await store.shares.createShare(first, 600)
      const second = share(a, { createdAt: T0 + 1 })
      await expectCode(store.shares.createShare(second, 600), 'QUOTA_EXCEEDED')
      await store.shares.createShare(second, null)
      expect(await store.accounts.accountUsage(a.accountId)).toBe(1000)
      expect(await store.shares.getShare(first.id)).toMatchObject({
        ...first,
        state: 'uploading',
        downloads: 0,
        manifest: null,
        blobsDeleted: false,
      })
      expect((await store.shares.getShareByBlob(first.blobs[1]!.id))?.id).toBe(first.id)
      expect(await store.shares.getShareByBlob(id())).toBeNull()
      expect((await store.shares.listShares(a.accountId, 10)).map((x) => x.id)).toEqual([second.id, first.id])
      expect(await store.shares.listShares(id(), 10)).toEqual([])
      expect(await store.shares.hasLiveShareBlob(first.blobs[0]!.id)).toBe(true)
    })

    it("lists every account's shares, newest first, for administrators", async () => {
      const store = s()
      const a = await setup(store)
      const b = await setup(store)
      // Later than any other test's shares, so they come first in a shared store.
      const older = share(a, { createdAt: T0 + 1_000_000 })
      const newer = share(b, { createdAt: T0 + 1_000_001 })
      for (const x of [older, newer]) await store.shares.createShare(x, null)
      const all = await store.shares.listAllShares(2)
      expect(all.map((x) => [x.id, x.accountId])).toEqual([
        [newer.id, b.accountId],
        [older.id, a.accountId],
      ])
      expect(all[0]!.blobs).toHaveLength(2)
    })

    it('commits once, counts downloads, and retires a used-up link when its last session ends', async () => {
      const store = s()
      const a = await setup(store)
      const sh = share(a, { maxDownloads: 2 })
      await store.shares.createShare(sh, null)
      await expectCode(store.shares.openShare(sh.id, session(), T0), 'NOT_FOUND')
      const committed = await store.shares.commitShare(sh.id, new Uint8Array([1, 2, 3]))
      expect(committed.state).toBe('active')
      await expectCode(store.shares.commitShare(sh.id, new Uint8Array([1])), 'ALREADY_COMMITTED')
      expect((await store.shares.getShare(sh.id))?.manifest).toEqual(new Uint8Array([1, 2, 3]))
      const s1 = session()
      expect(await store.shares.openShare(sh.id, s1, T0)).toMatchObject({ downloads: 1, state: 'active' })
      const s2 = session()
      expect(await store.shares.openShare(sh.id, s2, T0)).toMatchObject({ downloads: 2, state: 'exhausted' })
      await expectCode(store.shares.openShare(sh.id, session(), T0), 'GONE')
      // Downloads in flight finish; a session is bound to its share and expires.
      expect(await store.shares.touchShareSession(s2.tokenHash, sh.id, T0 + 1, T0 + 6000)).toBe(true)
      expect(await store.shares.touchShareSession(s2.tokenHash, id(), T0 + 1, T0 + 6000)).toBe(false)
      expect(await store.shares.touchShareSession(id(), sh.id, T0 + 1, T0 + 6000)).toBe(false)
      expect(await store.shares.touchShareSession(s1.tokenHash, sh.id, T0 + 5000, T0 + 9000)).toBe(false)
      expect(await store.shares.sharesToRetire(T0 + 1, 10)).toEqual([])
      await store.shares.endShareSession(s1.tokenHash)
      await store.shares.endShareSession(s2.tokenHash)
      expect((await store.shares.sharesToRetire(T0 + 1, 10)).map((x) => x.id)).toEqual([sh.id])
      await store.shares.markShareBlobsDeleted(sh.id)
      expect(await store.shares.sharesToRetire(T0 + 1, 10)).toEqual([])
      expect(await store.shares.hasLiveShareBlob(sh.blobs[0]!.id)).toBe(false)
      expect(await store.accounts.accountUsage(a.accountId)).toBe(0)
      expect(await store.shares.getShare(sh.id)).toMatchObject({
        state: 'exhausted',
        blobsDeleted: true,
        manifest: null,
      })
    })

    it('revocation ends sessions at once; revoking again changes nothing', async () => {
      const store = s()
      const a = await setup(store)
      const sh = share(a)
      await store.shares.createShare(sh, null)
      await store.shares.commitShare(sh.id, new Uint8Array([1]))
      const s1 = session()
      await store.shares.openShare(sh.id, s1, T0)
      expect((await store.shares.revokeShare(sh.id)).state).toBe('revoked')
      expect(await store.shares.touchShareSession(s1.tokenHash, sh.id, T0 + 1, T0 + 2)).toBe(false)
      await expectCode(store.shares.openShare(sh.id, session(), T0), 'GONE')
      expect((await store.shares.revokeShare(sh.id)).state).toBe('revoked')
      await expectCode(store.shares.revokeShare(id()), 'NOT_FOUND')
      expect((await store.shares.sharesToRetire(T0, 10)).map((x) => x.id)).toEqual([sh.id])
      await expectCode(store.shares.commitShare(sh.id, new Uint8Array([1])), 'GONE')
    })

    it('expires links past their deadline and uploads past theirs', async () => {
      const store = s()
      const a = await setup(store)
      const live = share(a)
      const abandoned = share(a)
      await store.shares.createShare(live, null)
      await store.shares.createShare(abandoned, null)
      await store.shares.commitShare(live.id, new Uint8Array([1]))
      const s1 = session(T0 + 20_000)
      await store.shares.openShare(live.id, s1, T0)
      await expectCode(store.shares.openShare(live.id, session(), T0 + 10_000), 'GONE')
      expect(await store.shares.touchShareSession(s1.tokenHash, live.id, T0 + 10_000, T0 + 20_000)).toBe(
        false,
      )
      expect((await store.shares.sharesToRetire(T0 + 999, 10)).map((x) => x.id)).toEqual([])
      expect((await store.shares.sharesToRetire(T0 + 1000, 10)).map((x) => x.id)).toEqual([abandoned.id])
      const due = await store.shares.sharesToRetire(T0 + 10_000, 10)
      expect(due.map((x) => x.id).sort()).toEqual([live.id, abandoned.id].sort())
      expect(due.every((x) => x.state === 'expired')).toBe(true)
      await expectCode(store.shares.commitShare(abandoned.id, new Uint8Array([1])), 'GONE')
    })
  })
}
