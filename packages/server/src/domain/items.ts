import type { Readable } from 'node:stream'
import {
  API_PREFIX,
  type CommitItemResponse,
  type CommittedItem,
  checkItemPolicy,
  type DeleteItemResponse,
  type ItemTombstone,
  type ListItemsResponse,
  type ReserveItemRequest,
  type ReserveItemResponse,
  retentionFor,
} from '@airlock/core'
import type { AppContext } from '../context.js'
import { ConflictError, ForbiddenError, InvalidBodyError, NotFoundError, ServerError } from '../errors.js'
import type { FollowedBlob } from '../storage/blob/blob-store.js'
import type { ConversationRecord } from '../storage/metadata/conversations.js'
import type { ItemRecord } from '../storage/metadata/items.js'
import { randomId } from '../tokens.js'
import { recordAccess, recordDownload } from './access-log.js'
import { announceRequest, checkMayPost, receiversOf, requireAccepted } from './consent.js'
import { requirePoster } from './conversations.js'
import { currentPolicy, enforce } from './policy.js'
import { revokeSharesOf } from './retire-shares.js'
import type { Auth } from './sessions.js'

/**
 * Items: reserve (size and quota checked from the declared size), upload the blob with tus
 * (`uploads.ts`), then store the encrypted manifest, which commits the item: only then does it
 * get a seq and become visible. Listing, ranged download and deletion (leaving a tombstone seq).
 */

/**
 * Reserves an item in `conversation` and creates its empty blob; members' devices hear of the
 * upload so they may follow it. A retry with the same `idempotencyKey` gets the same live
 * reservation back (`created` false), to resume it after a lost response or a crash.
 */
export async function reserveItem(
  ctx: AppContext,
  auth: Auth,
  conversation: ConversationRecord,
  body: ReserveItemRequest,
): Promise<{ response: ReserveItemResponse; created: boolean }> {
  if (body.ciphertextSize > ctx.config.maxItemSize) {
    throw new ServerError(
      'ITEM_TOO_LARGE',
      `items are limited to ${ctx.config.maxItemSize} bytes on this server`,
    )
  }
  if ((body.manifestSize ?? 0) > ctx.config.maxManifestSize) {
    throw new ServerError('ITEM_TOO_LARGE', `manifests are limited to ${ctx.config.maxManifestSize} bytes`)
  }
  await checkMayPost(ctx, conversation, auth.accountId)
  const now = ctx.now()
  if (body.idempotencyKey !== undefined) {
    const prior = await ctx.store.items.findItemByIdempotencyKey(auth.deviceId, body.idempotencyKey)
    if (prior && prior.conversationId === conversation.id && prior.expiresAt > now) {
      if (prior.state === 'committed')
        throw new ServerError('ALREADY_COMMITTED', 'an item with this idempotency key is already committed')
      if (prior.ciphertextSize !== body.ciphertextSize)
        throw new ConflictError('this idempotency key is used by another reservation')
      return {
        response: { itemId: prior.id, uploadUrl: uploadUrl(prior.id), expiresAt: prior.expiresAt },
        created: false,
      }
    }
  }
  const account = await ctx.store.accounts.getAccount(auth.accountId)
  if (!account) throw new NotFoundError()
  // The organisation's policy binds the sensitivity label: it must be in the set, and its
  // maximum retention (with the server's and the conversation's) sets when the item is deleted.
  const policy = await currentPolicy(ctx)
  const sensitivity = enforce(() =>
    checkItemPolicy(policy, { label: body.sensitivity ?? null, ciphertextSize: body.ciphertextSize }),
  )
  const retainMs = retentionFor(policy, {
    label: sensitivity,
    conversationRetentionMs: await ctx.store.conversations.getConversationRetention(conversation.id),
  })
  const id = randomId()
  const expiresAt = now + ctx.config.uploadTtlHours * 3600_000
  await ctx.store.items.reserveItem(
    {
      id,
      conversationId: conversation.id,
      senderAccountId: auth.accountId,
      senderDeviceId: auth.deviceId,
      ciphertextSize: body.ciphertextSize,
      manifestSize: body.manifestSize ?? 0,
      idempotencyKey: body.idempotencyKey ?? null,
      createdAt: now,
      expiresAt,
      sensitivity,
      retainMs,
    },
    account.quotaBytes ?? ctx.config.quota,
  )
  try {
    await ctx.blobs.create(id, body.ciphertextSize)
  } catch (e) {
    await ctx.store.items.dropReservation(id)
    throw e
  }
  // Members' devices may follow the upload as it arrives (GET /items/:id/live); not those of a
  // request or invitation they have not accepted.
  await ctx.hub.publish(await receiversOf(ctx, conversation), {
    type: 'upload',
    conversationId: conversation.id,
    itemId: id,
    deviceId: auth.deviceId,
  })
  return { response: { itemId: id, uploadUrl: uploadUrl(id), expiresAt }, created: true }
}

