import type { Selectable } from 'kysely'
import { NotFoundError, ServerError } from '../../errors.js'
import type { SqlDialect } from './dialect.js'
import { type Db, usage } from './rows.js'
import type { SharesTable } from './schema.js'

/**
 * Share links: a share made from items, one blob per file (counted against the account's quota
 * until deleted), its state (`uploading` → `active` → `exhausted`, or `revoked` / `expired`) and
 * its download sessions.
 */
export interface ShareStore {
  /**
   * Inserts an `uploading` share with its blob rows unless the blobs would take the account past
   * `quotaBytes` (`QUOTA_EXCEEDED`). Share blobs count against the quota until they are deleted.
   */
  createShare(share: NewShare, quotaBytes: number | null): Promise<void>
  getShare(id: string): Promise<ShareRecord | null>
  /** The share owning this blob id, if any. */
  getShareByBlob(blobId: string): Promise<ShareRecord | null>
  /** The account's shares, newest first, at most `limit`. */
  listShares(accountId: string, limit: number): Promise<ShareRecord[]>
  /** Every account's shares, newest first, at most `limit` (for administrators). */
  listAllShares(limit: number): Promise<ShareRecord[]>
  /** Uploading or active shares made from this item (revoked with it when it is deleted or expires). */
  liveSharesOfItem(itemId: string): Promise<string[]>
  /**
   * `uploading` → `active` with its sealed manifest. Throws `NOT_FOUND`, `ALREADY_COMMITTED`, or
   * `GONE` if the share is no longer uploading (revoked, or its upload expired).
   */
  commitShare(id: string, manifest: Uint8Array): Promise<ShareRecord>
  /**
   * `uploading` or `active` → `revoked`, ending its download sessions; any other state is left
   * as it is. Returns the record; `NOT_FOUND` for an unknown share.
   */
  revokeShare(id: string): Promise<ShareRecord>
  /**
   * Takes one download of an `active`, unexpired share and starts a download session: counts
   * the download, and an `active` share that reaches `maxDownloads` becomes `exhausted`. Throws
   * `NOT_FOUND` (unknown or still uploading) or `GONE` (revoked, exhausted or expired).
   */
  openShare(id: string, session: NewShareSession, now: number): Promise<ShareRecord>
  /**
   * True if the session exists for this share, has not expired, and its share is `active` or
   * `exhausted` (downloads in flight finish) and unexpired; then renews it to `renewTo`.
   */
  touchShareSession(tokenHash: string, shareId: string, now: number, renewTo: number): Promise<boolean>
  endShareSession(tokenHash: string): Promise<void>
  /**
   * Shares whose blobs are due for deletion and not yet deleted: revoked; exhausted without a
   * live session; active past expiry and uploading past the upload deadline (both are marked
   * `expired` here).
   */
  sharesToRetire(now: number, limit: number): Promise<ShareRecord[]>
  /** Records that the share's blobs are deleted (they stop counting against the quota). */
  markShareBlobsDeleted(id: string): Promise<void>
  /** True if a share whose blobs are not deleted owns this blob id (garbage collection). */
  hasLiveShareBlob(blobId: string): Promise<boolean>
}

export type ShareRecordState = 'uploading' | 'active' | 'revoked' | 'expired' | 'exhausted'

export interface NewShare {
  id: string
  accountId: string
  deviceId: string
  /** The items the link was made from, which the creator could read. */
  itemIds: string[]
  /** One blob per file, in order. */
  blobs: { id: string; size: number }[]
  createdAt: number
  expiresAt: number
  /** Uploads not committed by then are abandoned. */
  uploadExpiresAt: number
  /** null: unlimited. */
  maxDownloads: number | null
}

export interface ShareRecord extends NewShare {
  state: ShareRecordState
  downloads: number
  manifest: Uint8Array | null
  blobsDeleted: boolean
}

export interface NewShareSession {
  tokenHash: string
  expiresAt: number
}

