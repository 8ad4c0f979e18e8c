import { Kysely, PostgresDialect } from 'kysely'
import { type PgSettings, pgPool } from '../pg.js'
import { postgresDialect } from './dialect.js'
import { type SqlMetadataStore, sqlMetadataStore } from './metadata-store.js'
import { migrateToLatest } from './migrations.js'
import type { Database } from './schema.js'

/**
 * Opens the PostgreSQL metadata store and brings it to the latest migration (the same list as
 * SQLite, with `bytea` for binary columns; Kysely serialises concurrent migrators with an advisory
 * lock, so several instances may start at once). Read committed isolation: where a transaction
 * reads and then writes (quota checks, log heads, item states, mailbox message indexes) it first
 * locks the row it depends on (`SELECT … FOR UPDATE`, `dialect.ts`); races on a unique key
 * (usernames, devices, nameplates) become the error SQLite's single writer would have given.
 */
export async function openPostgresStore(s: PgSettings): Promise<SqlMetadataStore> {
  const pool = pgPool(s)
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  try {
    await migrateToLatest(db as Kysely<unknown>, { binaryType: 'bytea' })
  } catch (e) {
    await db.destroy()
    throw e
  }
  return sqlMetadataStore(db, postgresDialect)
}
