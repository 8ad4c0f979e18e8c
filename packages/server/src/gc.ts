import type { AppContext } from './context.js'
import { itemDeleted } from './domain/items.js'
import { retireShare } from './domain/retire-shares.js'

/** Blobs without an item are deleted only after this long, so a reservation in flight is never hit. */
const ORPHAN_GRACE_MS = 60 * 60_000

export interface GcReport {
  reservations: number
  /** Committed items deleted by retention. */
  expired: number
  /** Share links whose blobs were deleted (expired, used up, revoked, or never finished). */
  shares: number
  orphans: number
  rows: number
}

/**
 * One garbage-collection pass: expired reservations and their partial blobs; committed items past
 * their retention (a tombstone, the blob, a `delete` push to the members); blobs no live item
 * owns (left by a crash between a delete and its blob removal); the blobs of share links that
 * expired, were used up or revoked; expired challenges, sessions, invites and linking mailboxes.
 */
export async function collectGarbage(
  ctx: Pick<AppContext, 'store' | 'blobs' | 'now'> & Partial<Pick<AppContext, 'hub'>>,
): Promise<GcReport> {
  const now = ctx.now()
  let reservations = 0
  for (;;) {
    const ids = await ctx.store.items.expiredReservations(now, 500)
    for (const id of ids) {
      if (await ctx.store.items.dropReservation(id)) {
        await ctx.blobs.delete(id)
        reservations++
      }
    }
    if (ids.length < 500) break
  }
  let expired = 0
  for (;;) {
    const items = await ctx.store.items.expireRetainedItems(now, 500)
    for (const item of items) {
      const conversation = await ctx.store.conversations.getConversation(item.conversationId)
      await itemDeleted(ctx, item, item.seq, conversation?.members ?? [])
      expired++
    }
    if (items.length < 500) break
  }
  let shares = 0
  for (;;) {
    const due = await ctx.store.shares.sharesToRetire(now, 100)
    for (const share of due) await retireShare(ctx, share)
    shares += due.length
    if (due.length < 100) break
  }
  let orphans = 0
  for await (const blob of ctx.blobs.list()) {
    if (now - blob.modifiedAt < ORPHAN_GRACE_MS) continue
    if (
      !(await ctx.store.items.hasLiveItem(blob.id)) &&
      !(await ctx.store.shares.hasLiveShareBlob(blob.id))
    ) {
      await ctx.blobs.delete(blob.id)
      orphans++
    }
  }
  const rows =
    (await ctx.store.sessions.deleteExpired(now)) +
    (await ctx.store.accounts.deleteExpiredInvites(now)) +
    (await ctx.store.mailboxes.deleteExpired(now))
  return { reservations, expired, shares, orphans, rows }
}

/** Runs {@link collectGarbage} now and every `intervalMs`; returns a stop function. */
export function startGarbageCollector(ctx: AppContext, intervalMs: number): () => void {
  let running = false
  const run = async () => {
    if (running) return
    running = true
    try {
      const r = await collectGarbage(ctx)
      if (r.reservations + r.expired + r.shares + r.orphans > 0) ctx.log.info(r, 'garbage collected')
    } catch (e) {
      ctx.log.error({ err: e }, 'garbage collection failed')
    } finally {
      running = false
    }
  }
  void run()
  const timer = setInterval(run, intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
