import type { Selectable } from 'kysely'
import { ForbiddenError, isServerError, NotFoundError, ServerError } from '../../errors.js'
import type { SqlDialect } from './dialect.js'
import { count, type Db, nextSeq, usage } from './rows.js'
import type { ItemsTable } from './schema.js'

/**
 * Items: reserved (counted against the sender's quota from the declared sizes), committed (with
 * the encrypted manifest and the conversation's next seq, which makes them visible), and
 * deleted (a tombstone with a new seq, so every device drops its copy on sync), by the sender
 * or by retention.
 */
export interface ItemStore {
  /** Inserts a reserved item unless it would take the sender past `quotaBytes` (`QUOTA_EXCEEDED`). */
  reserveItem(item: NewItem, quotaBytes: number | null): Promise<void>
  getItem(id: string): Promise<ItemRecord | null>
  /** The newest reserved or committed item this device created with this idempotency key, if any. */
  findItemByIdempotencyKey(deviceId: string, key: string): Promise<ItemRecord | null>
  /**
   * Stores the manifest and gives a reserved item the conversation's next seq, making it visible.
   * A manifest larger than the reservation declared is charged against `quotaBytes` again.
   * Throws `ALREADY_COMMITTED`, `NOT_FOUND`, `QUOTA_EXCEEDED`, or `FORBIDDEN` if the sender is no
   * longer a member of the conversation (read under the conversation's lock, so a removal is
   * either seen or ordered after the commit).
   */
  commitItem(id: string, manifest: Uint8Array, now: number, quotaBytes?: number | null): Promise<number>
  /** Committed items and tombstones with `seq > since`, ascending, at most `limit`. */
  listItems(conversationId: string, since: number, limit: number): Promise<ItemRecord[]>
  /**
   * Deletes an item. A committed item leaves a tombstone with a new seq (returned); a reserved one
   * disappears (returns null). Throws `NOT_FOUND` for an unknown or already deleted item.
   */
  deleteItem(id: string, now: number): Promise<number | null>
  /** Deletes the item only if it is still reserved (garbage collection). True if it was. */
  dropReservation(id: string): Promise<boolean>
  /** Ids of reserved items whose `expiresAt` has passed. */
  expiredReservations(now: number, limit: number): Promise<string[]>
  /** True if a reserved or committed item owns this blob id. */
  hasLiveItem(id: string): Promise<boolean>
  /**
   * Turns committed items whose retention has passed into tombstones (new seq, manifest dropped),
   * at most `limit`; returns them so the caller deletes their blobs and tells the members.
   */
  expireRetainedItems(now: number, limit: number): Promise<ExpiredItem[]>
}

export interface NewItem {
  id: string
  conversationId: string
  senderAccountId: string
  senderDeviceId: string
  ciphertextSize: number
  /** Declared manifest size, counted against the quota until the manifest arrives. */
  manifestSize: number
  /** The client's retry tag: a reserve repeated with it gets the same live reservation back. */
  idempotencyKey: string | null
  createdAt: number
  expiresAt: number
  /** The sensitivity label (policy binds it); null or absent for none. */
  sensitivity?: string | null
  /** Retention: the committed item is deleted this long after its commit; null or absent = kept. */
  retainMs?: number | null
}

export type ItemState = 'reserved' | 'committed' | 'deleted'

export interface ItemRecord extends NewItem {
  state: ItemState
  seq: number | null
  manifest: Uint8Array | null
  committedAt: number | null
  sensitivity: string | null
  retainMs: number | null
  /** When retention deletes the committed item (set at commit), or null. */
  retainUntil: number | null
}

export interface ExpiredItem {
  id: string
  conversationId: string
  seq: number
}

export class SqlItemStore implements ItemStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: SqlDialect,
  ) {}

  async reserveItem(item: NewItem, quotaBytes: number | null): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.dialect.lockRow(trx, 'accounts', item.senderAccountId)
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
          idempotency_key: item.idempotencyKey,
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

  async findItemByIdempotencyKey(deviceId: string, key: string): Promise<ItemRecord | null> {
    const r = await this.db
      .selectFrom('items')
      .selectAll()
      .where('sender_device_id', '=', deviceId)
      .where('idempotency_key', '=', key)
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
      await this.dialect.lockRow(trx, 'items', id)
      const item = await trx.selectFrom('items').selectAll().where('id', '=', id).executeTakeFirst()
      if (!item || item.state === 'deleted') throw new NotFoundError('no such item')
      await this.dialect.lockRow(trx, 'accounts', item.sender_account_id)
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
      // Taking the seq locks the conversation's row, as a membership change does: the sender's
      // membership is read after any removal that committed first, and none can slip in between.
      const seq = await nextSeq(trx, item.conversation_id)
      const member = await trx
        .selectFrom('conversation_members')
        .select('account_id')
        .where('conversation_id', '=', item.conversation_id)
        .where('account_id', '=', item.sender_account_id)
        .executeTakeFirst()
      if (!member) throw new ForbiddenError('the sender is no longer a member of this conversation')
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
      await this.dialect.lockRow(trx, 'items', id)
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

function itemRecord(r: Selectable<ItemsTable>): ItemRecord {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    senderAccountId: r.sender_account_id,
    senderDeviceId: r.sender_device_id,
    ciphertextSize: Number(r.ciphertext_size),
    manifestSize: Number(r.manifest_size),
    idempotencyKey: r.idempotency_key,
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
