import type { Db } from './rows.js'

/** Tables whose rows `lockRow` can lock (each has an `id` key). */
export type LockedTable =
  | 'accounts'
  | 'items'
  | 'link_mailboxes'
  | 'conversations'
  | 'access_log_head'
  | 'shares'

/**
 * What differs between the SQL databases the metadata store runs on. Every store area is written
 * once, in the SQL subset SQLite and PostgreSQL share; these two operations are where a
 * database with one writer (SQLite) and one with many (PostgreSQL, read committed) part ways.
 */
export interface SqlDialect {
  /**
   * Locks one row until the transaction ends, where several writers could otherwise interleave a
   * read and a write (quota checks, log heads, seq and index allocation).
   */
  lockRow(trx: Db, table: LockedTable, id: string): Promise<void>
  /**
   * True if `e` is a unique-key violation (on a constraint whose name starts with `constraint`):
   * a race on a unique key (usernames, devices, nameplates) that the store turns into the error
   * a single writer would have given.
   */
  uniqueViolation(e: unknown, constraint?: string): boolean
}

/**
 * SQLite has a single writer: a transaction's reads see every committed row and nothing
 * interleaves, so no row needs locking, and the checks inside each transaction refuse a
 * duplicate before a unique key would.
 */
export const sqliteDialect: SqlDialect = {
  async lockRow() {},
  uniqueViolation: () => false,
}

/** PostgreSQL at read committed: `SELECT … FOR UPDATE`, and unique_violation (23505) by constraint name. */
export const postgresDialect: SqlDialect = {
  async lockRow(trx, table, id) {
    await trx.selectFrom(table).select('id').where('id', '=', id).forUpdate().execute()
  },
  uniqueViolation(e, constraint) {
    const err = e as { code?: string; constraint?: string }
    return (
      err?.code === '23505' && (constraint === undefined || (err.constraint ?? '').startsWith(constraint))
    )
  },
}
