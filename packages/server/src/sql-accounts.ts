import { ConflictError, ForbiddenError, NotFoundError, ServerError } from './errors.js'
import type {
  AccountRecord,
  ChallengeRecord,
  CodeRecord,
  DeviceChange,
  DeviceRecord,
  LogEntryRecord,
  LogHead,
  NewAccount,
  NewCode,
  NewLogEntry,
  SessionRecord,
} from './metadata-store.js'
import { codeRow, type Db, deviceRecord, type LockedTable, logHead, logRow, usage } from './sql-rows.js'

/**
 * The SQL `MetadataStore` methods for accounts, setup and invite codes, device logs and devices,
 * challenges and sessions. Extended by `SqlItemStore` and `SqlMetadataStore`.
 */
export class SqlAccountStore {
  constructor(protected readonly db: Db) {}

  /**
   * Locks one row until the transaction ends, where several writers could otherwise interleave a
   * read and a write (quota checks, seq and index allocation). SQLite has a single writer, so this
   * is a no-op there; the PostgreSQL store takes `SELECT … FOR UPDATE`.
   */
  protected async lockRow(_trx: Db, _table: LockedTable, _id: string): Promise<void> {}

  /** The underlying database, for whole-table work such as `migrate-storage`. */
  get database(): Db {
    return this.db
  }

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

  async accountUsage(accountId: string): Promise<number> {
    return usage(this.db, accountId)
  }

  async getLogHead(accountId: string): Promise<LogHead | null> {
    return logHead(this.db, accountId)
  }

  async getLog(accountId: string, since: number, limit: number): Promise<LogEntryRecord[]> {
    const rows = await this.db
      .selectFrom('device_log')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('seq', '>', since)
      .orderBy('seq')
      .limit(limit)
      .execute()
    return rows.map((r) => ({
      accountId: r.account_id,
      seq: Number(r.seq),
      prev: r.prev,
      hash: r.hash,
      entry: r.entry,
      createdAt: Number(r.created_at),
    }))
  }

  async appendLogEntry(accountId: string, entry: NewLogEntry, change: DeviceChange): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.lockRow(trx, 'accounts', accountId)
      const head = await logHead(trx, accountId)
      if (!head) throw new NotFoundError('no such account')
      if (entry.seq !== head.seq + 1 || entry.prev !== head.hash) {
        throw new ServerError('STALE_HEAD', 'the entry does not extend the current head of the log')
      }
      const device = await trx
        .selectFrom('devices')
        .selectAll()
        .where('id', '=', change.deviceId)
        .executeTakeFirst()
      if (change.op === 'add') {
        if (device) throw new ConflictError('this device is already enrolled')
        await trx
          .insertInto('devices')
          .values({
            id: change.deviceId,
            account_id: accountId,
            sign_key: change.signKey,
            active: 1,
            added_seq: entry.seq,
            removed_seq: null,
          })
          .execute()
      } else {
        if (!device || device.account_id !== accountId || device.active !== 1) {
          throw new ConflictError('this device is not an active device of the account')
        }
        await trx
          .updateTable('devices')
          .set({ active: 0, removed_seq: entry.seq })
          .where('id', '=', change.deviceId)
          .execute()
        await trx.deleteFrom('sessions').where('device_id', '=', change.deviceId).execute()
        await trx.deleteFrom('challenges').where('device_id', '=', change.deviceId).execute()
      }
      await trx.insertInto('device_log').values(logRow(accountId, entry)).execute()
    })
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | null> {
    const r = await this.db.selectFrom('devices').selectAll().where('id', '=', deviceId).executeTakeFirst()
    return r ? deviceRecord(r) : null
  }

  async listDevices(accountId: string): Promise<DeviceRecord[]> {
    const rows = await this.db
      .selectFrom('devices')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('added_seq')
      .execute()
    return rows.map(deviceRecord)
  }

  async putChallenge(c: ChallengeRecord): Promise<void> {
    await this.db
      .insertInto('challenges')
      .values({ challenge: c.challenge, device_id: c.deviceId, expires_at: c.expiresAt })
      .execute()
  }

  async takeChallenge(challenge: string): Promise<ChallengeRecord | null> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .selectFrom('challenges')
        .selectAll()
        .where('challenge', '=', challenge)
        .executeTakeFirst()
      if (!r) return null
      await trx.deleteFrom('challenges').where('challenge', '=', challenge).execute()
      return { challenge: r.challenge, deviceId: r.device_id, expiresAt: Number(r.expires_at) }
    })
  }

  async createSession(s: SessionRecord): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        token_hash: s.tokenHash,
        device_id: s.deviceId,
        account_id: s.accountId,
        expires_at: s.expiresAt,
      })
      .execute()
  }

  async getSession(tokenHash: string): Promise<SessionRecord | null> {
    const r = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst()
    if (!r) return null
    return {
      tokenHash: r.token_hash,
      deviceId: r.device_id,
      accountId: r.account_id,
      expiresAt: Number(r.expires_at),
    }
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('token_hash', '=', tokenHash).execute()
  }
}
