import { type Kysely, type Selectable, sql } from 'kysely'
import type { Database, ItemsTable, LinkMailboxesTable } from './db-schema.js'
import { NotFoundError } from './errors.js'
import type {
  DeviceRecord,
  ItemRecord,
  LogHead,
  MailboxRecord,
  NewCode,
  NewLogEntry,
} from './metadata-store.js'

/** Shared by the SQL store modules: row conversions and small queries used inside transactions. */
export type Db = Kysely<Database>

/** Tables whose rows `lockRow` can lock (each has an `id` key). */
export type LockedTable =
  | 'accounts'
  | 'items'
  | 'link_mailboxes'
  | 'conversations'
  | 'access_log_head'
  | 'shares'

export function codeRow(c: NewCode) {
  return { id: c.id, code_hash: c.codeHash, created_at: c.createdAt, expires_at: c.expiresAt }
}

export function logRow(accountId: string, e: NewLogEntry) {
  return {
    account_id: accountId,
    seq: e.seq,
    prev: e.prev,
    hash: e.hash,
    entry: e.entry,
    created_at: e.createdAt,
  }
}

export async function logHead(db: Db, accountId: string): Promise<LogHead | null> {
  const r = await db
    .selectFrom('device_log')
    .select(['seq', 'hash'])
    .where('account_id', '=', accountId)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  return r ? { seq: Number(r.seq), hash: r.hash } : null
}

export async function usage(db: Db, accountId: string): Promise<number> {
  const r = await db
    .selectFrom('items')
    .select(sql<number>`coalesce(sum(ciphertext_size + manifest_size), 0)`.as('n'))
    .where('sender_account_id', '=', accountId)
    .where('state', 'in', ['reserved', 'committed'])
    .executeTakeFirst()
  // Share links' blobs count too until they are deleted (sql-shares.ts).
  const shares = await db
    .selectFrom('share_blobs')
    .innerJoin('shares', 'shares.id', 'share_blobs.share_id')
    .select(sql<number>`coalesce(sum(share_blobs.size), 0)`.as('n'))
    .where('shares.account_id', '=', accountId)
    .where('shares.blobs_deleted', '=', 0)
    .executeTakeFirst()
  return Number(r?.n ?? 0) + Number(shares?.n ?? 0)
}

export async function nextSeq(db: Db, conversationId: string): Promise<number> {
  const r = await db
    .updateTable('conversations')
    .set((eb) => ({ last_seq: eb('last_seq', '+', 1) }))
    .where('id', '=', conversationId)
    .returning('last_seq')
    .executeTakeFirst()
  if (!r) throw new NotFoundError('no such conversation')
  return Number(r.last_seq)
}

export function count(r: { numDeletedRows: bigint } | undefined): number {
  return Number(r?.numDeletedRows ?? 0n)
}

export function deviceRecord(r: Selectable<Database['devices']>): DeviceRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    signKey: r.sign_key,
    active: r.active === 1,
    addedSeq: Number(r.added_seq),
    removedSeq: r.removed_seq === null ? null : Number(r.removed_seq),
  }
}

export function itemRecord(r: Selectable<ItemsTable>): ItemRecord {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    senderAccountId: r.sender_account_id,
    senderDeviceId: r.sender_device_id,
    ciphertextSize: Number(r.ciphertext_size),
    manifestSize: Number(r.manifest_size),
    label: r.label,
    state: r.state,
    seq: r.seq === null ? null : Number(r.seq),
    manifest: r.manifest === null ? null : new Uint8Array(r.manifest),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    committedAt: r.committed_at === null ? null : Number(r.committed_at),
    sensitivity: r.sensitivity,
    retainMs: r.retain_ms === null ? null : Number(r.retain_ms),
    retainUntil: r.retain_until === null ? null : Number(r.retain_until),
  }
}

export function mailboxRecord(r: Selectable<LinkMailboxesTable>): MailboxRecord {
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
