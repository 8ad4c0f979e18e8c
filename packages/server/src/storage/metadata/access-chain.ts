import { createHash } from 'node:crypto'
import { canonicalBytes } from '@airlock/core'

/**
 * The server-wide hash chain of the access log: every row, whatever its item, is also a link of
 * one chain over all items, so a row deleted, edited or moved in the database shows even where
 * no client has looked (`auditAccessLog`). The store computes each row's link as it appends it.
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
