import type { ServerResponse } from 'node:http'
import {
  API_PREFIX,
  type CommitItemResponse,
  type CommittedItem,
  checkItemPolicy,
  type DeleteItemResponse,
  type ItemTombstone,
  itemIdSchema,
  itemsQuerySchema,
  type ListItemsResponse,
  type ReserveItemResponse,
  reserveItemRequestSchema,
  retentionFor,
} from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import { recordAccess } from '../access-log.js'
import { type Auth, requireAuth } from '../auth.js'
import type { AppContext } from '../context.js'
import { ConflictError, ForbiddenError, InvalidBodyError, NotFoundError, ServerError } from '../errors.js'
import type { ItemRecord } from '../metadata-store.js'
import { currentPolicy, enforce } from '../org-policy.js'
import { randomId } from '../tokens.js'
import { parseInput } from '../validation.js'
import { memberConversation } from './conversations.js'
import { parseRange } from './range.js'
import { revokeSharesOf } from './shares.js'

/**
 * Items: reserve (size and quota checked from the declared size), upload the blob with tus
 * (`uploads.ts`), then `PUT` the encrypted manifest, which commits the item: only then does it get
 * a seq and become visible. Listing, ranged download and deletion (leaving a tombstone seq).
 */
export function itemRoutes(app: FastifyInstance, ctx: AppContext): void {
  /** Live downloads in progress (GET /items/:id/live), each holding a file and a connection. */
  let following = 0
  app.post('/conversations/:cid/items', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const conversation = await memberConversation(ctx, auth, req.params)
    const body = parseInput(reserveItemRequestSchema, req.body)
    if (body.ciphertextSize > ctx.config.maxItemSize) {
      throw new ServerError(
        'ITEM_TOO_LARGE',
        `items are limited to ${ctx.config.maxItemSize} bytes on this server`,
      )
    }
    if ((body.manifestSize ?? 0) > ctx.config.maxManifestSize) {
      throw new ServerError('ITEM_TOO_LARGE', `manifests are limited to ${ctx.config.maxManifestSize} bytes`)
    }
    const now = ctx.now()
    if (body.label !== undefined) {
      // A retry after a lost response or a crash gets the same reservation back, to resume it.
      const prior = await ctx.store.findItemByLabel(auth.deviceId, body.label)
      if (prior && prior.conversationId === conversation.id && prior.expiresAt > now) {
        if (prior.state === 'committed')
          throw new ServerError('ALREADY_COMMITTED', 'an item with this label is already committed')
        if (prior.ciphertextSize !== body.ciphertextSize)
          throw new ConflictError('this label is used by another reservation')
        const res: ReserveItemResponse = {
          itemId: prior.id,
          uploadUrl: uploadUrl(prior.id),
          expiresAt: prior.expiresAt,
        }
        return reply.code(200).send(res)
      }
    }
    const account = await ctx.store.getAccount(auth.accountId)
    if (!account) throw new NotFoundError()
    // The organisation's policy binds the sensitivity label: it must be in the set, and its
    // maximum retention (with the server's and the conversation's) sets when the item is deleted.
    const policy = await currentPolicy(ctx)
    const sensitivity = enforce(() =>
      checkItemPolicy(policy, { label: body.sensitivity ?? null, ciphertextSize: body.ciphertextSize }),
    )
    const retainMs = retentionFor(policy, {
      label: sensitivity,
      conversationRetentionMs: await ctx.store.getConversationRetention(conversation.id),
    })
    const id = randomId()
    const expiresAt = now + ctx.config.uploadTtlHours * 3600_000
    await ctx.store.reserveItem(
      {
        id,
        conversationId: conversation.id,
        senderAccountId: auth.accountId,
        senderDeviceId: auth.deviceId,
        ciphertextSize: body.ciphertextSize,
        manifestSize: body.manifestSize ?? 0,
        label: body.label ?? null,
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
      await ctx.store.dropReservation(id)
      throw e
    }
    // Members' devices may follow the upload as it arrives (GET /items/:id/live).
    await ctx.hub.publish(conversation.members, {
      type: 'upload',
      conversationId: conversation.id,
      itemId: id,
      deviceId: auth.deviceId,
    })
    const res: ReserveItemResponse = { itemId: id, uploadUrl: uploadUrl(id), expiresAt }
    return reply.code(201).send(res)
  })

  app.get('/conversations/:cid/items', async (req) => {
    const auth = await requireAuth(ctx, req)
    const conversation = await memberConversation(ctx, auth, req.params)
    const query = parseInput(itemsQuerySchema, req.query, 'query')
    const limit = query.limit ?? 100
    const rows = await ctx.store.listItems(conversation.id, query.since ?? 0, limit + 1)
    const now = ctx.now()
    // Past its retention an item is gone at once; garbage collection leaves its tombstone.
    const page = rows.slice(0, limit).filter((i) => !retentionPassed(i, now))
    const res: ListItemsResponse = { items: page.map(toWire), more: rows.length > limit }
    return res
  })

  app.get('/items/:id', async (req) => {
    const auth = await requireAuth(ctx, req)
    const item = await visibleItem(ctx, auth, req.params)
    return toWire(item)
  })

  app.put('/items/:id/manifest', { bodyLimit: ctx.config.maxManifestSize }, async (req) => {
    const auth = await requireAuth(ctx, req)
    const item = await ownReservation(ctx, auth, req.params)
    if (!(req.body instanceof Uint8Array)) {
      throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'send the manifest as application/octet-stream')
    }
    const manifest = new Uint8Array(req.body)
    if (manifest.length === 0) throw new InvalidBodyError('the manifest is empty')
    const blob = await ctx.blobs.status(item.id)
    if (!blob) throw new NotFoundError('the upload is gone')
    if (blob.size !== blob.length) throw new ServerError('UPLOAD_INCOMPLETE', 'upload the whole blob first')
    await ctx.blobs.commit(item.id)
    const account = await ctx.store.getAccount(auth.accountId)
    const seq = await ctx.store.commitItem(
      item.id,
      manifest,
      ctx.now(),
      account?.quotaBytes ?? ctx.config.quota,
    )
    const conversation = await ctx.store.getConversation(item.conversationId)
    await ctx.hub.publish(conversation?.members ?? [], {
      type: 'item',
      conversationId: item.conversationId,
      seq,
    })
    const res: CommitItemResponse = { itemId: item.id, seq }
    return res
  })

  app.get('/items/:id/blob', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const item = await visibleItem(ctx, auth, req.params)
    const size = item.ciphertextSize
    const range = parseRange(req.headers.range, size)
    reply
      .header('content-type', 'application/octet-stream')
      .header('accept-ranges', 'bytes')
      .header('cache-control', 'no-store')
    if (range === 'unsatisfiable') {
      throw new ServerError('RANGE_NOT_SATISFIABLE', 'range not satisfiable', {
        'content-range': `bytes */${size}`,
      })
    }
    const stream = await ctx.blobs.read(item.id, range ?? undefined)
    // A download starts at byte 0; later ranges continue one (see access-log.ts) — unless this
    // device never downloaded it: a first request that skips the (well-known) start still counts.
    // Recorded before the first byte leaves: a download the log cannot hold is not served.
    if (
      req.method === 'GET' &&
      (range === null ||
        range.start === 0 ||
        !(await ctx.store.hasAccessBy(item.id, { deviceId: auth.deviceId })))
    ) {
      await recordDownload(ctx, auth, item.id, req.ip, stream)
    }
    if (range) {
      return reply
        .code(206)
        .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
        .header('content-length', range.end - range.start + 1)
        .send(stream)
    }
    return reply.header('content-length', size).send(stream)
  })

  /**
   * The blob of an item still being uploaded, from its first byte, as it arrives: the response
   * declares the full length and ends when the upload is complete, or breaks off if the upload is
   * abandoned or stalls. Nothing here is an item yet: a client keeps what it receives private until
   * the item is committed and its signed manifest verifies it. A committed item is served whole.
   */
  app.get('/items/:id/live', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const item = await visibleItem(ctx, auth, req.params, { uploading: true })
    if (!ctx.blobs.follow) {
      throw new ConflictError('this server cannot stream an upload in progress; wait for the commit')
    }
    if (following >= MAX_FOLLOWING) {
      throw new ServerError('RATE_LIMITED', 'too many uploads are being followed; wait for the commit')
    }
    const abort = new AbortController()
    const live = await ctx.blobs.follow(item.id, abort.signal)
    if (!live) throw new NotFoundError()
    await recordDownload(ctx, auth, item.id, req.ip, { destroy: () => void live.close() })
    // The status and length go out at once, before the uploader's first byte arrives.
    reply.hijack()
    following++
    const res = reply.raw
    res.once('close', () => abort.abort())
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'cache-control': 'no-store',
      'content-length': String(live.length),
    })
    res.flushHeaders()
    try {
      // Each chunk is written out before the next is read into the same buffer.
      for await (const chunk of live.chunks) await written(res, chunk, abort.signal)
      await new Promise<void>((resolve) => res.end(resolve))
    } catch {
      // The upload was abandoned or stalled, or the follower left: the response breaks off short.
      res.destroy()
    } finally {
      following--
      await live.close()
    }
  })

  app.delete('/items/:id', async (req) => {
    const auth = await requireAuth(ctx, req)
    const item = await itemParam(ctx, req.params)
    const conversation = await ctx.store.getConversation(item.conversationId)
    const member = conversation?.members.includes(auth.accountId) ?? false
    if (!member || (item.state === 'reserved' && item.senderAccountId !== auth.accountId))
      throw new NotFoundError()
    if (item.senderAccountId !== auth.accountId)
      throw new ForbiddenError('only the sender can delete an item')
    const seq = await ctx.store.deleteItem(item.id, ctx.now())
    await ctx.blobs.delete(item.id)
    await revokeSharesOf(ctx, item.id)
    if (seq !== null) {
      await ctx.hub.publish(conversation?.members ?? [], {
        type: 'delete',
        conversationId: item.conversationId,
        seq,
      })
    }
    const res: DeleteItemResponse = { itemId: item.id, seq }
    return res
  })
}

