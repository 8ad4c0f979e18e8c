import {
  API_PREFIX,
  type CreateShareRequest,
  type CreateShareResponse,
  checkSharePolicy,
  createShareRequestSchema,
  type ListSharesResponse,
  type OpenShareResponse,
  type PublicShareResponse,
  SHARE_LIMITS,
  SHARE_SESSION_HEADER,
  type ShareSummary,
  shareIdSchema,
  shareSessionSchema,
} from '@airlock/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { recordAccess } from '../access-log.js'
import { type Auth, requireAuth } from '../auth.js'
import type { AppContext } from '../context.js'
import { InvalidBodyError, NotFoundError, ServerError } from '../errors.js'
import type { ShareRecord } from '../metadata-store.js'
import { currentPolicy, enforce } from '../org-policy.js'
import { hashSecret, randomId, randomSecret } from '../tokens.js'
import { parseInput } from '../validation.js'
import { visibleItem } from './items.js'
import { parseRange } from './range.js'

const DEFAULT_SHARE_SECONDS = 7 * 86400
const LIST_LIMIT = 500

/**
 * Share links. The owner's device creates a link over items it can read (`POST /shares`), uploads
 * one re-encrypted blob per item with tus (HEAD + PATCH on `/uploads/<blobId>`, as for items) and
 * commits the sealed share manifest (`PUT /shares/:id/manifest`); it lists and revokes its
 * account's links. Anyone with the link (no account) reads the sealed manifest
 * (`GET /public/shares/:id`), takes one download (`POST …/open`, a session), fetches the blobs
 * with that session (ranges allowed, to resume) and ends it (`POST …/close`). Expired, used-up
 * and revoked links answer 410 `GONE`; their blobs are deleted (see {@link retireShare}).
 */
export function shareRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/shares', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const body = parseInput(createShareRequestSchema, req.body)
    const checked = await checkShareRequest(ctx, auth, body)
    const account = await ctx.store.getAccount(auth.accountId)
    if (!account) throw new NotFoundError()
    const now = ctx.now()
    const id = randomId()
    const blobs = body.ciphertextSizes.map((size) => ({ id: randomId(), size }))
    await ctx.store.createShare(
      {
        id,
        accountId: auth.accountId,
        deviceId: auth.deviceId,
        itemIds: body.itemIds,
        blobs,
        createdAt: now,
        expiresAt: now + checked.lifetimeMs,
        uploadExpiresAt: Math.min(now + ctx.config.uploadTtlHours * 3600_000, now + checked.lifetimeMs),
        maxDownloads: body.maxDownloads ?? null,
      },
      account.quotaBytes ?? ctx.config.quota,
    )
    try {
      for (const b of blobs) await ctx.blobs.create(b.id, b.size)
    } catch (e) {
      await retireShare(ctx, await ctx.store.revokeShare(id))
      throw e
    }
    const res: CreateShareResponse = {
      shareId: id,
      expiresAt: now + checked.lifetimeMs,
      uploads: blobs.map((b) => ({ blobId: b.id, uploadUrl: `${API_PREFIX}/uploads/${b.id}` })),
    }
    return reply.code(201).send(res)
  })

  app.put('/shares/:id/manifest', { bodyLimit: ctx.config.maxManifestSize }, async (req) => {
    const auth = await requireAuth(ctx, req)
    const share = await ownShare(ctx, auth, req.params)
    if (share.deviceId !== auth.deviceId) throw new NotFoundError()
    if (!(req.body instanceof Uint8Array)) {
      throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'send the manifest as application/octet-stream')
    }
    const manifest = new Uint8Array(req.body)
    if (manifest.length === 0) throw new InvalidBodyError('the manifest is empty')
    if (share.state === 'uploading') {
      for (const b of share.blobs) {
        const blob = await ctx.blobs.status(b.id)
        if (!blob) throw new NotFoundError('an upload is gone')
        if (blob.size !== blob.length) throw new ServerError('UPLOAD_INCOMPLETE', 'upload every file first')
      }
      for (const b of share.blobs) await ctx.blobs.commit(b.id)
    }
    return toSummary(await ctx.store.commitShare(share.id, manifest), ctx.now())
  })

  app.get('/shares', async (req) => {
    const auth = await requireAuth(ctx, req)
    const now = ctx.now()
    const rows = await ctx.store.listShares(auth.accountId, LIST_LIMIT)
    const res: ListSharesResponse = { shares: rows.map((s) => toSummary(s, now)) }
    return res
  })

  app.delete('/shares/:id', async (req) => {
    const auth = await requireAuth(ctx, req)
    const share = await ownShare(ctx, auth, req.params)
    const revoked = await ctx.store.revokeShare(share.id)
    await retireShare(ctx, revoked)
    return toSummary(revoked, ctx.now())
  })

  // ---------------------------------------------------------------- public: no account

  app.get('/public/shares/:id', async (req) => {
    const share = await liveShare(ctx, req.params)
    const res: PublicShareResponse = {
      shareId: share.id,
      manifest: Buffer.from(share.manifest ?? []).toString('base64url'),
      files: share.blobs.map((b) => ({ ciphertextSize: b.size })),
      expiresAt: share.expiresAt,
      downloadsLeft: share.maxDownloads === null ? null : Math.max(0, share.maxDownloads - share.downloads),
    }
    return res
  })

  app.post('/public/shares/:id/open', async (req) => {
    const share = await liveShare(ctx, req.params)
    const session = randomSecret()
    const expiresAt = ctx.now() + SHARE_LIMITS.sessionMs
    await ctx.store.openShare(share.id, { tokenHash: hashSecret(session), expiresAt }, ctx.now())
    const res: OpenShareResponse = { session, expiresAt }
    return res
  })

  app.get('/public/shares/:id/blobs/:n', async (req, reply) => {
    const share = await sessionShare(ctx, req)
    const n = (req.params as { n?: string }).n ?? ''
    const blob = /^(0|[1-9][0-9]{0,2})$/.test(n) ? share.blobs[Number(n)] : undefined
    if (!blob) throw new NotFoundError()
    const range = parseRange(req.headers.range, blob.size)
    reply
      .header('content-type', 'application/octet-stream')
      .header('accept-ranges', 'bytes')
      .header('cache-control', 'no-store')
    if (range === 'unsatisfiable') {
      throw new ServerError('RANGE_NOT_SATISFIABLE', 'range not satisfiable', {
        'content-range': `bytes */${blob.size}`,
      })
    }
    await shareBlobServed(ctx, {
      shareId: share.id,
      itemId: share.itemIds[Number(n)],
      index: Number(n),
      ip: req.ip,
      range,
    })
    if (range) {
      return reply
        .code(206)
        .header('content-range', `bytes ${range.start}-${range.end}/${blob.size}`)
        .header('content-length', range.end - range.start + 1)
        .send(await ctx.blobs.read(blob.id, range))
    }
    return reply.header('content-length', blob.size).send(await ctx.blobs.read(blob.id))
  })

  app.post('/public/shares/:id/close', async (req, reply) => {
    const share = await sessionShare(ctx, req)
    await ctx.store.endShareSession(hashSecret(sessionToken(req)))
    // The last download of a used-up link has finished: its blobs go now, not at the next gc.
    if (share.state === 'exhausted') {
      for (const due of await ctx.store.sharesToRetire(ctx.now(), 100)) {
        if (due.id === share.id) await retireShare(ctx, due)
      }
    }
    return reply.code(204).send()
  })
}

