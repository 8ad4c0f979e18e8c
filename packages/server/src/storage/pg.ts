import pg from 'pg'
import { ServerError } from '../errors.js'

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