/** A page of a conversation's committed items and tombstones, by seq. */
export async function listItems(
  ctx: AppContext,
  conversation: ConversationRecord,
  page: { since: number; limit: number },
): Promise<ListItemsResponse> {
  const rows = await ctx.store.items.listItems(conversation.id, page.since, page.limit + 1)
  const now = ctx.now()
  // Past its retention an item is gone at once; garbage collection leaves its tombstone.
  const items = rows.slice(0, page.limit).filter((i) => !retentionPassed(i, now))
  return { items: items.map(itemToWire), more: rows.length > page.limit }
}

/**
 * Commits a reserved item whose blob is completely uploaded: stores its encrypted manifest and
 * gives it the conversation's next seq, then tells the members. The sender must still be allowed
 * to post (`requirePoster`; the store checks membership again under the conversation's lock): an
 * item reserved before its sender left a group is refused, `FORBIDDEN`.
 */
export async function commitItem(
  ctx: AppContext,
  auth: Auth,
  item: ItemRecord,
  manifest: Uint8Array,
): Promise<CommitItemResponse> {
  if (manifest.length === 0) throw new InvalidBodyError('the manifest is empty')
  const conversation = await ctx.store.conversations.getConversation(item.conversationId)
  if (!conversation) throw new NotFoundError()
  requirePoster(conversation, auth.accountId)
  const blob = await ctx.blobs.status(item.id)
  if (!blob) throw new NotFoundError('the upload is gone')
  if (blob.size !== blob.length) throw new ServerError('UPLOAD_INCOMPLETE', 'upload the whole blob first')
  // A block or decline that came while the item was uploading holds.
  await checkMayPost(ctx, conversation, auth.accountId)
  await ctx.blobs.commit(item.id)
  const account = await ctx.store.accounts.getAccount(auth.accountId)
  const seq = await ctx.store.items.commitItem(
    item.id,
    manifest,
    ctx.now(),
    account?.quotaBytes ?? ctx.config.quota,
  )
  // Those who accepted hear of an item; a request is announced as a request, never as an item.
  await ctx.hub.publish(await receiversOf(ctx, conversation), {
    type: 'item',
    conversationId: item.conversationId,
    seq,
  })
  await announceRequest(ctx, conversation)
  return { itemId: item.id, seq }
}

/**
 * The bytes of a visible item's blob (`range`: part of it), for the calling device. With
 * `count`, a download is recorded in the item's access log before the first byte leaves; a
 * download the log cannot hold is not served.
 */
export async function readItemBlob(
  ctx: AppContext,
  auth: Auth,
  item: ItemRecord,
  range: { start: number; end: number } | null,
  access: { address: string; count: boolean },
): Promise<Readable> {
  const stream = await ctx.blobs.read(item.id, range ?? undefined)
  if (!access.count) return stream
  try {
    await recordDownload(ctx, {
      itemId: item.id,
      who: { accountId: auth.accountId, deviceId: auth.deviceId },
      address: access.address,
      range,
    })
  } catch (e) {
    stream.destroy()
    throw e
  }
  return stream
}

/**
 * The blob of an item still being uploaded, as it arrives (`BlobStore.follow`), recorded as one
 * download first. `CONFLICT` where the blob store cannot follow an upload.
 */
export async function followItem(
  ctx: AppContext,
  auth: Auth,
  item: ItemRecord,
  address: string,
  signal: AbortSignal,
): Promise<FollowedBlob> {
  if (!ctx.blobs.follow) {
    throw new ConflictError('this server cannot stream an upload in progress; wait for the commit')
  }
  const live = await ctx.blobs.follow(item.id, signal)
  if (!live) throw new NotFoundError()
  try {
    await recordAccess(ctx, {
      itemId: item.id,
      who: { accountId: auth.accountId, deviceId: auth.deviceId },
      address,
    })
  } catch (e) {
    void live.close()
    throw e
  }
  return live
}

/**
 * The sender deletes an item of a conversation it belongs to: a committed item leaves a tombstone
 * (a new seq the members hear of), a reservation disappears. Its blob and share links go with it.
 */
