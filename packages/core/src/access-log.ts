import { sha256 } from '@noble/hashes/sha2.js'
import { z } from 'zod'
import { toBase64Url } from './bytes.js'
import { canonicalBytes } from './canonical.js'
import { AccessLogError } from './errors.js'

/**
 * The access log of one item: every download of its blob, as a hash chain the item's owner can
 * check without trusting the server's database.
 *
 * Entry `n` (1-based) hashes a canonical encoding of all its fields — the item id, `n`, time,
 * account, device or share link, client address — together with the hash of entry `n - 1`; the
 * first entry's `prev` is {@link accessGenesis} of the item id, so a chain cannot be moved to
 * another item. An edited row no longer matches its hash; a deleted row leaves a gap in `seq` and
 * a broken `prev`; reordered rows break `seq` or `prev`. A server that rewrites the whole chain
 * consistently (or drops its newest entries) is caught by comparing with a head pinned earlier.
 */

const ENTRY_CONTEXT = 'airlock access-log entry v1'
const GENESIS_CONTEXT = 'airlock access-log genesis v1'

const hashString = z
  .string()
  .length(43)
  .regex(/^[A-Za-z0-9_-]*$/, 'must be base64url')
const idString = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_-]*$/, 'must be base64url')

/** One access on the wire (`GET /items/:id/accesses`): who, when, from where, and its chain link. */
export const accessEntrySchema = z.strictObject({
  /** Position in the item's chain, from 1. */
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** When the download started, ms since the epoch (the server's clock). */
  at: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** The downloading account and device, or null for a download through a share link. */
  accountId: idString.nullable(),
  deviceId: idString.nullable(),
  /** The share link used, or null for a device download. */
  shareId: idString.nullable(),
  /** The client's address as the server saw it (behind a trusted proxy: X-Forwarded-For). */
  address: z.string().max(128),
  prev: hashString,
  hash: hashString,
})
export type AccessEntry = z.infer<typeof accessEntrySchema>

/** The fields of an access before it is chained. */
export type AccessFields = Pick<AccessEntry, 'at' | 'accountId' | 'deviceId' | 'shareId' | 'address'>

/** The head of a verified access chain: its last `seq` (0 when empty) and that entry's hash. */
export interface AccessHead {
  seq: number
  hash: string
}

/** The `prev` of an item's first access: binds the chain to the item id. */
export function accessGenesis(itemId: string): string {
  return toBase64Url(sha256(canonicalBytes(GENESIS_CONTEXT, { itemId })))
}

/** The hash of an access entry of `itemId` (every field except `hash` itself). */
export function accessEntryHash(itemId: string, e: Omit<AccessEntry, 'hash'>): string {
  return toBase64Url(
    sha256(
      canonicalBytes(ENTRY_CONTEXT, {
        itemId,
        seq: e.seq,
        at: e.at,
        accountId: e.accountId,
        deviceId: e.deviceId,
        shareId: e.shareId,
        address: e.address,
        prev: e.prev,
      }),
    ),
  )
}

/** The entry that follows `head` (null or `{seq: 0}` for the first) in `itemId`'s chain. */
export function chainAccess(itemId: string, head: AccessHead | null, fields: AccessFields): AccessEntry {
  const seq = (head?.seq ?? 0) + 1
  const prev = head && head.seq > 0 ? head.hash : accessGenesis(itemId)
  const e = {
    seq,
    prev,
    at: fields.at,
    accountId: fields.accountId,
    deviceId: fields.deviceId,
    shareId: fields.shareId,
    address: fields.address,
  }
  return { ...e, hash: accessEntryHash(itemId, e) }
}

/**
 * Verifies the whole access chain of `itemId` as the server returned it, from its first entry,
 * and, if given, that it still contains the head pinned at an earlier check. Returns the new head
 * (pin it). Throws `AccessLogError` (code `ACCESS_LOG_TAMPERED`) naming the first entry that does
 * not verify: an edited, deleted, inserted or reordered entry, another item's chain, or a chain
 * shorter than, or diverging from, the pinned one.
 */
export function verifyAccessLog(
  itemId: string,
  entries: readonly AccessEntry[],
  pinned?: AccessHead,
): AccessHead {
  let prev = accessGenesis(itemId)
  entries.forEach((e, i) => {
    if (e.seq !== i + 1)
      throw new AccessLogError(`access ${i + 1} is missing or out of order (found ${e.seq})`)
    if (e.prev !== prev) throw new AccessLogError(`access ${e.seq} does not follow access ${e.seq - 1}`)
    if (accessEntryHash(itemId, e) !== e.hash) throw new AccessLogError(`access ${e.seq} was altered`)
    prev = e.hash
  })
  const last = entries.at(-1)
  const head: AccessHead = last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: '' }
  if (pinned && pinned.seq > 0) {
    const seen = entries[pinned.seq - 1]
    if (!seen) throw new AccessLogError(`accesses after ${head.seq} that were shown before are gone`)
    if (seen.hash !== pinned.hash)
      throw new AccessLogError(`access ${pinned.seq} differs from the one shown before`)
  }
  return head
}
