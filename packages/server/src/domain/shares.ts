import type { Readable } from 'node:stream'
import {
  type AdminShare,
  type AdminSharesResponse,
  API_PREFIX,
  type CreateShareRequest,
  type CreateShareResponse,
  checkSharePolicy,
  type ListSharesResponse,
  type OpenShareResponse,
  type PublicShareResponse,
  SHARE_LIMITS,
  type ShareSummary,
} from '@airlock/core'
import type { AppContext } from '../context.js'
import { InvalidBodyError, NotFoundError, ServerError } from '../errors.js'
import type { ShareRecord } from '../storage/metadata/shares.js'
import { hashSecret, randomId, randomSecret } from '../tokens.js'
import { recordDownload } from './access-log.js'
import { visibleItem } from './items.js'
import { currentPolicy, enforce } from './policy.js'
import { retireIfDue, retireShare } from './retire-shares.js'
import type { Auth } from './sessions.js'

const DEFAULT_SHARE_SECONDS = 7 * 86400
const LIST_LIMIT = 500
const ADMIN_LIST_LIMIT = 1000

/**
 * Share links. The owner's device creates a link over items it can read, uploads one
 * re-encrypted blob per item with tus (as for items) and commits the sealed share manifest; it
 * lists and revokes its account's links. Anyone with the link (no account) reads the sealed
 * manifest, takes one download (a session), fetches the blobs with that session (ranges
 * allowed, to resume) and ends it. Expired, used-up and revoked links are `GONE`; their blobs
 * are deleted (`retire-shares.ts`).
 */

/**
 * Creates an `uploading` share link over items the caller can read, with one empty blob per
 * file, counted against the account's quota.
 */
export async function createShare(
  ctx: AppContext,
  auth: Auth,
  body: CreateShareRequest,
): Promise<CreateShareResponse> {
  const checked = await checkShareRequest(ctx, auth, body)
  const account = await ctx.store.accounts.getAccount(auth.accountId)
  if (!account) throw new NotFoundError()
  const now = ctx.now()
  const id = randomId()
  const blobs = body.ciphertextSizes.map((size) => ({ id: randomId(), size }))
  await ctx.store.shares.createShare(
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
    await retireShare(ctx, await ctx.store.shares.revokeShare(id))
    throw e
  }
  return {
    shareId: id,
    expiresAt: now + checked.lifetimeMs,
    uploads: blobs.map((b) => ({ blobId: b.id, uploadUrl: `${API_PREFIX}/uploads/${b.id}` })),
  }
}

/**
 * Every check on a new share link, in one place: the caller may read each source item, one blob
 * per item, the lifetime is within the server's maximum, and the organisation's policy allows
 * it. Returns the lifetime, which never outlasts the retention of what the link shares.
 */
async function checkShareRequest(
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
    const item = await visibleItem(ctx, auth, id)
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
  return { lifetimeMs: Math.max(1000, Math.min(seconds * 1000, retainUntil - now)) }
}

/**
 * A share of the caller's account (any of its devices; with `device`, only the one that created
 * it); `NOT_FOUND` for anyone else.
 */
export async function ownShare(
  ctx: AppContext,
  auth: Auth,
  shareId: string,
  opts: { device?: boolean } = {},
): Promise<ShareRecord> {
  const share = await shareById(ctx, shareId)
  if (share.accountId !== auth.accountId) throw new NotFoundError()
  if (opts.device && share.deviceId !== auth.deviceId) throw new NotFoundError()
  return share
}

/** Commits the sealed share manifest once every file is completely uploaded: the link goes live. */
export async function commitShare(
  ctx: AppContext,
  share: ShareRecord,
  manifest: Uint8Array,
): Promise<ShareSummary> {
  if (manifest.length === 0) throw new InvalidBodyError('the manifest is empty')
  if (share.state === 'uploading') {
    for (const b of share.blobs) {
      const blob = await ctx.blobs.status(b.id)
      if (!blob) throw new NotFoundError('an upload is gone')
      if (blob.size !== blob.length) throw new ServerError('UPLOAD_INCOMPLETE', 'upload every file first')
    }
    for (const b of share.blobs) await ctx.blobs.commit(b.id)
  }
  return toSummary(await ctx.store.shares.commitShare(share.id, manifest), ctx.now())
}

