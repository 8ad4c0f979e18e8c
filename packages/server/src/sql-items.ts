import { NotFoundError, ServerError } from './errors.js'
import type {
  AccountRecord,
  ConversationRecord,
  GroupLogRecord,
  GroupState,
  ItemRecord,
  NewConversation,
  NewItem,
} from './metadata-store.js'
import { SqlAccountStore } from './sql-accounts.js'
import type { Db } from './sql-rows.js'
import { count, itemRecord, nextSeq, usage } from './sql-rows.js'

/** The SQL `MetadataStore` methods for conversations and items. */
export class SqlItemStore extends SqlAccountStore {
  async createConversation(c: NewConversation): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('conversations')
        .values({
          id: c.id,
          kind: c.kind,
          created_at: c.createdAt,
          last_seq: 0,
          direct_key: c.directKey ?? null,
          name: c.group?.state.name ?? null,
          log_seq: c.group ? c.group.entry.seq : null,
        })
        .execute()
      if (c.group) {
        await trx
          .insertInto('group_log')
          .values({ conversation_id: c.id, ...groupLogRow(c.group.entry) })
          .execute()
        await setMembers(trx, c.id, c.group.state.members)
      } else {
        await setMembers(
          trx,
          c.id,
          [...new Set(c.members)].map((m) => [m, 'member']),
        )
      }
    })
  }

  async getConversation(id: string): Promise<ConversationRecord | null> {
    const r = await this.db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst()
    if (!r) return null
    const members = await this.db
      .selectFrom('conversation_members')
      .select('account_id')
      .where('conversation_id', '=', id)
      .orderBy('account_id')
      .execute()
    return {
      id: r.id,
      kind: r.kind,
      createdAt: Number(r.created_at),
      lastSeq: Number(r.last_seq),
      members: members.map((m) => m.account_id),
      ...(r.direct_key === null ? {} : { directKey: r.direct_key }),
      ...(r.log_seq === null ? {} : { logSeq: Number(r.log_seq) }),
    }
  }

  async findDirectConversation(directKey: string): Promise<ConversationRecord | null> {
    const r = await this.db
      .selectFrom('conversations')
      .select('id')
      .where('direct_key', '=', directKey)
      .executeTakeFirst()
    return r ? this.getConversation(r.id) : null
  }

  async findAccountByUsername(username: string): Promise<AccountRecord | null> {
    const r = await this.db
      .selectFrom('accounts')
      .select('id')
      .where('username', '=', username)
      .executeTakeFirst()
    return r ? this.getAccount(r.id) : null
  }

  async getGroupLog(conversationId: string, since: number, limit: number): Promise<GroupLogRecord[]> {
    const rows = await this.db
      .selectFrom('group_log')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .where('seq', '>', since)
      .orderBy('seq')
      .limit(limit)
      .execute()
    return rows.map((r) => ({
      seq: Number(r.seq),
      hash: r.hash,
      entry: r.entry,
      createdAt: Number(r.created_at),
    }))
  }

  async appendGroupEntry(conversationId: string, entry: GroupLogRecord, state: GroupState): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.lockRow(trx, 'conversations', conversationId)
      const taken = await trx
        .selectFrom('group_log')
        .select('seq')
        .where('conversation_id', '=', conversationId)
        .where('seq', '>=', entry.seq)
        .executeTakeFirst()
      if (taken)
        throw new ServerError('STALE_HEAD', 'the entry does not extend the current head of the group log')
      await trx
        .insertInto('group_log')
        .values({ conversation_id: conversationId, ...groupLogRow(entry) })
        .execute()
      await trx
        .updateTable('conversations')
        .set({ name: state.name, log_seq: entry.seq })
        .where('id', '=', conversationId)
        .execute()
      await trx.deleteFrom('conversation_members').where('conversation_id', '=', conversationId).execute()
      await setMembers(trx, conversationId, state.members)
    })
  }

  async listConversations(accountId: string): Promise<ConversationRecord[]> {
    const ids = await this.db
      .selectFrom('conversation_members')
      .innerJoin('conversations', 'conversations.id', 'conversation_members.conversation_id')
      .select('conversations.id')
      .where('conversation_members.account_id', '=', accountId)
      .orderBy('conversations.created_at')
      .orderBy('conversations.id')
      .execute()
    const out: ConversationRecord[] = []
    for (const { id } of ids) {
      const c = await this.getConversation(id)
      if (c) out.push(c)
    }
    return out
  }

  async shareConversation(accountA: string, accountB: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('conversation_members as a')
      .innerJoin('conversation_members as b', 'a.conversation_id', 'b.conversation_id')
      .select('a.conversation_id')
      .where('a.account_id', '=', accountA)
      .where('b.account_id', '=', accountB)
      .limit(1)
      .executeTakeFirst()
    return r !== undefined
  }

  async reserveItem(item: NewItem, quotaBytes: number | null): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.lockRow(trx, 'accounts', item.senderAccountId)
      if (quotaBytes !== null) {
        const used = await usage(trx, item.senderAccountId)
        if (used + item.ciphertextSize + item.manifestSize > quotaBytes) {
          throw new ServerError('QUOTA_EXCEEDED', 'this item would exceed the storage quota')
        }
      }
      await trx
        .insertInto('items')
        .values({
          id: item.id,
          conversation_id: item.conversationId,
          sender_account_id: item.senderAccountId,
          sender_device_id: item.senderDeviceId,
          ciphertext_size: item.ciphertextSize,
          manifest_size: item.manifestSize,
          label: item.label,
          state: 'reserved',
          seq: null,
          manifest: null,
          created_at: item.createdAt,
          expires_at: item.expiresAt,
          committed_at: null,
          sensitivity: item.sensitivity ?? null,
          retain_ms: item.retainMs ?? null,
        })
        .execute()
    })
  }

  async getItem(id: string): Promise<ItemRecord | null> {
    const r = await this.db.selectFrom('items').selectAll().where('id', '=', id).executeTakeFirst()
    return r ? itemRecord(r) : null
  }

  async findItemByLabel(deviceId: string, label: string): Promise<ItemRecord | null> {
    const r = await this.db
      .selectFrom('items')
      .selectAll()
      .where('sender_device_id', '=', deviceId)
      .where('label', '=', label)
      .where('state', 'in', ['reserved', 'committed'])
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst()
    return r ? itemRecord(r) : null
  }

  async commitItem(
    id: string,
    manifest: Uint8Array,
    now: number,
    quotaBytes: number | null = null,
  ): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      await this.lockRow(trx, 'items', id)
      const item = await trx.selectFrom('items').selectAll().where('id', '=', id).executeTakeFirst()
      if (!item || item.state === 'deleted') throw new NotFoundError('no such item')
      await this.lockRow(trx, 'accounts', item.sender_account_id)
      if (item.state === 'committed')
        throw new ServerError('ALREADY_COMMITTED', 'the item is already committed')
      // Reservations may not declare the manifest; its real size counts against the quota here.
      const extra = manifest.length - Number(item.manifest_size)
      if (
        quotaBytes !== null &&
        extra > 0 &&
        (await usage(trx, item.sender_account_id)) + extra > quotaBytes
      ) {
        throw new ServerError('QUOTA_EXCEEDED', 'this item would exceed the storage quota')
      }
      const seq = await nextSeq(trx, item.conversation_id)
      await trx
        .updateTable('items')
        .set({
          state: 'committed',
          seq,
          manifest,
          manifest_size: manifest.length,
          committed_at: now,
          // Retention counts from the moment the item becomes visible.
          retain_until: item.retain_ms === null ? null : now + Number(item.retain_ms),
        })
        .where('id', '=', id)
        .execute()
      return seq
    })
  }

  async listItems(conversationId: string, since: number, limit: number): Promise<ItemRecord[]> {
    const rows = await this.db
      .selectFrom('items')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .where('state', 'in', ['committed', 'deleted'])
      .where('seq', '>', since)
      .orderBy('seq')
      .limit(limit)
      .execute()
    return rows.map(itemRecord)
  }

  async deleteItem(id: string, now: number): Promise<number | null> {
    return this.db.transaction().execute(async (trx) => {
      await this.lockRow(trx, 'items', id)
      const item = await trx.selectFrom('items').selectAll().where('id', '=', id).executeTakeFirst()
      if (!item || item.state === 'deleted') throw new NotFoundError('no such item')
      if (item.state === 'reserved') {
        await trx.deleteFrom('items').where('id', '=', id).execute()
        return null
      }
      const seq = await nextSeq(trx, item.conversation_id)
      await trx
        .updateTable('items')
        .set({ state: 'deleted', seq, manifest: null, committed_at: now })
        .where('id', '=', id)
        .execute()
      return seq
    })
  }

  async dropReservation(id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('items')
      .where('id', '=', id)
      .where('state', '=', 'reserved')
      .executeTakeFirst()
    return count(r) === 1
  }

  async expiredReservations(now: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('items')
      .select('id')
      .where('state', '=', 'reserved')
      .where('expires_at', '<=', now)
      .limit(limit)
      .execute()
    return rows.map((r) => r.id)
  }

  async hasLiveItem(id: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('items')
      .select('id')
      .where('id', '=', id)
      .where('state', 'in', ['reserved', 'committed'])
      .executeTakeFirst()
    return r !== undefined
  }
}

function groupLogRow(e: GroupLogRecord) {
  return { seq: e.seq, hash: e.hash, entry: e.entry, created_at: e.createdAt }
}

async function setMembers(db: Db, conversationId: string, members: GroupState['members']): Promise<void> {
  if (members.length === 0) return
  await db
    .insertInto('conversation_members')
    .values(
      members.map(([account, role]) => ({ conversation_id: conversationId, account_id: account, role })),
    )
    .execute()
}