export class SqlShareStore implements ShareStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: SqlDialect,
  ) {}

  async createShare(share: NewShare, quotaBytes: number | null): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.dialect.lockRow(trx, 'accounts', share.accountId)
      if (quotaBytes !== null) {
        const size = share.blobs.reduce((n, b) => n + b.size, 0)
        if ((await usage(trx, share.accountId)) + size > quotaBytes) {
          throw new ServerError('QUOTA_EXCEEDED', 'this share link would exceed the storage quota')
        }
      }
      await trx
        .insertInto('shares')
        .values({
          id: share.id,
          account_id: share.accountId,
          device_id: share.deviceId,
          state: 'uploading',
          item_ids: JSON.stringify(share.itemIds),
          created_at: share.createdAt,
          expires_at: share.expiresAt,
          upload_expires_at: share.uploadExpiresAt,
          max_downloads: share.maxDownloads,
          downloads: 0,
          manifest: null,
          blobs_deleted: 0,
        })
        .execute()
      await trx
        .insertInto('share_blobs')
        .values(share.blobs.map((b, idx) => ({ id: b.id, share_id: share.id, idx, size: b.size })))
        .execute()
    })
  }

  async getShare(id: string): Promise<ShareRecord | null> {
    return shareById(this.db, id)
  }

  async getShareByBlob(blobId: string): Promise<ShareRecord | null> {
    const r = await this.db
      .selectFrom('share_blobs')
      .select('share_id')
      .where('id', '=', blobId)
      .executeTakeFirst()
    return r ? shareById(this.db, r.share_id) : null
  }

  async listShares(accountId: string, limit: number): Promise<ShareRecord[]> {
    const rows = await this.db
      .selectFrom('shares')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(limit)
      .execute()
    return Promise.all(rows.map((r) => withBlobs(this.db, r)))
  }

  async listAllShares(limit: number): Promise<ShareRecord[]> {
    const rows = await this.db
      .selectFrom('shares')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(limit)
      .execute()
    return Promise.all(rows.map((r) => withBlobs(this.db, r)))
  }

  async commitShare(id: string, manifest: Uint8Array): Promise<ShareRecord> {
    return this.db.transaction().execute(async (trx) => {
      await this.dialect.lockRow(trx, 'shares', id)
      const share = await shareById(trx, id)
      if (!share) throw new NotFoundError('no such share')
      if (share.state === 'active' || share.state === 'exhausted')
        throw new ServerError('ALREADY_COMMITTED', 'the share is already committed')
      if (share.state !== 'uploading') throw new ServerError('GONE', 'the share link is no longer available')
      await trx.updateTable('shares').set({ state: 'active', manifest }).where('id', '=', id).execute()
      return { ...share, state: 'active', manifest }
    })
  }

  async liveSharesOfItem(itemId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('shares')
      .select(['id', 'item_ids'])
      .where('state', 'in', ['uploading', 'active'])
      .where('item_ids', 'like', `%${itemId}%`)
      .execute()
    // LIKE treats _ as a wildcard: keep only exact members of the JSON list.
    return rows.filter((r) => (JSON.parse(r.item_ids) as string[]).includes(itemId)).map((r) => r.id)
  }

  async revokeShare(id: string): Promise<ShareRecord> {
    return this.db.transaction().execute(async (trx) => {
      await this.dialect.lockRow(trx, 'shares', id)
      const share = await shareById(trx, id)
      if (!share) throw new NotFoundError('no such share')
      if (share.state !== 'uploading' && share.state !== 'active') return share
      await trx.updateTable('shares').set({ state: 'revoked', manifest: null }).where('id', '=', id).execute()
      await trx.deleteFrom('share_sessions').where('share_id', '=', id).execute()
      return { ...share, state: 'revoked', manifest: null }
    })
  }

  async openShare(id: string, session: NewShareSession, now: number): Promise<ShareRecord> {
    return this.db.transaction().execute(async (trx) => {
      await this.dialect.lockRow(trx, 'shares', id)
      const share = await shareById(trx, id)
      if (!share || share.state === 'uploading') throw new NotFoundError('no such share link')
      if (share.state !== 'active' || share.expiresAt <= now) {
        throw new ServerError('GONE', 'this share link has expired, was used up, or was revoked')
      }
      const downloads = share.downloads + 1
      const state = share.maxDownloads !== null && downloads >= share.maxDownloads ? 'exhausted' : 'active'
      await trx.updateTable('shares').set({ downloads, state }).where('id', '=', id).execute()
      await trx
        .insertInto('share_sessions')
        .values({ token_hash: session.tokenHash, share_id: id, expires_at: session.expiresAt })
        .execute()
      return { ...share, downloads, state }
    })
  }

  async touchShareSession(
    tokenHash: string,
    shareId: string,
    now: number,
    renewTo: number,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('share_sessions')
      .set({ expires_at: renewTo })
      .where('token_hash', '=', tokenHash)
      .where('share_id', '=', shareId)
      .where('expires_at', '>', now)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('shares')
            .select('id')
            .where('shares.id', '=', shareId)
            .where('shares.state', 'in', ['active', 'exhausted'])
            .where('shares.expires_at', '>', now),
        ),
      )
      .executeTakeFirst()
    return Number(r.numUpdatedRows) === 1
  }

  async endShareSession(tokenHash: string): Promise<void> {
    await this.db.deleteFrom('share_sessions').where('token_hash', '=', tokenHash).execute()
  }

  async sharesToRetire(now: number, limit: number): Promise<ShareRecord[]> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('shares')
        .set({ state: 'expired', manifest: null })
        .where('blobs_deleted', '=', 0)
        .where((eb) =>
          eb.or([
            eb.and([eb('state', 'in', ['active', 'exhausted']), eb('expires_at', '<=', now)]),
            eb.and([eb('state', '=', 'uploading'), eb('upload_expires_at', '<=', now)]),
          ]),
        )
        .execute()
      await trx.deleteFrom('share_sessions').where('expires_at', '<=', now).execute()
    })
    const rows = await this.db
      .selectFrom('shares')
      .selectAll()
      .where('blobs_deleted', '=', 0)
      .where((eb) =>
        eb.or([
          eb('state', 'in', ['revoked', 'expired']),
          eb.and([
            eb('state', '=', 'exhausted'),
            eb.not(
              eb.exists(
                eb
                  .selectFrom('share_sessions')
                  .select('token_hash')
                  .whereRef('share_sessions.share_id', '=', 'shares.id'),
              ),
            ),
          ]),
        ]),
      )
      .limit(limit)
      .execute()
    return Promise.all(rows.map((r) => withBlobs(this.db, r)))
  }

  async markShareBlobsDeleted(id: string): Promise<void> {
    await this.db
      .updateTable('shares')
      .set({ blobs_deleted: 1, manifest: null })
      .where('id', '=', id)
      .execute()
  }

  async hasLiveShareBlob(blobId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('share_blobs')
      .innerJoin('shares', 'shares.id', 'share_blobs.share_id')
      .select('share_blobs.id')
      .where('share_blobs.id', '=', blobId)
      .where('shares.blobs_deleted', '=', 0)
      .executeTakeFirst()
    return r !== undefined
  }
}

async function shareById(db: Db, id: string): Promise<ShareRecord | null> {
  const r = await db.selectFrom('shares').selectAll().where('id', '=', id).executeTakeFirst()
  return r ? withBlobs(db, r) : null
}

async function withBlobs(db: Db, r: Selectable<SharesTable>): Promise<ShareRecord> {
  const blobs = await db
    .selectFrom('share_blobs')
    .select(['id', 'size'])
    .where('share_id', '=', r.id)
    .orderBy('idx')
    .execute()
  return {
    id: r.id,
    accountId: r.account_id,
    deviceId: r.device_id,
    state: r.state,
    itemIds: JSON.parse(r.item_ids) as string[],
    blobs: blobs.map((b) => ({ id: b.id, size: Number(b.size) })),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    uploadExpiresAt: Number(r.upload_expires_at),
    maxDownloads: r.max_downloads === null ? null : Number(r.max_downloads),
    downloads: Number(r.downloads),
    manifest: r.manifest === null ? null : new Uint8Array(r.manifest),
    blobsDeleted: r.blobs_deleted === 1,
  }
}
