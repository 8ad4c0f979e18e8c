import type { Selectable } from 'kysely'
import { ConflictError, NotFoundError, RateLimitedError } from '../../errors.js'
import type { SqlDialect } from './dialect.js'
import { count, type Db } from './rows.js'
import type { LinkMailboxesTable } from './schema.js'

/**
 * Device-linking mailboxes: short-lived relays of opaque messages between a new device and the
 * existing device that joins, found by a four-digit nameplate while open. Mailbox secrets are
 * stored only as SHA-256 hashes.
 */
export interface MailboxStore {
  /** Throws `CONFLICT` if the nameplate is taken by a live mailbox. */
  createMailbox(m: NewMailbox): Promise<void>
  getMailbox(id: string): Promise<MailboxRecord | null>
  /** The open mailbox with this nameplate, if any. */
  findMailboxByNameplate(nameplate: string): Promise<MailboxRecord | null>
  /** open → joined by this device; false if it was not open. */
  joinMailbox(id: string, accountId: string, deviceId: string): Promise<boolean>
  /** Closes or burns a mailbox and frees its nameplate. */
  endMailbox(id: string, state: 'closed' | 'burnt'): Promise<void>
  /** Counts a failed attempt; burns the mailbox at `maxFailures`. Returns the new state. */
  recordMailboxFailure(id: string, maxFailures: number): Promise<MailboxState>
  /** Appends a message; throws `RATE_LIMITED` past `maxPerSide` messages from that side. */
  addLinkMessage(mailboxId: string, side: LinkSide, body: string, maxPerSide: number): Promise<number>
  /** Messages from `side` with `index > after`, ascending. */
  getLinkMessages(mailboxId: string, side: LinkSide, after: number): Promise<LinkMessageRecord[]>
  /** Deletes expired mailboxes and their messages; returns how many mailboxes. */
  deleteExpired(now: number): Promise<number>
}

export type MailboxState = 'open' | 'joined' | 'closed' | 'burnt'
export type LinkSide = 'new' | 'existing'

export interface NewMailbox {
  id: string
  nameplate: string
  secretHash: string
  createdAt: number
  expiresAt: number
}

export interface MailboxRecord {
  id: string
  nameplate: string | null
  secretHash: string
  state: MailboxState
  createdAt: number
  expiresAt: number
  joinedAccountId: string | null
  joinedDeviceId: string | null
  failures: number
}

export interface LinkMessageRecord {
  index: number
  side: LinkSide
  body: string
}

export class SqlMailboxStore implements MailboxStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: SqlDialect,
  ) {}

  async createMailbox(m: NewMailbox): Promise<void> {
    try {
      await this.insertMailbox(m)
    } catch (e) {
      // Another instance took the nameplate between the check and the insert.
      if (this.dialect.uniqueViolation(e)) throw new ConflictError('nameplate in use')
      throw e
    }
  }

  private async insertMailbox(m: NewMailbox): Promise<void> {
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
      await this.dialect.lockRow(trx, 'link_mailboxes', id)
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
      await this.dialect.lockRow(trx, 'link_mailboxes', mailboxId)
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
      const expired = trx.selectFrom('link_mailboxes').select('id').where('expires_at', '<=', now)
      await trx.deleteFrom('link_messages').where('mailbox_id', 'in', expired).execute()
      return count(await trx.deleteFrom('link_mailboxes').where('expires_at', '<=', now).executeTakeFirst())
    })
  }
}

function mailboxRecord(r: Selectable<LinkMailboxesTable>): MailboxRecord {
  return {
    id: r.id,
    nameplate: r.nameplate,
    secretHash: r.secret_hash,
    state: r.state,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    joinedAccountId: r.joined_account_id,
    joinedDeviceId: r.joined_device_id,
    failures: Number(r.failures),
  }
}
