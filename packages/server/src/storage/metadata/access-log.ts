import { chainAccess } from '@airlock/core'
import type { Selectable } from 'kysely'
import { ServerError } from '../../errors.js'
import { serverChainHash, serverChainStart } from './access-chain.js'
import type { LogHead } from './device-logs.js'
import type { SqlDialect } from './dialect.js'
import type { Db } from './rows.js'
import type { AccessLogTable } from './schema.js'

/**
 * The access log: every blob download, hash-chained per item (core's `access-log.ts`) and
 * server-wide (`access-chain.ts`). Rows are never changed or deleted.
 */
export interface AccessLogStore {
  /**
   * Appends one access of `access.itemId` to both chains at once, serialised with every other
   * append (on any instance), and returns the stored row.
   */
  appendAccess(access: NewAccess): Promise<AccessRecord>
  /** True if this device (or share link) has an access of the item recorded already. */
  hasAccessBy(itemId: string, by: { deviceId: string } | { shareId: string }): Promise<boolean>
  /** Accesses of one item with `itemSeq > since`, ascending, at most `limit`. */
  listAccesses(itemId: string, since: number, limit: number): Promise<AccessRecord[]>
  /** Every access with server-wide `seq > since`, ascending, at most `limit` (for verification). */
  scanAccessLog(since: number, limit: number): Promise<AccessRecord[]>
  /** The server-wide chain's head as recorded beside it (`{seq: 0, hash: ''}` when empty). */
  accessLogHead(): Promise<LogHead>
}

export interface NewAccess {
  itemId: string
  at: number
  /** The downloading account and device, or null for a share-link download. */
  accountId: string | null
  deviceId: string | null
  shareId: string | null
  address: string
}

export interface AccessRecord extends NewAccess {
  /** Server-wide chain: position from 1, previous row's hash, this row's hash. */
  seq: number
  prev: string
  hash: string
  /** The item's own chain (core's `AccessEntry`): position from 1, previous hash, hash. */
  itemSeq: number
  itemPrev: string
  itemHash: string
}

/**
 * Each append locks the one `access_log_head` row, reads the item's last link, and inserts a row
 * carrying both chain links, so two downloads at once, on one instance or several, never fork
 * either chain; the unique keys on `seq` and `(item_id, item_seq)` would refuse a fork even
 * without the lock.
 */
export class SqlAccessLogStore implements AccessLogStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: SqlDialect,
  ) {}

  async appendAccess(a: NewAccess): Promise<AccessRecord> {
    return this.db.transaction().execute(async (trx) => {
      await this.dialect.lockRow(trx, 'access_log_head', 'server')
      const head = await trx
        .selectFrom('access_log_head')
        .select(['seq', 'hash'])
        .where('id', '=', 'server')
        .executeTakeFirst()
      if (!head) throw new ServerError('INTERNAL', 'the access log has no head row')
      const last = await trx
        .selectFrom('access_log')
        .select(['item_seq', 'item_hash'])
        .where('item_id', '=', a.itemId)
        .orderBy('item_seq', 'desc')
        .limit(1)
        .executeTakeFirst()
      const link = chainAccess(a.itemId, last ? { seq: Number(last.item_seq), hash: last.item_hash } : null, {
        at: a.at,
        accountId: a.accountId,
        deviceId: a.deviceId,
        shareId: a.shareId,
        address: a.address,
      })
      const seq = Number(head.seq) + 1
      const prev = seq === 1 ? serverChainStart() : head.hash
      const row = {
        seq,
        prev,
        hash: serverChainHash({ seq, prev, itemId: a.itemId, itemSeq: link.seq, itemHash: link.hash }),
        item_id: a.itemId,
        item_seq: link.seq,
        item_prev: link.prev,
        item_hash: link.hash,
        at: a.at,
        account_id: a.accountId,
        device_id: a.deviceId,
        share_id: a.shareId,
        address: a.address,
      }
      await trx.insertInto('access_log').values(row).execute()
      await trx
        .updateTable('access_log_head')
        .set({ seq, hash: row.hash })
        .where('id', '=', 'server')
        .execute()
      return accessRecord(row)
    })
  }

  async hasAccessBy(itemId: string, by: { deviceId: string } | { shareId: string }): Promise<boolean> {
    let q = this.db.selectFrom('access_log').select('seq').where('item_id', '=', itemId)
    q = 'deviceId' in by ? q.where('device_id', '=', by.deviceId) : q.where('share_id', '=', by.shareId)
    return (await q.limit(1).executeTakeFirst()) !== undefined
  }

  async listAccesses(itemId: string, since: number, limit: number): Promise<AccessRecord[]> {
    const rows = await this.db
      .selectFrom('access_log')
      .selectAll()
      .where('item_id', '=', itemId)
      .where('item_seq', '>', since)
      .orderBy('item_seq')
      .limit(limit)
      .execute()
    return rows.map(accessRecord)
  }

  async scanAccessLog(since: number, limit: number): Promise<AccessRecord[]> {
    const rows = await this.db
      .selectFrom('access_log')
      .selectAll()
      .where('seq', '>', since)
      .orderBy('seq')
      .limit(limit)
      .execute()
    return rows.map(accessRecord)
  }

  async accessLogHead(): Promise<LogHead> {
    const r = await this.db
      .selectFrom('access_log_head')
      .select(['seq', 'hash'])
      .where('id', '=', 'server')
      .executeTakeFirst()
    return { seq: Number(r?.seq ?? 0), hash: r?.hash ?? '' }
  }
}

function accessRecord(r: Selectable<AccessLogTable>): AccessRecord {
  return {
    seq: Number(r.seq),
    prev: r.prev,
    hash: r.hash,
    itemId: r.item_id,
    itemSeq: Number(r.item_seq),
    itemPrev: r.item_prev,
    itemHash: r.item_hash,
    at: Number(r.at),
    accountId: r.account_id,
    deviceId: r.device_id,
    shareId: r.share_id,
    address: r.address,
  }
}
