import SQLite from 'better-sqlite3'
import { Kysely, type MigrationProvider, Migrator, SqliteDialect, sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { migrations } from '../src/storage/metadata/migrations.js'

/**
 * Migration 0007 (consent) on a database from before it: people who already share a direct
 * conversation accepted each other (no request appears between them), and every group member
 * counts as joined (their groups' logs are version 1, core's group-log.ts).
 */
describe('consent migration', () => {
  it('accepts both sides of existing direct conversations and counts existing group members as joined', async () => {
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) })
    const list = migrations({ binaryType: 'blob' })
    const provider: MigrationProvider = { getMigrations: async () => list }
    const migrator = new Migrator({ db, provider })
    const before = await migrator.migrateTo('0006_idempotency_key')
    expect(before.error).toBeUndefined()
    await sql`insert into conversations (id, kind, created_at, last_seq, direct_key)
      values ('d', 'direct', 5, 0, 'a b'), ('g', 'group', 6, 0, null), ('s', 'self', 1, 0, null)`.execute(db)
    await sql`insert into conversation_members (conversation_id, account_id, role)
      values ('d', 'a', 'member'), ('d', 'b', 'member'), ('g', 'a', 'owner'), ('g', 'c', 'member'),
             ('s', 'a', null)`.execute(db)
    expect((await migrator.migrateToLatest()).error).toBeUndefined()
    const contacts = await sql<{ account_id: string; peer_id: string; consent: string; updated_at: number }>`
      select account_id, peer_id, consent, updated_at from contacts order by account_id`.execute(db)
    expect(contacts.rows.map((r) => [r.account_id, r.peer_id, r.consent, Number(r.updated_at)])).toEqual([
      ['a', 'b', 'accepted', 5],
      ['b', 'a', 'accepted', 5],
    ])
    const joined = await sql<{
      n: number
    }>`select count(*) as n from conversation_members where joined = 1`.execute(db)
    expect(Number(joined.rows[0]!.n)).toBe(5)
    await db.destroy()
  })
})