/** The caller's account's share links, newest first. */
export async function listShares(ctx: AppContext, auth: Auth): Promise<ListSharesResponse> {
  const now = ctx.now()
  const rows = await ctx.store.shares.listShares(auth.accountId, LIST_LIMIT)
  return { shares: rows.map((s) => toSummary(s, now)) }
}

/** Revokes a link at once: its download sessions end and its blobs are deleted. */
export async function revokeShare(ctx: AppContext, share: ShareRecord): Promise<ShareSummary> {
  const revoked = await ctx.store.shares.revokeShare(share.id)
  await retireShare(ctx, revoked)
  return toSummary(revoked, ctx.now())
}

/** What anyone with the link sees before downloading: the sealed manifest and the file sizes. */
export async function publicShare(ctx: AppContext, shareId: string): Promise<PublicShareResponse> {
  const share = await liveShare(ctx, shareId)
  return {
    shareId: share.id,
    manifest: Buffer.from(share.manifest ?? []).toString('base64url'),
    files: share.blobs.map((b) => ({ ciphertextSize: b.size })),
    expiresAt: share.expiresAt,
    downloadsLeft: share.maxDownloads === null ? null : Math.max(0, share.maxDownloads - share.downloads),
  }
}

/** Takes one download of a live link: a session whose token fetches the blobs. */
export async function openShareDownload(ctx: AppContext, shareId: string): Promise<OpenShareResponse> {
  const share = await liveShare(ctx, shareId)
  const session = randomSecret()
  const expiresAt = ctx.now() + SHARE_LIMITS.sessionMs
  await ctx.store.shares.openShare(share.id, { tokenHash: hashSecret(session), expiresAt }, ctx.now())
  return { session, expiresAt }
}

/** A share link by id; `NOT_FOUND` if there is none. */
export async function shareById(ctx: AppContext, shareId: string): Promise<ShareRecord> {
  const share = await ctx.store.shares.getShare(shareId)
  if (!share) throw new NotFoundError()
  return share
}

/** Renews the download session `token` of `share`; `GONE` once it has ended or the link is over. */
export async function requireShareSession(ctx: AppContext, share: ShareRecord, token: string): Promise<void> {
  await requireOwnerEnabled(ctx, share)
  const now = ctx.now()
  if (
    !(await ctx.store.shares.touchShareSession(
      hashSecret(token),
      share.id,
      now,
      now + SHARE_LIMITS.sessionMs,
    ))
  ) {
    throw new ServerError('GONE', 'this download has ended, or the link expired or was revoked')
  }
}

/**
 * The one place where a share blob is handed to someone without an account. A request that
 * starts at byte 0 is one download of the source item, recorded in its access log (as the link,
 * with the address) before the first byte, like any item download; a resumed range is not
 * counted again, and a `HEAD` (`count` false) is no download at all. Never logs the session or
 * anything from the link.
 */
export async function readShareBlob(
  ctx: AppContext,
  share: ShareRecord,
  index: number,
  range: { start: number; end: number } | null,
  access: { address: string; count: boolean },
): Promise<Readable> {
  const blob = share.blobs[index]
  if (!blob) throw new NotFoundError()
  const itemId = share.itemIds[index]
  const address = access.address
  if (itemId !== undefined && access.count)
    await recordDownload(ctx, { itemId, who: { shareId: share.id }, address, range })
  ctx.log.debug({ share: share.id, file: index, ip: address, range }, 'share blob served')
  return ctx.blobs.read(blob.id, range ?? undefined)
}

/** Ends a download session; the last download of a used-up link takes its blobs with it now. */
export async function closeShareDownload(ctx: AppContext, share: ShareRecord, token: string): Promise<void> {
  await ctx.store.shares.endShareSession(hashSecret(token))
  if (share.state === 'exhausted') await retireIfDue(ctx, share.id, 100)
}

