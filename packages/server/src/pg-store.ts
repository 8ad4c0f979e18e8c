import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Database } from './db-schema.js'
import { ConflictError, ServerError } from './errors.js'
import type { AccountRecord, DeviceChange, NewAccount, NewLogEntry, NewMailbox } from './metadata-store.js'
import { migrateToLatest } from './migrations.js'
import type { Db, LockedTable } from './sql-rows.js'
import { SqlMetadataStore } from './sql-store.js'

// bigint columns (ids, sizes, times in ms) come back as JS numbers: every value fits in 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v))

/** Connection settings shared by the PostgreSQL store, push hub and upload lock. */
export interface PgSettings {
  /** `postgres://user@host:port/db`; `?options=-c%20search_path%3Dname` picks a schema. */
  url: string
  /** Pool size per instance. */
  maxConnections?: number
}

export function pgPool(s: PgSettings, max = s.maxConnections ?? 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: s.url, max, connectionTimeoutMillis: 10_000 })
  // An idle client losing its connection (a PostgreSQL restart) must not crash the process.
  pool.on('error', () => {})
  return pool
}

/** A dedicated connection (LISTEN, session advisory locks), outside any pool. */
export async function pgClient(s: PgSettings): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: s.url, connectionTimeoutMillis: 10_000 })
  await client.connect()
  return client
}

/** The schema the URL's search_path selects; it scopes notification channels and lock keys. */
export async function currentSchema(client: pg.Pool | pg.Client): Promise<string> {
  const r = await client.query<{ s: string }>('select current_schema() as s')
  if (!r.rows[0]?.s) throw new ServerError('UNAVAILABLE', 'the PostgreSQL search_path names no schema')
  return r.rows[0].s
}

/**
 * Opens the PostgreSQL metadata store and brings it to the latest migration (the same list as
 * SQLite, with `bytea` for binary columns; Kysely serialises concurrent migrators with an advisory
 * lock, so several instances may start at once). Read committed isolation: where a transaction
 * reads and then writes (quota checks, log heads, item states, mailbox message indexes) it first
 * locks the row it depends on (`lockRow`, `SELECT … FOR UPDATE`); races on a unique key
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
  return new PostgresMetadataStore(db)
}

class PostgresMetadataStore extends SqlMetadataStore {
  protected override async lockRow(trx: Db, table: LockedTable, id: string): Promise<void> {
    await trx.selectFrom(table).select('id').where('id', '=', id).forUpdate().execute()
  }

  override async createAccount(input: NewAccount): Promise<AccountRecord> {
    try {
      return await super.createAccount(input)
    } catch (e) {
      if (uniqueViolation(e, 'accounts_username'))
        throw new ServerError('USERNAME_TAKEN', 'this username is taken')
      if (uniqueViolation(e)) throw new ConflictError('this device is already enrolled')
      throw e
    }
  }

  override async appendLogEntry(accountId: string, entry: NewLogEntry, change: DeviceChange): Promise<void> {
    try {
      await super.appendLogEntry(accountId, entry, change)
    } catch (e) {
      if (uniqueViolation(e, 'device_log')) {
        throw new ServerError('STALE_HEAD', 'the entry does not extend the current head of the log')
      }
      if (uniqueViolation(e)) throw new ConflictError('this device is already enrolled')
      throw e
    }
  }

  override async createMailbox(m: NewMailbox): Promise<void> {
    try {
      await super.createMailbox(m)
    } catch (e) {
      if (uniqueViolation(e)) throw new ConflictError('nameplate in use')
      throw e
    }
  }
}

/** PostgreSQL's unique_violation (23505), optionally on a constraint whose name starts so. */
function uniqueViolation(e: unknown, constraint?: string): boolean {
  const err = e as { code?: string; constraint?: string }
  return err?.code === '23505' && (constraint === undefined || (err.constraint ?? '').startsWith(constraint))
}