/** Writes `chunk` to `res` and resolves once it has been handed to the socket (or fails). */
function written(res: ServerResponse, chunk: Uint8Array, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const gone = () => reject(new Error('the follower left'))
    if (signal.aborted) return gone()
    signal.addEventListener('abort', gone, { once: true })
    res.write(chunk, (e) => {
      signal.removeEventListener('abort', gone)
      if (e) reject(e)
      else resolve()
    })
  })
}

/** At most this many uploads are followed at once per server; others wait for the commit. */
const MAX_FOLLOWING = 256

/**
 * Records a download of an item by the calling device before its first byte leaves: a download
 * the log cannot hold is not served (`stream` is destroyed).
 */
async function recordDownload(
  ctx: AppContext,
  auth: Auth,
  itemId: string,
  address: string,
  stream: { destroy(): void },
): Promise<void> {
  try {
    await recordAccess(ctx, { itemId, who: { accountId: auth.accountId, deviceId: auth.deviceId }, address })
  } catch (e) {
    stream.destroy()
    throw e
  }
}

function uploadUrl(itemId: string): string {
  return `${API_PREFIX}/uploads/${itemId}`
}

async function itemParam(ctx: AppContext, params: unknown): Promise<ItemRecord> {
  const r = itemIdSchema.safeParse((params as { id?: unknown }).id)
  if (!r.success) throw new NotFoundError()
  const item = await ctx.store.getItem(r.data)
  if (!item || item.state === 'deleted') throw new NotFoundError()
  return item
}

