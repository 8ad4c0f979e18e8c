import { type Kysely, sql } from 'kysely'
import { NotFoundError } from '../../errors.js'
import type { Database } from './schema.js'

/** Small queries several store areas use inside their transactions. */
export type Db = Kysely<Database>

/**
 * Bytes an account holds or has reserved: ciphertext plus manifest sizes of its live items, and
 * the blobs of its share links until they are deleted (`shares.ts`).
 */
export async function usage(db: Db, accountId: string): Promise<number> {
  const r = await db
    .selectFrom('items')
    .select(sql<number>`coalesce(sum(ciphertext_size + manifest_size), 0)`.as('n'))
    .where('sender_account_id', '=', accountId)
    .where('state', 'in', ['reserved', 'committed'])
    .executeTakeFirst()
  const shares = await db
    .selectFrom('share_blobs')
    .innerJoin('shares', 'shares.id', 'share_blobs.share_id')
    .select(sql<number>`coalesce(sum(share_blobs.size), 0)`.as('n'))
    .where('shares.account_id', '=', accountId)
    .where('shares.blobs_deleted', '=', 0)
    .executeTakeFirst()
  return Number(r?.n ?? 0) + Number(shares?.n ?? 0)
}

/** Takes the conversation's next seq (for a committed item or a tombstone). */
export async function nextSeq(db: Db, conversationId: string): Promise<number> {
  const r = await db
    .updateTable('conversations')
    .set((eb) => ({ last_seq: eb('last_seq', '+', 1) }))
    .where('id', '=', conversationId)
    .returning('last_seq')
    .executeTakeFirst()
  if (!r) throw new NotFoundError('no such conversation')
  return Number(r.last_seq)
}

/** Rows a delete removed. */
export function count(r: { numDeletedRows: bigint } | undefined): number {
  return Number(r?.numDeletedRows ?? 0n)
}