export async function deleteItem(ctx: AppContext, auth: Auth, itemId: string): Promise<DeleteItemResponse> {
  const item = await liveItem(ctx, itemId)
  const conversation = await ctx.store.conversations.getConversation(item.conversationId)
  const member = conversation?.members.includes(auth.accountId) ?? false
  if (!member || (item.state === 'reserved' && item.senderAccountId !== auth.accountId))
    throw new NotFoundError()
  if (item.senderAccountId !== auth.accountId) throw new ForbiddenError('only the sender can delete an item')
  const seq = await ctx.store.items.deleteItem(item.id, ctx.now())
  await itemDeleted(ctx, item, seq, conversation?.members ?? [])
  return { itemId: item.id, seq }
}

/**
 * What follows an item's deletion, by its sender or by retention: its blob is deleted, its share
 * links revoked, and the members told of the tombstone (`seq`; null for a reservation, which
 * leaves none).
 */
export async function itemDeleted(
  ctx: Pick<AppContext, 'store' | 'blobs'> & Partial<Pick<AppContext, 'hub'>>,
  item: { id: string; conversationId: string },
  seq: number | null,
  members: readonly string[],
): Promise<void> {
  await ctx.blobs.delete(item.id)
  await revokeSharesOf(ctx, item.id)
  if (seq !== null)
    await ctx.hub?.publish(members, { type: 'delete', conversationId: item.conversationId, seq })
}

/**
 * A committed item of a conversation the caller belongs to (with `uploading`, also one still
 * being uploaded under an unexpired reservation); else `NOT_FOUND`.
 */
export async function visibleItem(
  ctx: AppContext,
  auth: Auth,
  itemId: string,
  opts: { uploading?: boolean } = {},
): Promise<ItemRecord> {
  const item = await liveItem(ctx, itemId)
  const now = ctx.now()
  const visible =
    item.state === 'committed' ? !retentionPassed(item, now) : opts.uploading === true && item.expiresAt > now
  if (!visible) throw new NotFoundError()
  const conversation = await ctx.store.conversations.getConversation(item.conversationId)
  if (!conversation?.members.includes(auth.accountId)) throw new NotFoundError()
  // Nothing of a request or group invitation is served before it is accepted.
  await requireAccepted(ctx, conversation, auth.accountId)
  return item
}

/**
 * A reserved item this very device may still upload and commit; `NOT_FOUND` for anyone else,
 * `ALREADY_COMMITTED` once committed, `GONE` once the reservation has expired.
 */
export async function ownReservation(ctx: AppContext, auth: Auth, itemId: string): Promise<ItemRecord> {
  const item = await liveItem(ctx, itemId)
  if (item.senderDeviceId !== auth.deviceId || item.senderAccountId !== auth.accountId)
    throw new NotFoundError()
  if (item.state === 'committed') throw new ServerError('ALREADY_COMMITTED', 'the item is already committed')
  if (item.expiresAt <= ctx.now()) throw new ServerError('GONE', 'the reservation has expired')
  return item
}

/** An item as members receive it: committed, or a tombstone. */
export function itemToWire(item: ItemRecord): CommittedItem | ItemTombstone {
  if (item.state === 'deleted') {
    return { itemId: item.id, conversationId: item.conversationId, seq: item.seq!, deleted: true }
  }
  return {
    itemId: item.id,
    conversationId: item.conversationId,
    seq: item.seq!,
    deleted: false,
    ciphertextSize: item.ciphertextSize,
    senderAccountId: item.senderAccountId,
    senderDeviceId: item.senderDeviceId,
    createdAt: item.committedAt ?? item.createdAt,
    manifest: Buffer.from(item.manifest ?? []).toString('base64url'),
    ...(item.sensitivity === null ? {} : { sensitivity: item.sensitivity }),
    ...(item.retainUntil === null ? {} : { expiresAt: item.retainUntil }),
  }
}

/** A reserved or committed item; `NOT_FOUND` for an unknown or deleted one. */
async function liveItem(ctx: AppContext, itemId: string): Promise<ItemRecord> {
  const item = await ctx.store.items.getItem(itemId)
  if (!item || item.state === 'deleted') throw new NotFoundError()
  return item
}

function uploadUrl(itemId: string): string {
  return `${API_PREFIX}/uploads/${itemId}`
}

function retentionPassed(item: ItemRecord, now: number): boolean {
  return item.state === 'committed' && item.retainUntil !== null && item.retainUntil <= now
}
