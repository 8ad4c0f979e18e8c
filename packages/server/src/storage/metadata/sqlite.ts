import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { sqliteDialect } from './dialect.js'
import { type SqlMetadataStore, sqlMetadataStore } from './metadata-store.js'
import { migrateToLatest } from './migrations.js'
import type { Database } from './schema.js'

/**
 * Opens (creating if needed) the embedded SQLite metadata store at `path` (`:memory:` for tests)
 * and migrates it. WAL journal with `synchronous=FULL`: a committed item survives a crash or a
 * power cut, and readers never block the writer. `secure_delete` zeroes deleted rows.
 */
export async function openSqliteStore(path: string): Promise<SqlMetadataStore> {
  const sqlite = new SQLite(path)
  sqlite.pragma('journal_mode = WAL')
  sqlite.pragma('synchronous = FULL')
  sqlite.pragma('busy_timeout = 5000')
  sqlite.pragma('foreign_keys = ON')
  // Deleted rows (linking messages, manifests of deleted items) are overwritten, not left in free pages.
  sqlite.pragma('secure_delete = ON')
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
  try {
    await migrateToLatest(db as Kysely<unknown>, { binaryType: 'blob' })
  } catch (e) {
    await db.destroy()
    throw e
  }
  return sqlMetadataStore(db, sqliteDialect)
}
