import type { AppContext } from '../context.js'
import type { ShareRecord } from '../storage/metadata/shares.js'

/**
 * The end of share links' lives, apart from the rest of `shares.ts` because an item's deletion
 * (`items.ts`) and garbage collection end links too: a recalled or expired item takes its links
 * with it, so a link never outlives the item's recall or retention.
 */

/** Revokes the live share links made from `itemId` and deletes their blobs. */
export async function revokeSharesOf(
  ctx: Pick<AppContext, 'store' | 'blobs'>,
  itemId: string,
): Promise<void> {
  for (const id of await ctx.store.shares.liveSharesOfItem(itemId))
    await retireShare(ctx, await ctx.store.shares.revokeShare(id))
}

/**
 * Deletes the blobs of a share that was just revoked or that `sharesToRetire` returned (expired,
 * or used up with no download in flight), and records that they are gone.
 */
export async function retireShare(
  ctx: Pick<AppContext, 'store' | 'blobs'>,
  share: ShareRecord,
): Promise<void> {
  if (share.blobsDeleted) return
  if (share.state !== 'revoked' && share.state !== 'expired' && share.state !== 'exhausted') return
  for (const b of share.blobs) await ctx.blobs.delete(b.id)
  await ctx.store.shares.markShareBlobsDeleted(share.id)
}

/** Retires `shareId` now if it is due (rather than at the next garbage collection). */
export async function retireIfDue(
  ctx: Pick<AppContext, 'store' | 'blobs' | 'now'>,
  shareId: string,
  scan: number,
): Promise<void> {
  for (const due of await ctx.store.shares.sharesToRetire(ctx.now(), scan)) {
    if (due.id === shareId) await retireShare(ctx, due)
  }
}
