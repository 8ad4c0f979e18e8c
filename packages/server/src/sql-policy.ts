import { sql } from 'kysely'
import { isServerError, NotFoundError } from './errors.js'
import type { AdminAccountRecord, ExpiredItem, PolicyRecord } from './metadata-store.js'
import { SqlAccessLogStore } from './sql-access-log.js'

/** The policy table has one row, under this key. */
const POLICY_ROW = 'org'

/**
 * The SQL `MetadataStore` methods for organisation policy and administration: the policy
 * document, disabling accounts, per-account quotas, conversation retention and the expiry of
 * committed items by retention. Extended by `SqlMetadataStore`.
 */
export class SqlPolicyStore extends SqlAccessLogStore {
  async getPolicy(): Promise<PolicyRecord | null> {
    const r = await this.db.selectFrom('policy').selectAll().where('id', '=', POLICY_ROW).executeTakeFirst()
    return r ? { document: r.document, updatedAt: Number(r.updated_at), updatedBy: r.updated_by } : null
  }

  async putPolicy(p: PolicyRecord): Promise<void> {
    const row = { document: p.document, updated_at: p.updatedAt, updated_by: p.updatedBy }
    await this.db
      .insertInto('policy')
      .values({ id: POLICY_ROW, ...row })
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute()
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

  async setConversationRetention(conversationId: string, retentionMs: number | null): Promise<void> {
    const r = await this.db
      .updateTable('conversations')
      .set({ retention_ms: retentionMs })
      .where('id', '=', conversationId)
      .executeTakeFirst()
    if (Number(r.numUpdatedRows) !== 1) throw new NotFoundError('no such conversation')
  }

  async getConversationRetention(conversationId: string): Promise<number | null> {
    const r = await this.db
      .selectFrom('conversations')
      .select('retention_ms')
      .where('id', '=', conversationId)
      .executeTakeFirst()
    if (!r) throw new NotFoundError('no such conversation')
    return r.retention_ms === null ? null : Number(r.retention_ms)
  }

  async expireRetainedItems(now: number, limit: number): Promise<ExpiredItem[]> {
    const due = await this.db
      .selectFrom('items')
      .select(['id', 'conversation_id'])
      .where('state', '=', 'committed')
      .where('retain_until', '<=', now)
      .orderBy('retain_until')
      .limit(limit)
      .execute()
    const out: ExpiredItem[] = []
    for (const r of due) {
      try {
        // The same tombstone a sender's delete leaves, so every device drops its copy on sync.
        const seq = await this.deleteItem(r.id, now)
        if (seq !== null) out.push({ id: r.id, conversationId: r.conversation_id, seq })
      } catch (e) {
        // Deleted by its sender in the meantime: nothing left to expire.
        if (!isServerError(e, 'NOT_FOUND')) throw e
      }
    }
    return out
  }
}