/**
 * A committed item of a conversation the caller belongs to (with `uploading`, also one still
 * being uploaded under an unexpired reservation); else `NOT_FOUND`.
 */
export async function visibleItem(
  ctx: AppContext,
  auth: Auth,
  params: unknown,
  opts: { uploading?: boolean } = {},
): Promise<ItemRecord> {
  const item = await itemParam(ctx, params)
  const now = ctx.now()
  const visible =
    item.state === 'committed' ? !retentionPassed(item, now) : opts.uploading === true && item.expiresAt > now
  if (!visible) throw new NotFoundError()
  const conversation = await ctx.store.getConversation(item.conversationId)
  if (!conversation?.members.includes(auth.accountId)) throw new NotFoundError()
  return item
}

/**
 * A reserved item this very device may still upload and commit; `NOT_FOUND` for anyone else,
 * `ALREADY_COMMITTED` once committed, `GONE` once the reservation has expired.
 */
export async function ownReservation(ctx: AppContext, auth: Auth, params: unknown): Promise<ItemRecord> {
  const item = await itemParam(ctx, params)
  if (item.senderDeviceId !== auth.deviceId || item.senderAccountId !== auth.accountId)
    throw new NotFoundError()
  if (item.state === 'committed') throw new ServerError('ALREADY_COMMITTED', 'the item is already committed')
  if (item.expiresAt <= ctx.now()) throw new ServerError('GONE', 'the reservation has expired')
  return item
}

function toWire(item: ItemRecord): CommittedItem | ItemTombstone {
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

function retentionPassed(item: ItemRecord, now: number): boolean {
  return item.state === 'committed' && item.retainUntil !== null && item.retainUntil <= now
}
