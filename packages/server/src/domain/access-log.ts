import {
  type AccessEntry,
  type AccessHead,
  accessEntryHash,
  accessGenesis,
  type ListAccessesResponse,
} from '@airlock/core'
import type { AppContext } from '../context.js'
import { ForbiddenError, NotFoundError } from '../errors.js'
import { serverChainHash, serverChainStart } from '../storage/metadata/access-chain.js'
import type { AccessRecord } from '../storage/metadata/access-log.js'
import type { ItemRecord } from '../storage/metadata/items.js'
import type { MetadataStore } from '../storage/metadata/metadata-store.js'
import type { Auth } from './sessions.js'

/**
 * The access log: every download of every blob, recorded before its first byte is sent, in two
 * hash chains. Each item has its own chain (core's `access-log.ts`), which its owner's clients
 * verify end to end; every row is also a link of one server-wide chain over all items
 * (`access-chain.ts`), which {@link auditAccessLog} (`airlock-server verify-access-log`) checks
 * from the first row, so a row deleted, edited or moved in the database shows even where no
 * client has looked.
 *
 * One download is one request for the blob whose range starts at byte 0 (no `Range`, `bytes=0-…`,
 * or a suffix range covering the whole blob). A request that starts later continues a download
 * and is not counted again; `HEAD` is not a download.
 */

/** Who downloaded: a device of an account, or a share link (for people without an account). */
export type Accessor = { accountId: string; deviceId: string } | { shareId: string }

/**
 * Records one download of `itemId` by `who` from `address` (Fastify's `req.ip`, which honours
 * `--trust-proxy`). Call it before sending the blob's first byte: a download the log cannot
 * record is not served. Share-link downloads pass `{shareId}`.
 */
export async function recordAccess(
  ctx: Pick<AppContext, 'store' | 'now'>,
  access: { itemId: string; who: Accessor; address: string },
): Promise<AccessRecord> {
  const who = access.who
  return ctx.store.accessLog.appendAccess({
    itemId: access.itemId,
    at: ctx.now(),
    accountId: 'accountId' in who ? who.accountId : null,
    deviceId: 'deviceId' in who ? who.deviceId : null,
    shareId: 'shareId' in who ? who.shareId : null,
    address: access.address.slice(0, 128),
  })
}

/**
 * Records a download unless it continues one already recorded: a request for the whole blob or
 * from byte 0 starts a download; a later range continues one — unless `who` never downloaded
 * the item, since a first request that skips the (well-known) start still counts. Call it before
 * the first byte leaves.
 */
export async function recordDownload(
  ctx: Pick<AppContext, 'store' | 'now'>,
  download: { itemId: string; who: Accessor; address: string; range: { start: number } | null },
): Promise<void> {
  const { itemId, who } = download
  const by = 'shareId' in who ? { shareId: who.shareId } : { deviceId: who.deviceId }
  if (
    download.range === null ||
    download.range.start === 0 ||
    !(await ctx.store.accessLog.hasAccessBy(itemId, by))
  ) {
    await recordAccess(ctx, download)
  }
}

/**
 * An item whose access log the caller may read: only its sending account (any of its devices),
 * also after it recalled (deleted) the item, since the evidence outlives the item. Other members
 * of the item's conversation get `FORBIDDEN`; everyone else `NOT_FOUND`, as if the item did not
 * exist.
 */
export async function sentItem(ctx: AppContext, auth: Auth, itemId: string): Promise<ItemRecord> {
  const item = await ctx.store.items.getItem(itemId)
  if (!item) throw new NotFoundError()
  if (item.senderAccountId !== auth.accountId) {
    const conversation = await ctx.store.conversations.getConversation(item.conversationId)
    if (item.state === 'committed' && conversation?.members.includes(auth.accountId))
      throw new ForbiddenError('only the sender can see who downloaded an item')
    throw new NotFoundError()
  }
  return item
}

/** A page of who downloaded `item`, as the item's hash chain. */
export async function itemAccesses(
  ctx: AppContext,
  item: ItemRecord,
  page: { since: number; limit: number },
): Promise<ListAccessesResponse> {
  const rows = await ctx.store.accessLog.listAccesses(item.id, page.since, page.limit + 1)
  return {
    itemId: item.id,
    accesses: rows.slice(0, page.limit).map(toWireAccess),
    more: rows.length > page.limit,
  }
}

/** A stored row as the item's owner receives it (core's `AccessEntry`). */
export function toWireAccess(r: AccessRecord): AccessEntry {
  return {
    seq: r.itemSeq,
    at: r.at,
    accountId: r.accountId,
    deviceId: r.deviceId,
    shareId: r.shareId,
    address: r.address,
    prev: r.itemPrev,
    hash: r.itemHash,
  }
}

export type AuditResult =
  | { ok: true; rows: number; items: number; head: AccessHead }
  | { ok: false; rows: number; seq: number; problem: string }

/**
 * Walks the whole access log in server-wide order and checks both chains of every row: position,
 * previous hash and recomputed hash, plus the recorded head. Reports the first row that does not
 * verify (`seq` is the server-wide position where the break was found). With `pinned` (a head
 * printed by an earlier run), also that the log still contains that row unchanged.
 */
export async function auditAccessLog(
  store: MetadataStore,
  opts: { pageSize?: number; pinned?: AccessHead } = {},
): Promise<AuditResult> {
  const pageSize = opts.pageSize ?? 1000
  const pinned = opts.pinned
  const items = new Map<string, AccessHead>()
  let expected = 1
  let prev = serverChainStart()
  let rows = 0
  const fail = (seq: number, problem: string): AuditResult => ({ ok: false, rows, seq, problem })
  for (;;) {
    const page = await store.accessLog.scanAccessLog(expected - 1, pageSize)
    for (const r of page) {
      if (r.seq !== expected)
        return fail(expected, `row ${expected} is missing or out of order (found ${r.seq})`)
      if (r.prev !== prev) return fail(r.seq, `row ${r.seq} does not follow row ${r.seq - 1}`)
      if (serverChainHash(r) !== r.hash) return fail(r.seq, `row ${r.seq} was altered (server chain)`)
      const last = items.get(r.itemId) ?? { seq: 0, hash: accessGenesis(r.itemId) }
      if (r.itemSeq !== last.seq + 1 || r.itemPrev !== last.hash)
        return fail(r.seq, `row ${r.seq} breaks the chain of its item`)
      if (accessEntryHash(r.itemId, toWireAccess(r)) !== r.itemHash)
        return fail(r.seq, `row ${r.seq} was altered (item chain)`)
      if (pinned && r.seq === pinned.seq && r.hash !== pinned.hash)
        return fail(r.seq, `row ${r.seq} differs from the head recorded earlier`)
      items.set(r.itemId, { seq: r.itemSeq, hash: r.itemHash })
      prev = r.hash
      expected++
      rows++
    }
    if (page.length < pageSize) break
  }
  const seq = expected - 1
  if (pinned && pinned.seq > seq)
    return fail(seq + 1, `rows ${seq + 1}–${pinned.seq} recorded earlier are gone`)
  const head = await store.accessLog.accessLogHead()
  if (head.seq !== seq || (seq > 0 && head.hash !== prev))
    return fail(seq, `the recorded head (row ${head.seq}) does not match the last row (${seq})`)
  return { ok: true, rows, items: items.size, head }
}
