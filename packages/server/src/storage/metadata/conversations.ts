import type { ConversationKind } from '@airlock/core'
import { NotFoundError, ServerError } from '../../errors.js'
import type { SqlDialect } from './dialect.js'
import type { Db } from './rows.js'

/**
 * Conversations and their members: `self` (made with the account), `direct` (unique per pair of
 * accounts) and groups, whose signed membership log the server keeps beside the members it
 * results in. Also each conversation's own retention.
 */
export interface ConversationStore {
  createConversation(c: NewConversation): Promise<void>
  getConversation(id: string): Promise<ConversationRecord | null>
  listConversations(accountId: string): Promise<ConversationRecord[]>
  /** True if both accounts are members of at least one common conversation. */
  shareConversation(accountA: string, accountB: string): Promise<boolean>
  /** The direct conversation with this `directKey` (the two account ids, sorted, space-separated). */
  findDirectConversation(directKey: string): Promise<ConversationRecord | null>
  /** Group log entries with `seq > since`, ascending, at most `limit`. */
  getGroupLog(conversationId: string, since: number, limit: number): Promise<GroupLogRecord[]>
  /**
   * Appends the next group log entry and sets the members (and name) it results in, atomically.
   * Throws `STALE_HEAD` if an entry with this seq exists already.
   */
  appendGroupEntry(conversationId: string, entry: GroupLogRecord, state: GroupState): Promise<void>
  /** A conversation's own retention (null: none). Throws `NOT_FOUND`. */
  setConversationRetention(conversationId: string, retentionMs: number | null): Promise<void>
  getConversationRetention(conversationId: string): Promise<number | null>
}

export interface NewConversation {
  id: string
  kind: ConversationKind
  createdAt: number
  members: string[]
  /** Direct conversations: the two account ids, sorted, space-separated (unique). */
  directKey?: string
  /** Groups: the first group log entry and the state it creates. */
  group?: { entry: GroupLogRecord; state: GroupState }
}

export interface ConversationRecord extends NewConversation {
  lastSeq: number
  /** Groups: the seq of the last group log entry. */
  logSeq?: number
  /** Groups: members (in `members`) who have not signed `join` yet, sorted. */
  invited?: string[]
}

export interface GroupLogRecord {
  seq: number
  hash: string
  /** The entry's canonical JSON, as the client signed it. */
  entry: string
  createdAt: number
}

/** Members and their roles, and the name, after a group log entry (as the server verified it). */
export interface GroupState {
  name: string
  members: [account: string, role: string][]
  /** Members who were invited and have not joined. */
  invited: string[]
}

export class SqlConversationStore implements ConversationStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: SqlDialect,
  ) {}

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
        await setMembers(trx, c.id, c.group.state)
      } else {
        await setMembers(trx, c.id, {
          members: [...new Set(c.members)].map((m) => [m, 'member']),
          invited: [],
        })
      }
    })
  }

  async getConversation(id: string): Promise<ConversationRecord | null> {
    const r = await this.db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst()
    if (!r) return null
    const members = await this.db
      .selectFrom('conversation_members')
      .select(['account_id', 'joined'])
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
      ...(r.log_seq === null
        ? {}
        : {
            logSeq: Number(r.log_seq),
            invited: members.filter((m) => Number(m.joined) === 0).map((m) => m.account_id),
          }),
    }
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

  async findDirectConversation(directKey: string): Promise<ConversationRecord | null> {
    const r = await this.db
      .selectFrom('conversations')
      .select('id')
      .where('direct_key', '=', directKey)
      .executeTakeFirst()
    return r ? this.getConversation(r.id) : null
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
      await this.dialect.lockRow(trx, 'conversations', conversationId)
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
      await setMembers(trx, conversationId, state)
    })
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
}

function groupLogRow(e: GroupLogRecord) {
  return { seq: e.seq, hash: e.hash, entry: e.entry, created_at: e.createdAt }
}

async function setMembers(
  db: Db,
  conversationId: string,
  state: Pick<GroupState, 'members' | 'invited'>,
): Promise<void> {
  if (state.members.length === 0) return
  const invited = new Set(state.invited)
  await db
    .insertInto('conversation_members')
    .values(
      state.members.map(([account, role]) => ({
        conversation_id: conversationId,
        account_id: account,
        role,
        joined: invited.has(account) ? 0 : 1,
      })),
    )
    .execute()
}
