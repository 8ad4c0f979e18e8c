import { sql } from 'kysely'
import { ConflictError, ForbiddenError, NotFoundError, ServerError } from '../../errors.js'
import { logRow, type NewLogEntry } from './device-logs.js'
import type { SqlDialect } from './dialect.js'
import { count, type Db, usage } from './rows.js'

/**
 * Accounts: setup and invite codes, creating an account (with its genesis log entry, first
 * device and self conversation, at once), lookups, usage, and what administrators change
 * (disabling, quotas). Codes are stored only as SHA-256 hashes.
 */
export interface AccountStore {
  countAccounts(): Promise<number>
  /** Replaces any unused setup code by this one (the first start, or a restart before setup). */
  replaceSetupCode(code: NewCode): Promise<void>
  createInvite(code: NewCode & { createdBy: string }): Promise<void>
  listInvites(createdBy: string): Promise<CodeRecord[]>
  /** Deletes unused invites that have expired; returns how many. */
  deleteExpiredInvites(now: number): Promise<number>
  /**
   * Consumes a setup or invite code and creates the account, its genesis log entry, its first
   * device and its self conversation, all at once. Throws `FORBIDDEN` for an unknown, used or
   * expired code, `USERNAME_TAKEN`, or `CONFLICT` if the device id already exists.
   */
  createAccount(input: NewAccount): Promise<AccountRecord>
  getAccount(id: string): Promise<AccountRecord | null>
  findAccountByUsername(username: string): Promise<AccountRecord | null>
  /** Bytes the account holds or has reserved: live items (ciphertext and manifest) and share blobs. */
  accountUsage(accountId: string): Promise<number>
  /** Every account with its active devices and usage, ordered by username. */
  listAccountsForAdmin(): Promise<AdminAccountRecord[]>
  /**
   * Disables or enables an account. Disabling deletes its sessions and challenges in the same
   * transaction. Throws `NOT_FOUND` for an unknown account.
   */
  setAccountDisabled(accountId: string, disabled: boolean): Promise<void>
  isAccountDisabled(accountId: string): Promise<boolean>
  /** Sets the account's own quota (null: the server's default). Throws `NOT_FOUND`. */
  setAccountQuota(accountId: string, quotaBytes: number | null): Promise<void>
}

export interface NewCode {
  id: string
  codeHash: string
  createdAt: number
  expiresAt: number | null
}

export interface CodeRecord extends NewCode {
  kind: 'setup' | 'invite'
  createdBy: string | null
  usedAt: number | null
}

export interface NewAccount {
  id: string
  username: string
  codeHash: string
  now: number
  quotaBytes: number | null
  genesis: NewLogEntry
  device: { id: string; signKey: string }
  selfConversationId: string
}

export interface AccountRecord {
  id: string
  username: string
  admin: boolean
  createdAt: number
  quotaBytes: number | null
  selfConversationId: string
}

export interface AdminAccountRecord {
  id: string
  username: string
  admin: boolean
  disabled: boolean
  createdAt: number
  quotaBytes: number | null
  devices: number
  usedBytes: number
}

