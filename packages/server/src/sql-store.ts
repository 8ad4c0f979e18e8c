import { ConflictError, NotFoundError, RateLimitedError } from './errors.js'
import type {
  LinkMessageRecord,
  LinkSide,
  MailboxRecord,
  MailboxState,
  MetadataStore,
  NewMailbox,
} from './metadata-store.js'
import { count, type Db, mailboxRecord } from './sql-rows.js'
import { SqlShareStore } from './sql-shares.js'

/**
 * A `MetadataStore` over any Kysely database with the schema of `migrations.ts`, written in the SQL
 * subset SQLite and PostgreSQL share; each adapter opens the connection and migrates. Accounts
 * and device logs are in `sql-accounts.ts`, conversations and items in `sql-items.ts`, the access log in
 * `sql-access-log.ts`, policy in `sql-policy.ts`, share links in `sql-shares.ts`; linking
 * mailboxes and expiry here.
 */
export class SqlMetadataStore extends SqlShareStore implements MetadataStore {
  constructor(
    db: Db,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {
    super(db)
  }

  async createMailbox(m: NewMailbox): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const taken = await trx
        .selectFrom('link_mailboxes')
        .select('id')
        .where('nameplate', '=', m.nameplate)
        .executeTakeFirst()
      if (taken) throw new ConflictError('nameplate in use')
      await trx
        .insertInto('link_mailboxes')
        .values({
          id: m.id,
          nameplate: m.nameplate,
          secret_hash: m.secretHash,
          state: 'open',
          created_at: m.createdAt,
          expires_at: m.expiresAt,
          joined_account_id: null,
          joined_device_id: null,
        })
        .execute()
    })
  }

  async getMailbox(id: string): Promise<MailboxRecord | null> {
    const r = await this.db.selectFrom('link_mailboxes').selectAll().where('id', '=', id).executeTakeFirst()
    return r ? mailboxRecord(r) : null
  }

  async findMailboxByNameplate(nameplate: string): Promise<MailboxRecord | null> {
    const r = await this.db
      .selectFrom('link_mailboxes')
      .selectAll()
      .where('nameplate', '=', nameplate)
      .where('state', '=', 'open')
      .executeTakeFirst()
    return r ? mailboxRecord(r) : null
  }

  async joinMailbox(id: string, accountId: string, deviceId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('link_mailboxes')
      .set({ state: 'joined', joined_account_id: accountId, joined_device_id: deviceId, nameplate: null })
      .where('id', '=', id)
      .where('state', '=', 'open')
      .executeTakeFirst()
    return Number(r.numUpdatedRows) === 1
  }

  async endMailbox(id: string, state: 'closed' | 'burnt'): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('link_mailboxes').set({ state, nameplate: null }).where('id', '=', id).execute()
      await trx.deleteFrom('link_messages').where('mailbox_id', '=', id).execute()
    })
  }

  async recordMailboxFailure(id: string, maxFailures: number): Promise<MailboxState> {
    return this.db.transaction().execute(async (trx) => {
      await this.lockRow(trx, 'link_mailboxes', id)
      const r = await trx.selectFrom('link_mailboxes').selectAll().where('id', '=', id).executeTakeFirst()
      if (!r) throw new NotFoundError('no such mailbox')
      const failures = r.failures + 1
      const burn = failures >= maxFailures
      await trx
        .updateTable('link_mailboxes')
        .set(burn ? { failures, state: 'burnt', nameplate: null } : { failures })
        .where('id', '=', id)
        .execute()
      if (burn) await trx.deleteFrom('link_messages').where('mailbox_id', '=', id).execute()
      return burn ? 'burnt' : r.state
    })
  }

  async addLinkMessage(mailboxId: string, side: LinkSide, body: string, maxPerSide: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      await this.lockRow(trx, 'link_mailboxes', mailboxId)
      const counts = await trx
        .selectFrom('link_messages')
        .select([
          'side',
          (eb) => eb.fn.countAll<number>().as('n'),
          (eb) => eb.fn.max<number>('idx').as('last'),
        ])
        .where('mailbox_id', '=', mailboxId)
        .groupBy('side')
        .execute()
      const mine = counts.find((c) => c.side === side)
      if (mine && Number(mine.n) >= maxPerSide) throw new RateLimitedError(60)
      const last = counts.reduce((m, c) => Math.max(m, Number(c.last)), -1)
      const index = last + 1
      await trx
        .insertInto('link_messages')
        .values({ mailbox_id: mailboxId, idx: index, side, body })
        .execute()
      return index
    })
  }

  async getLinkMessages(mailboxId: string, side: LinkSide, after: number): Promise<LinkMessageRecord[]> {
    const rows = await this.db
      .selectFrom('link_messages')
      .selectAll()
      .where('mailbox_id', '=', mailboxId)
      .where('side', '=', side)
      .where('idx', '>', after)
      .orderBy('idx')
      .execute()
    return rows.map((r) => ({ index: Number(r.idx), side: r.side, body: r.body }))
  }

  async deleteExpired(now: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      let n = 0
      n += count(await trx.deleteFrom('challenges').where('expires_at', '<=', now).executeTakeFirst())
      n += count(await trx.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst())
      n += count(
        await trx
          .deleteFrom('codes')
          .where('kind', '=', 'invite')
          .where('used_at', 'is', null)
          .where('expires_at', '<=', now)
          .executeTakeFirst(),
      )
      const expired = trx.selectFrom('link_mailboxes').select('id').where('expires_at', '<=', now)
      await trx.deleteFrom('link_messages').where('mailbox_id', 'in', expired).execute()
      n += count(await trx.deleteFrom('link_mailboxes').where('expires_at', '<=', now).executeTakeFirst())
      return n
    })
  }

  async close(): Promise<void> {
    await this.db.destroy()
    await this.onClose()
  }
}
