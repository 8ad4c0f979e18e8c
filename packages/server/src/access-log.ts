import { createHash } from 'node:crypto'
import {
  type AccessEntry,
  type AccessHead,
  accessEntryHash,
  accessGenesis,
  canonicalBytes,
} from '@airlock/core'
import type { AppContext } from './context.js'
import type { AccessRecord, MetadataStore } from './metadata-store.js'

/**
 * The access log: every download of every blob, recorded before its first byte is sent, in two
 * hash chains. Each item has its own chain (core's `access-log.ts`), which its owner's clients
 * verify end to end; every row is also a link of one server-wide chain over all items, which
 * {@link auditAccessLog} (`airlock-server verify-access-log`) checks from the first row, so a row
 * deleted, edited or moved in the database shows even where no client has looked.
 *
 * One download is one request for the blob whose range starts at byte 0 (no `Range`, `bytes=0-…`,
 * or a suffix range covering the whole blob). A request that starts later continues a download
 * and is not counted again; `HEAD` is not a download.
 */

const SERVER_CONTEXT = 'airlock server access-log v1'
const SERVER_GENESIS_CONTEXT = 'airlock server access-log genesis v1'

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url')
}

/** The `prev` of the server-wide chain's first row. */
export function serverChainStart(): string {
  return sha(canonicalBytes(SERVER_GENESIS_CONTEXT, {}))
}

/** A server-wide row's hash: its position, the previous hash, and the item link (which covers every field). */
export function serverChainHash(r: {
  seq: number
  prev: string
  itemId: string
  itemSeq: number
  itemHash: string
}): string {
  return sha(
    canonicalBytes(SERVER_CONTEXT, {
      seq: r.seq,
      prev: r.prev,
      itemId: r.itemId,
      itemSeq: r.itemSeq,
      itemHash: r.itemHash,
    }),
  )
}

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
  return ctx.store.appendAccess({
    itemId: access.itemId,
    at: ctx.now(),
    accountId: 'accountId' in who ? who.accountId : null,
    deviceId: 'deviceId' in who ? who.deviceId : null,
    shareId: 'shareId' in who ? who.shareId : null,
    address: access.address.slice(0, 128),
  })
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
    const page = await store.scanAccessLog(expected - 1, pageSize)
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
  const head = await store.accessLogHead()
  if (head.seq !== seq || (seq > 0 && head.hash !== prev))
    return fail(seq, `the recorded head (row ${head.seq}) does not match the last row (${seq})`)
  return { ok: true, rows, items: items.size, head }
}