export class SqlAccountStore implements AccountStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: SqlDialect,
  ) {}

  async countAccounts(): Promise<number> {
    const r = await this.db
      .selectFrom('accounts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst()
    return Number(r?.n ?? 0)
  }

  async replaceSetupCode(code: NewCode): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('codes').where('kind', '=', 'setup').where('used_at', 'is', null).execute()
      await trx
        .insertInto('codes')
        .values({ ...codeRow(code), kind: 'setup', created_by: null, used_at: null, used_by: null })
        .execute()
    })
  }

  async createInvite(code: NewCode & { createdBy: string }): Promise<void> {
    await this.db
      .insertInto('codes')
      .values({ ...codeRow(code), kind: 'invite', created_by: code.createdBy, used_at: null, used_by: null })
      .execute()
  }

  async listInvites(createdBy: string): Promise<CodeRecord[]> {
    const rows = await this.db
      .selectFrom('codes')
      .selectAll()
      .where('kind', '=', 'invite')
      .where('created_by', '=', createdBy)
      .orderBy('created_at')
      .execute()
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      codeHash: r.code_hash,
      createdBy: r.created_by,
      createdAt: Number(r.created_at),
      expiresAt: r.expires_at === null ? null : Number(r.expires_at),
      usedAt: r.used_at === null ? null : Number(r.used_at),
    }))
  }

  async createAccount(input: NewAccount): Promise<AccountRecord> {
    try {
      return await this.insertAccount(input)
    } catch (e) {
      if (this.dialect.uniqueViolation(e, 'accounts_username'))
        throw new ServerError('USERNAME_TAKEN', 'this username is taken')
      if (this.dialect.uniqueViolation(e)) throw new ConflictError('this device is already enrolled')
      throw e
    }
  }

  private async insertAccount(input: NewAccount): Promise<AccountRecord> {
    return this.db.transaction().execute(async (trx) => {
      const code = await trx
        .selectFrom('codes')
        .selectAll()
        .where('code_hash', '=', input.codeHash)
        .where('used_at', 'is', null)
        .executeTakeFirst()
      if (!code || (code.expires_at !== null && Number(code.expires_at) <= input.now)) {
        throw new ForbiddenError('the code is unknown, used or expired')
      }
      const taken = await trx
        .selectFrom('accounts')
        .select('id')
        .where('username', '=', input.username)
        .executeTakeFirst()
      if (taken) throw new ServerError('USERNAME_TAKEN', 'this username is taken')
      const device = await trx
        .selectFrom('devices')
        .select('id')
        .where('id', '=', input.device.id)
        .executeTakeFirst()
      if (device) throw new ConflictError('this device is already enrolled')

      await trx
        .updateTable('codes')
        .set({ used_at: input.now, used_by: input.id })
        .where('id', '=', code.id)
        .where('used_at', 'is', null)
        .execute()
      const admin = code.kind === 'setup'
      await trx
        .insertInto('accounts')
        .values({
          id: input.id,
          username: input.username,
          admin: admin ? 1 : 0,
          created_at: input.now,
          quota_bytes: input.quotaBytes,
          self_conversation_id: input.selfConversationId,
        })
        .execute()
      await trx.insertInto('device_log').values(logRow(input.id, input.genesis)).execute()
      await trx
        .insertInto('devices')
        .values({
          id: input.device.id,
          account_id: input.id,
          sign_key: input.device.signKey,
          active: 1,
          added_seq: input.genesis.seq,
          removed_seq: null,
        })
        .execute()
      await trx
        .insertInto('conversations')
        .values({ id: input.selfConversationId, kind: 'self', created_at: input.now, last_seq: 0 })
        .execute()
      await trx
        .insertInto('conversation_members')
        .values({ conversation_id: input.selfConversationId, account_id: input.id })
        .execute()
      return {
        id: input.id,
        username: input.username,
        admin,
        createdAt: input.now,
        quotaBytes: input.quotaBytes,
        selfConversationId: input.selfConversationId,
      }
    })
  }

  async getAccount(id: string): Promise<AccountRecord | null> {
    const r = await this.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst()
    if (!r) return null
    return {
      id: r.id,
      username: r.username,
      admin: r.admin === 1,
      createdAt: Number(r.created_at),
      quotaBytes: r.quota_bytes === null ? null : Number(r.quota_bytes),
      selfConversationId: r.self_conversation_id,
    }
  }

  async findAccountByUsername(username: string): Promise<AccountRecord | null> {
    const r = await this.db
      .selectFrom('accounts')
      .select('id')
      .where('username', '=', username)
      .executeTakeFirst()
    return r ? this.getAccount(r.id) : null
  }

  async accountUsage(accountId: string): Promise<number> {
    return usage(this.db, accountId)
  }

  async listAccountsForAdmin(): Promise<AdminAccountRecord[]> {
    const rows = await this.db
      .selectFrom('accounts as a')
      .select([
        'a.id',
        'a.username',
        'a.admin',
        'a.disabled',
        'a.created_at',
        'a.quota_bytes',
        (eb) =>
          eb
            .selectFrom('devices as d')
            .select(sql<number>`count(*)`.as('n'))
            .whereRef('d.account_id', '=', 'a.id')
            .where('d.active', '=', 1)
            .as('devices'),
        (eb) =>
          eb
            .selectFrom('items as i')
            .select(sql<number>`coalesce(sum(i.ciphertext_size + i.manifest_size), 0)`.as('n'))
            .whereRef('i.sender_account_id', '=', 'a.id')
            .where('i.state', 'in', ['reserved', 'committed'])
            .as('used'),
      ])
      .orderBy('a.username')
      .execute()
    return rows.map((r) => ({
      id: r.id,
      username: r.username,
      admin: r.admin === 1,
      disabled: Number(r.disabled) === 1,
      createdAt: Number(r.created_at),
      quotaBytes: r.quota_bytes === null ? null : Number(r.quota_bytes),
      devices: Number(r.devices ?? 0),
      usedBytes: Number(r.used ?? 0),
    }))
  }

  async setAccountDisabled(accountId: string, disabled: boolean): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('accounts')
        .set({ disabled: disabled ? 1 : 0 })
        .where('id', '=', accountId)
        .executeTakeFirst()
      if (Number(r.numUpdatedRows) !== 1) throw new NotFoundError('no such account')
      if (!disabled) return
      await trx.deleteFrom('sessions').where('account_id', '=', accountId).execute()
      const devices = trx.selectFrom('devices').select('id').where('account_id', '=', accountId)
      await trx.deleteFrom('challenges').where('device_id', 'in', devices).execute()
    })
  }

  async isAccountDisabled(accountId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('accounts')
      .select('disabled')
      .where('id', '=', accountId)
      .executeTakeFirst()
    return Number(r?.disabled ?? 0) === 1
  }

  async setAccountQuota(accountId: string, quotaBytes: number | null): Promise<void> {
    const r = await this.db
      .updateTable('accounts')
      .set({ quota_bytes: quotaBytes })
      .where('id', '=', accountId)
      .executeTakeFirst()
    if (Number(r.numUpdatedRows) !== 1) throw new NotFoundError('no such account')
  }

  async deleteExpiredInvites(now: number): Promise<number> {
    return count(
      await this.db
        .deleteFrom('codes')
        .where('kind', '=', 'invite')
        .where('used_at', 'is', null)
        .where('expires_at', '<=', now)
        .executeTakeFirst(),
    )
  }
}

function codeRow(c: NewCode) {
  return { id: c.id, code_hash: c.codeHash, created_at: c.createdAt, expires_at: c.expiresAt }
}