/**
 * True if `blobId` belongs to a share link this very device is still uploading (tus HEAD and
 * PATCH); false if no share owns it; `NOT_FOUND` for another device's or account's share,
 * `ALREADY_COMMITTED` or `GONE` once the share is no longer uploading.
 */
export async function ownShareUpload(ctx: AppContext, auth: Auth, blobId: string): Promise<boolean> {
  const share = await ctx.store.shares.getShareByBlob(blobId)
  if (!share) return false
  if (share.accountId !== auth.accountId || share.deviceId !== auth.deviceId) throw new NotFoundError()
  if (share.state === 'uploading' && share.uploadExpiresAt > ctx.now()) return true
  if (share.state === 'active' || share.state === 'exhausted') {
    throw new ServerError('ALREADY_COMMITTED', 'the share is already committed')
  }
  throw new ServerError('GONE', 'the share link is no longer available')
}

/**
 * A committed share that can still be downloaded; `GONE` (deleting its blobs if that has not
 * happened yet) once it is expired, used up or revoked; `NOT_FOUND` while it is uploading.
 */
async function liveShare(ctx: AppContext, shareId: string): Promise<ShareRecord> {
  const share = await shareById(ctx, shareId)
  if (share.state === 'uploading') throw new NotFoundError()
  if (share.state !== 'active' || share.expiresAt <= ctx.now()) {
    if (!share.blobsDeleted) await retireIfDue(ctx, share.id, 1000)
    throw new ServerError('GONE', 'this share link has expired, was used up, or was revoked')
  }
  await requireOwnerEnabled(ctx, share)
  return share
}

/**
 * A link whose owner's account an administrator disabled is suspended: `SHARE_SUSPENDED` (410), downloads in
 * flight included, until the account is enabled again (the link then works until it expires).
 * Its owner cannot sign in to revoke it meanwhile; an administrator can.
 */
async function requireOwnerEnabled(ctx: AppContext, share: ShareRecord): Promise<void> {
  if (await ctx.store.accounts.isAccountDisabled(share.accountId)) {
    throw new ServerError(
      'SHARE_SUSPENDED',
      "this share link is suspended: its owner's account has been disabled by an administrator",
    )
  }
}

/**
 * Every account's share links for administrators, newest first: owner, dates, downloads and
 * state, never the items a link was made from.
 */
export async function listSharesForAdmin(ctx: AppContext): Promise<AdminSharesResponse> {
  const accounts = new Map((await ctx.store.accounts.listAccountsForAdmin()).map((a) => [a.id, a]))
  const now = ctx.now()
  const rows = await ctx.store.shares.listAllShares(ADMIN_LIST_LIMIT)
  return { shares: rows.map((s) => toAdminShare(s, accounts.get(s.accountId), now)) }
}

/** An administrator revokes any account's link, as its owner would (`revokeShare`). */
export async function revokeShareAsAdmin(ctx: AppContext, shareId: string): Promise<AdminShare> {
  const share = await shareById(ctx, shareId)
  await revokeShare(ctx, share)
  const owner = (await ctx.store.accounts.listAccountsForAdmin()).find((a) => a.id === share.accountId)
  return toAdminShare(await shareById(ctx, shareId), owner, ctx.now())
}

function toAdminShare(
  share: ShareRecord,
  owner: { username: string; disabled: boolean } | undefined,
  now: number,
): AdminShare {
  const state = effectiveState(share, now)
  return {
    shareId: share.id,
    accountId: share.accountId,
    username: owner?.username ?? '',
    state: state === 'active' && owner?.disabled ? 'suspended' : state,
    createdAt: share.createdAt,
    expiresAt: share.expiresAt,
    maxDownloads: share.maxDownloads,
    downloads: share.downloads,
    files: share.blobs.length,
    ciphertextSize: share.blobs.reduce((n, b) => n + b.size, 0),
  }
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