/**
 * Every check on a new share link, in one place, so organisation policy (links allowed, longest
 * lifetime, labels that forbid links) can be added here: the caller may read each source item,
 * one blob per item, and the lifetime is within the server's maximum. Returns the lifetime.
 */
export async function checkShareRequest(
  ctx: AppContext,
  auth: Auth,
  body: CreateShareRequest,
): Promise<{ lifetimeMs: number }> {
  if (body.ciphertextSizes.length !== body.itemIds.length)
    throw new InvalidBodyError('give one ciphertext size per item')
  for (const size of body.ciphertextSizes) {
    if (size > ctx.config.maxItemSize) {
      throw new ServerError(
        'ITEM_TOO_LARGE',
        `files are limited to ${ctx.config.maxItemSize} bytes on this server`,
      )
    }
  }
  const labels: (string | null)[] = []
  let retainUntil = Number.POSITIVE_INFINITY
  for (const id of body.itemIds) {
    const item = await visibleItem(ctx, auth, { id })
    labels.push(item.sensitivity ?? null)
    if (item.retainUntil !== null) retainUntil = Math.min(retainUntil, item.retainUntil)
  }
  const policy = await currentPolicy(ctx)
  const longest = Math.min(
    ctx.config.maxShareDays * 86400,
    Math.floor(policy.shareLinks.maxLifetimeMs / 1000),
  )
  const seconds = body.expiresInSeconds ?? Math.min(DEFAULT_SHARE_SECONDS, longest)
  if (seconds > ctx.config.maxShareDays * 86400) {
    throw new InvalidBodyError(`share links last at most ${ctx.config.maxShareDays} days on this server`)
  }
  // The organisation's rules: links allowed at all, their longest lifetime, labels that forbid them
  // (the label the server holds for each source item, not one the client claims).
  const now = ctx.now()
  enforce(() => checkSharePolicy(policy, { labels, expiresAt: now + seconds * 1000, now }))
  // A link never outlives the retention of what it shares.
  return { lifetimeMs: Math.max(1000, Math.min(seconds * 1000, retainUntil - now)) }
}

/**
 * The one place where a share blob is handed to someone without an account. A request that
 * starts at byte 0 is one download of the source item, recorded in its access log (as the link,
 * with the address) before the first byte, like any item download; a resumed range is not
 * counted again. Never logs the session or anything from the link.
 */
export async function shareBlobServed(
  ctx: AppContext,
  event: {
    shareId: string
    itemId: string | undefined
    index: number
    ip: string
    range: { start: number; end: number } | null
  },
): Promise<void> {
  if (
    event.itemId !== undefined &&
    (event.range === null ||
      event.range.start === 0 ||
      !(await ctx.store.hasAccessBy(event.itemId, { shareId: event.shareId })))
  ) {
    await recordAccess(ctx, { itemId: event.itemId, who: { shareId: event.shareId }, address: event.ip })
  }
  ctx.log.debug(
    { share: event.shareId, file: event.index, ip: event.ip, range: event.range },
    'share blob served',
  )
}

/**
 * A recalled or expired item takes its share links with it: they are revoked and their blobs
 * deleted, so a link never outlives the item's recall or retention.
 */
export async function revokeSharesOf(
  ctx: Pick<AppContext, 'store' | 'blobs'>,
  itemId: string,
): Promise<void> {
  for (const id of await ctx.store.liveSharesOfItem(itemId))
    await retireShare(ctx, await ctx.store.revokeShare(id))
}

/**
 * Deletes the blobs of a share that was just revoked or that `sharesToRetire` returned (expired,
 * or used up with no download in flight), and records that they are gone.
 */
export async function retireShare(
  ctx: Pick<AppContext, 'store' | 'blobs'>,
  share: ShareRecord,
): Promise<void> {
  if (share.blobsDeleted) return
  if (share.state !== 'revoked' && share.state !== 'expired' && share.state !== 'exhausted') return
  for (const b of share.blobs) await ctx.blobs.delete(b.id)
  await ctx.store.markShareBlobsDeleted(share.id)
}

/** The state people see: an active link past its expiry is expired even before gc marks it. */
function effectiveState(share: ShareRecord, now: number): ShareSummary['state'] {
  if ((share.state === 'active' || share.state === 'exhausted') && share.expiresAt <= now) return 'expired'
  return share.state
}

function toSummary(share: ShareRecord, now: number): ShareSummary {
  return {
    shareId: share.id,
    state: effectiveState(share, now),
    itemIds: share.itemIds,
    createdAt: share.createdAt,
    expiresAt: share.expiresAt,
    maxDownloads: share.maxDownloads,
    downloads: share.downloads,
    ciphertextSize: share.blobs.reduce((n, b) => n + b.size, 0),
  }
}

async function shareParam(ctx: AppContext, params: unknown): Promise<ShareRecord> {
  const r = shareIdSchema.safeParse((params as { id?: unknown }).id)
  if (!r.success) throw new NotFoundError()
  const share = await ctx.store.getShare(r.data)
  if (!share) throw new NotFoundError()
  return share
}

/** A share of the caller's account (any of its devices); `NOT_FOUND` for anyone else. */
async function ownShare(ctx: AppContext, auth: Auth, params: unknown): Promise<ShareRecord> {
  const share = await shareParam(ctx, params)
  if (share.accountId !== auth.accountId) throw new NotFoundError()
  return share
}

/**
 * A committed share that can still be downloaded; `GONE` (deleting its blobs if that has not
 * happened yet) once it is expired, used up or revoked; `NOT_FOUND` while it is uploading.
 */
async function liveShare(ctx: AppContext, params: unknown): Promise<ShareRecord> {
  const share = await shareParam(ctx, params)
  if (share.state === 'uploading') throw new NotFoundError()
  if (share.state !== 'active' || share.expiresAt <= ctx.now()) {
    if (!share.blobsDeleted) {
      for (const due of await ctx.store.sharesToRetire(ctx.now(), 1000)) {
        if (due.id === share.id) await retireShare(ctx, due)
      }
    }
    throw new ServerError('GONE', 'this share link has expired, was used up, or was revoked')
  }
  return share
}

/**
 * True if `blobId` belongs to a share link this very device is still uploading (tus HEAD and
 * PATCH, `uploads.ts`); false if no share owns it; `NOT_FOUND` for another device's or account's
 * share, `GONE` once the share is no longer uploading (a HEAD after commit still answers).
 */
export async function ownShareUpload(ctx: AppContext, auth: Auth, blobId: string): Promise<boolean> {
  const share = await ctx.store.getShareByBlob(blobId)
  if (!share) return false
  if (share.accountId !== auth.accountId || share.deviceId !== auth.deviceId) throw new NotFoundError()
  if (share.state === 'uploading' && share.uploadExpiresAt > ctx.now()) return true
  if (share.state === 'active' || share.state === 'exhausted') {
    throw new ServerError('ALREADY_COMMITTED', 'the share is already committed')
  }
  throw new ServerError('GONE', 'the share link is no longer available')
}

function sessionToken(req: FastifyRequest): string {
  const r = shareSessionSchema.safeParse(req.headers[SHARE_SESSION_HEADER])
  if (!r.success) throw new ServerError('UNAUTHENTICATED', `open the link first (${SHARE_SESSION_HEADER})`)
  return r.data
}

/** The share of a request carrying a live download session for it; `GONE` otherwise. */
async function sessionShare(ctx: AppContext, req: FastifyRequest): Promise<ShareRecord> {
  const share = await shareParam(ctx, req.params)
  const token = sessionToken(req)
  const now = ctx.now()
  if (!(await ctx.store.touchShareSession(hashSecret(token), share.id, now, now + SHARE_LIMITS.sessionMs))) {
    throw new ServerError('GONE', 'this download has ended, or the link expired or was revoked')
  }
  return share
}
