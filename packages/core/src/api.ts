import { z } from 'zod'
import { accessEntrySchema } from './access-log.js'
import type { Canonical } from './canonical.js'
import { deviceLogEntrySchema } from './device-log.js'
import { labelNameSchema, policySchema } from './policy.js'

/**
 * The Airlock HTTP and WebSocket API: every request body, query and response, and every push
 * message, as zod schemas shared by the server and its clients. The server validates each input
 * with these schemas at the boundary; clients may validate responses with them too.
 *
 * The server only ever sees ciphertext, random ids, sizes and public keys: no schema here has a
 * field for a filename, a type or any plaintext.
 */

/** Every route lives under this prefix. */
export const API_PREFIX = '/api/v1'

/** The `Upload-Metadata` key naming the reserved item a tus upload belongs to. */
export const TUS_ITEM_METADATA_KEY = 'itemId'

/** Signing context of the challenge–response login ({@link authSignedValue}). */
export const AUTH_SIGN_CONTEXT = 'airlock auth v1'

/** Upper bounds the server enforces; clients can check before sending. */
export const API_LIMITS = {
  /** Default bound of one encrypted manifest (a group item's manifest grows with recipients). */
  manifestBytes: 8 * 1024 * 1024,
  /** One linking mailbox message (base64url characters). */
  linkMessageChars: 16 * 1024,
  /** Messages each side may post to one linking mailbox. */
  linkMessagesPerSide: 8,
  /** Longest long-poll wait of `POST /link/receive`, in milliseconds. */
  linkWaitMs: 25_000,
  /** Items per page of `GET /conversations/:cid/items`. */
  itemsPerPage: 500,
  /** Device-log entries per page of `GET /accounts/:id/log`. */
  logEntriesPerPage: 1000,
  /** Members of a group conversation. */
  groupMembers: 256,
} as const

const base64url = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/, 'must be base64url')

/** Random server-chosen ids (accounts, items, conversations, mailboxes): 16 random bytes. */
export const randomIdSchema = base64url(22, 22)
/** A device id: derived from its signing key by core's `deviceIdFor` (16 bytes, base64url). */
export const deviceIdSchema = base64url(22, 22)
/**
 * An account id: chosen by the client (16 random bytes, base64url) because it is signed into the
 * genesis entry of the account's device log; 16–64 base64url characters.
 */
export const apiAccountIdSchema = base64url(16, 64)
export const itemIdSchema = randomIdSchema
export const conversationIdSchema = randomIdSchema
export const mailboxIdSchema = randomIdSchema

/** A sequence number (device log or conversation). */
export const seqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
/** A sequence number in a query string. */
export const seqQuerySchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,15})$/, 'must be a non-negative integer')
  .transform(Number)
  .pipe(seqSchema)

/** Time in milliseconds since the epoch. */
export const timestampSchema = z.number().int().min(0)

/** Lower-case account names people can type: 1–32 of `a-z 0-9 . _ -`, starting alphanumeric. */
export const usernameSchema = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, ".", "_" and "-" only')

/** A setup or invite code as typed: letters, digits, dashes and spaces; normalised by the server. */
export const codeSchema = z
  .string()
  .min(8)
  .max(64)
  .regex(/^[A-Za-z0-9 -]+$/, 'invalid code')

/**
 * A device-log entry on the wire: core's `deviceLogEntrySchema`. The server checks the shape, the
 * chain and the signature before storing; clients still verify the whole log themselves.
 */
export const wireLogEntrySchema = deviceLogEntrySchema
export type WireLogEntry = z.infer<typeof wireLogEntrySchema>

// ---------------------------------------------------------------- errors

/** Every error code the API returns, with its HTTP status (the server's one table). */
export const API_ERROR_STATUS = {
  BAD_REQUEST: 400,
  INVALID_BODY: 400,
  INVALID_LOG_ENTRY: 400,
  INVALID_GROUP_ENTRY: 400,
  UNAUTHENTICATED: 401,
  BAD_SIGNATURE: 401,
  FORBIDDEN: 403,
  /** The organisation's policy forbids this (a label rule, share links, the item size). */
  POLICY_FORBIDS: 403,
  /** An administrator disabled this account: it cannot log in or use its sessions. */
  ACCOUNT_DISABLED: 403,
  /** One of the two accounts blocked the other: no items, conversations or invitations between them. */
  BLOCKED: 403,
  /** A request or invitation not accepted (by the caller, or declined by the other side). */
  NOT_ACCEPTED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  STALE_HEAD: 409,
  USERNAME_TAKEN: 409,
  UPLOAD_INCOMPLETE: 409,
  ALREADY_COMMITTED: 409,
  GONE: 410,
  /** A share link whose owner's account an administrator disabled (until it is enabled again). */
  SHARE_SUSPENDED: 410,
  ITEM_TOO_LARGE: 413,
  QUOTA_EXCEEDED: 413,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  INSUFFICIENT_STORAGE: 507,
} as const
export type ApiErrorCode = keyof typeof API_ERROR_STATUS
export const apiErrorCodeSchema = z.enum(Object.keys(API_ERROR_STATUS) as [ApiErrorCode, ...ApiErrorCode[]])

/** The body of every error response. `message` is for people and never carries secrets. */
export const apiErrorBodySchema = z.strictObject({
  error: z.strictObject({ code: apiErrorCodeSchema, message: z.string() }),
})
export type ApiErrorBody = z.infer<typeof apiErrorBodySchema>

// ---------------------------------------------------------------- health

export const healthResponseSchema = z.strictObject({ ok: z.literal(true), version: z.string() })
export type HealthResponse = z.infer<typeof healthResponseSchema>

/** `GET /readyz`: `ok` false (with status 503) while the database or the blob store does not answer. */
export const readinessResponseSchema = z.strictObject({ ok: z.boolean(), version: z.string() })
export type ReadinessResponse = z.infer<typeof readinessResponseSchema>

// ---------------------------------------------------------------- accounts and invites

/**
 * `POST /accounts`: a setup or invite code, a username and the account's genesis log entry
 * (core's `createGenesis(accountId, device)`); the account id is `genesis.account`.
 */
export const createAccountRequestSchema = z.strictObject({
  code: codeSchema,
  username: usernameSchema,
  genesis: wireLogEntrySchema.refine(
    (e) => apiAccountIdSchema.safeParse(e.account).success,
    'the account id must be 16–64 base64url characters',
  ),
})
export type CreateAccountRequest = z.infer<typeof createAccountRequestSchema>

export const createAccountResponseSchema = z.strictObject({
  accountId: apiAccountIdSchema,
  deviceId: deviceIdSchema,
  selfConversationId: conversationIdSchema,
  admin: z.boolean(),
})
export type CreateAccountResponse = z.infer<typeof createAccountResponseSchema>

/** `GET /accounts/me`. */
export const meResponseSchema = z.strictObject({
  accountId: apiAccountIdSchema,
  username: usernameSchema,
  admin: z.boolean(),
  deviceId: deviceIdSchema,
  selfConversationId: conversationIdSchema,
  quotaBytes: z.number().int().min(0).nullable(),
  usedBytes: z.number().int().min(0),
})
export type MeResponse = z.infer<typeof meResponseSchema>

/** `POST /invites` (admins). */
export const createInviteRequestSchema = z.strictObject({
  expiresInHours: z.number().int().min(1).max(720).optional(),
})
export type CreateInviteRequest = z.infer<typeof createInviteRequestSchema>

export const createInviteResponseSchema = z.strictObject({
  inviteId: randomIdSchema,
  code: z.string(),
  expiresAt: timestampSchema,
})
export type CreateInviteResponse = z.infer<typeof createInviteResponseSchema>

export const inviteSummarySchema = z.strictObject({
  inviteId: randomIdSchema,
  createdAt: timestampSchema,
  expiresAt: timestampSchema,
  used: z.boolean(),
})
export const listInvitesResponseSchema = z.strictObject({ invites: z.array(inviteSummarySchema) })
export type ListInvitesResponse = z.infer<typeof listInvitesResponseSchema>

// ---------------------------------------------------------------- authentication

/** `POST /auth/challenge`. */
export const challengeRequestSchema = z.strictObject({ deviceId: deviceIdSchema })
export type ChallengeRequest = z.infer<typeof challengeRequestSchema>

export const challengeResponseSchema = z.strictObject({
  challenge: base64url(43, 43),
  expiresAt: timestampSchema,
})
export type ChallengeResponse = z.infer<typeof challengeResponseSchema>

/** The origin (scheme, host, port) the client believes it talks to, e.g. `https://airlock.example`. */
export const originSchema = z
  .string()
  .max(256)
  .regex(/^https?:\/\/[^/?#\s]+$/, 'must be an origin like https://host:port')

/**
 * `POST /auth/session`: `signature` is core's `signCanonical(device, AUTH_SIGN_CONTEXT,
 * authSignedValue(...))`, an Ed25519 signature by the device's signing key.
 */
export const sessionRequestSchema = z.strictObject({
  deviceId: deviceIdSchema,
  challenge: base64url(43, 43),
  origin: originSchema,
  signature: base64url(86, 86),
})
export type SessionRequest = z.infer<typeof sessionRequestSchema>

export const sessionResponseSchema = z.strictObject({
  token: base64url(43, 43),
  expiresAt: timestampSchema,
  accountId: apiAccountIdSchema,
  deviceId: deviceIdSchema,
})
export type SessionResponse = z.infer<typeof sessionResponseSchema>

/**
 * The value a device signs to log in, under {@link AUTH_SIGN_CONTEXT}. The origin binds the
 * signature to one server, so a look-alike server cannot relay a login to the real one.
 */
export function authSignedValue(v: { challenge: string; deviceId: string; origin: string }): Canonical {
  return { challenge: v.challenge, deviceId: v.deviceId, origin: v.origin }
}

// ---------------------------------------------------------------- device log

/** `GET /accounts/:id/log?since=seq` returns entries with `seq > since` (all when absent). */
export const logQuerySchema = z.strictObject({ since: seqQuerySchema.optional() })

/** The last entry's seq and core `entryHash`. */
export const logHeadSchema = z.strictObject({ seq: seqSchema, hash: z.string() })
export type LogHead = z.infer<typeof logHeadSchema>

export const logResponseSchema = z.strictObject({
  entries: z.array(wireLogEntrySchema),
  head: logHeadSchema,
  more: z.boolean(),
})
export type LogResponse = z.infer<typeof logResponseSchema>

/** `POST /accounts/:id/log`: one entry that must extend the current head. */
export const appendLogRequestSchema = z.strictObject({ entry: wireLogEntrySchema })
export type AppendLogRequest = z.infer<typeof appendLogRequestSchema>

export const appendLogResponseSchema = z.strictObject({ head: logHeadSchema })
export type AppendLogResponse = z.infer<typeof appendLogResponseSchema>

/** `GET /accounts/:id/devices`: the server's derived view (clients trust only the verified log). */
export const deviceSummarySchema = z.strictObject({
  deviceId: deviceIdSchema,
  active: z.boolean(),
  addedSeq: seqSchema,
  removedSeq: seqSchema.nullable(),
})
export const listDevicesResponseSchema = z.strictObject({ devices: z.array(deviceSummarySchema) })
export type ListDevicesResponse = z.infer<typeof listDevicesResponseSchema>

// ---------------------------------------------------------------- conversations

export const conversationKindSchema = z.enum(['self', 'direct', 'group'])
export type ConversationKind = z.infer<typeof conversationKindSchema>

/**
 * Where the caller stands in a conversation (consent, core's `consent.ts`): `accepted`; a direct
 * conversation someone else started that the caller has not answered (`request`), `declined` or
 * whose other account the caller `blocked`; a group the caller was put into but has not joined
 * (`invited`; clients decide that from the verified group log, never from this field).
 */
export const conversationConsentSchema = z.enum(['accepted', 'request', 'declined', 'blocked', 'invited'])
export type ConversationConsent = z.infer<typeof conversationConsentSchema>

export const conversationSchema = z.strictObject({
  conversationId: conversationIdSchema,
  kind: conversationKindSchema,
  /** As the server stores it. Clients send to the members of the group log they verified. */
  members: z.array(apiAccountIdSchema),
  lastSeq: seqSchema,
  createdAt: timestampSchema,
  /** Groups: the seq of the last group log entry; clients sync the log when it moves. */
  logSeq: seqSchema.optional(),
  /** Items sent here are deleted this long after they are sent (absent: the server's policy only). */
  retentionMs: z.number().int().min(0).optional(),
  /** Where the caller stands (absent: accepted). Items are listed and served only once accepted. */
  consent: conversationConsentSchema.optional(),
})
export type Conversation = z.infer<typeof conversationSchema>

export const listConversationsResponseSchema = z.strictObject({ conversations: z.array(conversationSchema) })
export type ListConversationsResponse = z.infer<typeof listConversationsResponseSchema>

/**
 * `POST /conversations`: a direct conversation with one other account (the existing one if the
 * two already have one), or a group, created by its signed first group log entry.
 */
export const createConversationRequestSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('direct'), members: z.array(apiAccountIdSchema).length(1) }),
  z.strictObject({ kind: z.literal('group'), entry: z.unknown() }),
])
export type CreateConversationRequest = z.infer<typeof createConversationRequestSchema>

/** `GET /accounts/lookup?username=` (find a colleague on this server) or `?accountId=` (their name). */
export const lookupQuerySchema = z.union([
  z.strictObject({ username: usernameSchema }),
  z.strictObject({ accountId: apiAccountIdSchema }),
])
export const lookupResponseSchema = z.strictObject({
  accountId: apiAccountIdSchema,
  username: usernameSchema,
})
export type LookupResponse = z.infer<typeof lookupResponseSchema>

/** `GET /conversations/:cid/log`: a group's membership log, entries with `seq > since`. */
export const groupLogResponseSchema = z.strictObject({
  entries: z.array(z.unknown()).max(1000),
  head: logHeadSchema,
  more: z.boolean(),
})
export type GroupLogResponse = z.infer<typeof groupLogResponseSchema>

/** `POST /conversations/:cid/log`: the next signed membership change. */
export const appendGroupLogRequestSchema = z.strictObject({ entry: z.unknown() })
export type AppendGroupLogRequest = z.infer<typeof appendGroupLogRequestSchema>

/** The group log's new head once the change is stored. */
export const appendGroupLogResponseSchema = z.strictObject({ head: logHeadSchema })
export type AppendGroupLogResponse = z.infer<typeof appendGroupLogResponseSchema>

// ---------------------------------------------------------------- consent (contacts)

/**
 * The caller's answer to another account (per pair, one way): `requested` is no answer yet (a
 * first direct conversation from them arrives as a request), `accepted`, `declined` (their
 * items to me are refused until I accept), `blocked` (also no new conversation or group
 * invitation from them).
 */
export const contactConsentSchema = z.enum(['requested', 'accepted', 'declined', 'blocked'])
export type ContactConsent = z.infer<typeof contactConsentSchema>

/** `POST /contacts/:id/{accept,decline,block,unblock}`: the caller's answer to that account now. */
export const contactSchema = z.strictObject({ accountId: apiAccountIdSchema, consent: contactConsentSchema })
export type Contact = z.infer<typeof contactSchema>

/** `GET /contacts`: every account the caller answered (accepted, declined or blocked). */
export const listContactsResponseSchema = z.strictObject({ contacts: z.array(contactSchema) })
export type ListContactsResponse = z.infer<typeof listContactsResponseSchema>

// ---------------------------------------------------------------- items

/**
 * `POST /conversations/:cid/items` reserves an item. `ciphertextSize` is the exact size of the
 * age blob to be uploaded (checked against the item-size limit and the quota before any byte is
 * stored). `label` is an optional opaque client tag (random, never a name): reserving again with
 * the same label from the same device returns the same live reservation (200, to resume its
 * upload after a crash or a lost response), or `ALREADY_COMMITTED` once it is committed.
 */
export const reserveItemRequestSchema = z.strictObject({
  ciphertextSize: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  manifestSize: z.number().int().min(1).max(API_LIMITS.manifestBytes).optional(),
  /**
   * A tag the client chooses to make the reservation safe to repeat: reserving again with the same
   * key (after a lost answer or a crash) returns the same live reservation, or `ALREADY_COMMITTED`.
   */
  idempotencyKey: base64url(1, 64).optional(),
  /**
   * The item's sensitivity label (one of the policy's label names): the one piece of item metadata
   * the server sees, so it can enforce the label's rules. Receivers check it equals the label in
   * the signed manifest.
   */
  sensitivity: labelNameSchema.optional(),
})
export type ReserveItemRequest = z.infer<typeof reserveItemRequestSchema>

export const reserveItemResponseSchema = z.strictObject({
  itemId: itemIdSchema,
  /** The tus upload URL of this item's blob (already created; resume with HEAD + PATCH). */
  uploadUrl: z.string(),
  /** After this time an uncommitted item and its partial blob are deleted. */
  expiresAt: timestampSchema,
})
export type ReserveItemResponse = z.infer<typeof reserveItemResponseSchema>

/** `GET /conversations/:cid/items?since=seq&limit=n`. */
export const itemsQuerySchema = z.strictObject({
  since: seqQuerySchema.optional(),
  limit: z
    .string()
    .regex(/^[1-9][0-9]{0,3}$/)
    .transform(Number)
    .pipe(z.number().int().min(1).max(API_LIMITS.itemsPerPage))
    .optional(),
})

export const committedItemSchema = z.strictObject({
  itemId: itemIdSchema,
  conversationId: conversationIdSchema,
  seq: seqSchema,
  deleted: z.literal(false),
  ciphertextSize: z.number().int().min(0),
  senderAccountId: apiAccountIdSchema,
  senderDeviceId: deviceIdSchema,
  createdAt: timestampSchema,
  /** The encrypted, signed manifest, base64url. */
  manifest: z.string(),
  /** The sensitivity label the server binds policy to (absent: none). */
  sensitivity: labelNameSchema.optional(),
  /** When retention deletes the item (absent: kept until deleted). */
  expiresAt: timestampSchema.optional(),
})
export type CommittedItem = z.infer<typeof committedItemSchema>

/** A deleted item: its new `seq` tells syncing devices to drop their copy. */
export const itemTombstoneSchema = z.strictObject({
  itemId: itemIdSchema,
  conversationId: conversationIdSchema,
  seq: seqSchema,
  deleted: z.literal(true),
})
export type ItemTombstone = z.infer<typeof itemTombstoneSchema>

export const listItemsResponseSchema = z.strictObject({
  items: z.array(z.discriminatedUnion('deleted', [committedItemSchema, itemTombstoneSchema])),
  /** True when more items follow; ask again with `since` = the last `seq`. */
  more: z.boolean(),
})
export type ListItemsResponse = z.infer<typeof listItemsResponseSchema>

/** `PUT /items/:id/manifest` (raw `application/octet-stream` body) commits the item. */
export const commitItemResponseSchema = z.strictObject({ itemId: itemIdSchema, seq: seqSchema })
export type CommitItemResponse = z.infer<typeof commitItemResponseSchema>

export const deleteItemResponseSchema = z.strictObject({ itemId: itemIdSchema, seq: seqSchema.nullable() })
export type DeleteItemResponse = z.infer<typeof deleteItemResponseSchema>

// ---------------------------------------------------------------- access log

/** `GET /items/:id/accesses?since=seq&limit=n`: the item's access chain, for its sender account. */
export const accessesQuerySchema = itemsQuerySchema

/**
 * The downloads of one item, oldest first, each a link of the item's hash chain (core's
 * `verifyAccessLog` checks it). Only the sending account may read it; it outlives a recall.
 */
export const listAccessesResponseSchema = z.strictObject({
  itemId: itemIdSchema,
  accesses: z.array(accessEntrySchema),
  /** True when more accesses follow; ask again with `since` = the last `seq`. */
  more: z.boolean(),
})
export type ListAccessesResponse = z.infer<typeof listAccessesResponseSchema>
/**
 * `PUT /conversations/:cid/retention` (any member): items sent from now on are deleted this long
 * after they are sent; null removes the conversation's own limit. Bounded by the policy's
 * `itemLifetimeMs` in effect (the shorter applies).
 */
export const setRetentionRequestSchema = z.strictObject({
  retentionMs: z
    .number()
    .int()
    .min(1000)
    .max(100 * 365 * 86_400_000)
    .nullable(),
})
export type SetRetentionRequest = z.infer<typeof setRetentionRequestSchema>

// ---------------------------------------------------------------- policy and administration

/** `GET /policy` (every signed-in device) and `PUT /admin/policy` (administrators; the whole document). */
export const policyResponseSchema = policySchema
export const putPolicyRequestSchema = policySchema

/** One account as administrators see it: no content, no names of items, only counts and sizes. */
export const adminAccountSchema = z.strictObject({
  accountId: apiAccountIdSchema,
  username: usernameSchema,
  admin: z.boolean(),
  disabled: z.boolean(),
  createdAt: timestampSchema,
  /** Active devices. */
  devices: z.number().int().min(0),
  usedBytes: z.number().int().min(0),
  /** The account's own quota, or null for the server's default. */
  quotaBytes: z.number().int().min(0).nullable(),
})
export type AdminAccount = z.infer<typeof adminAccountSchema>

/** `GET /admin/accounts`. */
export const adminAccountsResponseSchema = z.strictObject({ accounts: z.array(adminAccountSchema) })
export type AdminAccountsResponse = z.infer<typeof adminAccountsResponseSchema>

/**
 * `PATCH /admin/accounts/:id`: disable or enable (a disabled account cannot log in, its sessions
 * end and its push sockets close), and set its quota (null: the server's default).
 */
export const adminUpdateAccountRequestSchema = z
  .strictObject({
    disabled: z.boolean().optional(),
    quotaBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  })
  .refine((b) => b.disabled !== undefined || b.quotaBytes !== undefined, 'nothing to change')
export type AdminUpdateAccountRequest = z.infer<typeof adminUpdateAccountRequestSchema>

// ---------------------------------------------------------------- share links

/**
 * Share links (core `share.ts`): the owner re-encrypts items it can read to a per-link key and
 * uploads them as new blobs. The server learns which items a link was made from (to enforce
 * policy), sizes, expiry and the download count; never a key, a name or the fragment.
 */
export const SHARE_LIMITS = {
  /** Files (source items) in one link. */
  files: 100,
  /** Largest `maxDownloads`; null means unlimited. */
  maxDownloads: 1_000_000,
  /** A download session's lifetime, renewed by each blob request (ms). */
  sessionMs: 60 * 60_000,
} as const

export const shareIdSchema = randomIdSchema
/** A download session token (32 random bytes, base64url), sent in {@link SHARE_SESSION_HEADER}. */
export const shareSessionSchema = base64url(43, 43)
export const SHARE_SESSION_HEADER = 'airlock-share-session'

/**
 * `POST /shares`: a link over `itemIds` (items the caller can read), one blob per item with its
 * exact ciphertext size. `expiresInSeconds` defaults to 7 days and may not pass the server's
 * maximum; `maxDownloads` null (the default) is unlimited.
 */
export const createShareRequestSchema = z.strictObject({
  itemIds: z
    .array(itemIdSchema)
    .min(1)
    .max(SHARE_LIMITS.files)
    .refine((ids) => new Set(ids).size === ids.length, 'item ids must be unique'),
  ciphertextSizes: z
    .array(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER))
    .min(1)
    .max(SHARE_LIMITS.files),
  expiresInSeconds: z
    .number()
    .int()
    .min(1)
    .max(10 * 365 * 86400)
    .optional(),
  maxDownloads: z.number().int().min(1).max(SHARE_LIMITS.maxDownloads).nullable().optional(),
})
export type CreateShareRequest = z.infer<typeof createShareRequestSchema>

export const createShareResponseSchema = z.strictObject({
  shareId: shareIdSchema,
  expiresAt: timestampSchema,
  /** One upload per file, in the order of `itemIds` (tus HEAD + PATCH, like item uploads). */
  uploads: z.array(z.strictObject({ blobId: randomIdSchema, uploadUrl: z.string() })),
})
export type CreateShareResponse = z.infer<typeof createShareResponseSchema>

export const shareStateSchema = z.enum(['uploading', 'active', 'revoked', 'expired', 'exhausted'])
export type ShareState = z.infer<typeof shareStateSchema>

/** What the owner sees of a link (`GET /shares`, and the answers to commit and revoke). */
export const shareSummarySchema = z.strictObject({
  shareId: shareIdSchema,
  state: shareStateSchema,
  itemIds: z.array(itemIdSchema),
  createdAt: timestampSchema,
  expiresAt: timestampSchema,
  maxDownloads: z.number().int().min(1).nullable(),
  downloads: z.number().int().min(0),
  ciphertextSize: z.number().int().min(0),
})
export type ShareSummary = z.infer<typeof shareSummarySchema>

export const listSharesResponseSchema = z.strictObject({ shares: z.array(shareSummarySchema) })
export type ListSharesResponse = z.infer<typeof listSharesResponseSchema>

/**
 * One share link as administrators see it (`GET /admin/shares`): its owner, dates, download
 * count and state; never the items it was made from, a name, a key or a manifest. `suspended`:
 * active, but its owner's account is disabled, so it answers 410 until the account is enabled.
 */
export const adminShareSchema = z.strictObject({
  shareId: shareIdSchema,
  accountId: apiAccountIdSchema,
  username: usernameSchema,
  state: z.enum([...shareStateSchema.options, 'suspended']),
  createdAt: timestampSchema,
  expiresAt: timestampSchema,
  maxDownloads: z.number().int().min(1).nullable(),
  downloads: z.number().int().min(0),
  files: z.number().int().min(0),
  ciphertextSize: z.number().int().min(0),
})
export type AdminShare = z.infer<typeof adminShareSchema>

/** `GET /admin/shares`: every account's share links, newest first (the newest 1000). */
export const adminSharesResponseSchema = z.strictObject({ shares: z.array(adminShareSchema) })
export type AdminSharesResponse = z.infer<typeof adminSharesResponseSchema>

/**
 * `GET /public/shares/:id` (no account): the sealed share manifest and the file sizes. 410 `GONE`
 * once the link is expired, exhausted or revoked. Reading it does not count as a download.
 */
export const publicShareResponseSchema = z.strictObject({
  shareId: shareIdSchema,
  manifest: z.string(),
  files: z.array(z.strictObject({ ciphertextSize: z.number().int().min(0) })),
  expiresAt: timestampSchema,
  /** Downloads left, or null for unlimited. */
  downloadsLeft: z.number().int().min(0).nullable(),
})
export type PublicShareResponse = z.infer<typeof publicShareResponseSchema>

/**
 * `POST /public/shares/:id/open`: one download. The session it returns lets its holder fetch the
 * link's blobs (ranges included, to resume) until it ends (`POST …/close`) or idles for an hour.
 */
export const openShareResponseSchema = z.strictObject({
  session: shareSessionSchema,
  expiresAt: timestampSchema,
})
export type OpenShareResponse = z.infer<typeof openShareResponseSchema>

// ---------------------------------------------------------------- device linking mailbox

const linkMessageSchema = base64url(1, API_LIMITS.linkMessageChars)
/** The new device's mailbox secret (never in a URL). */
const linkSecretSchema = base64url(43, 43)

/** `POST /link` (no authentication): the new device opens a mailbox. */
export const linkCreateResponseSchema = z.strictObject({
  mailboxId: mailboxIdSchema,
  /** Four digits naming the open mailbox: the first part of core's short linking code. */
  nameplate: z.string().regex(/^[0-9]{4}$/),
  /** Proves the new device's side in later calls; keep it private. */
  secret: linkSecretSchema,
  expiresAt: timestampSchema,
})
export type LinkCreateResponse = z.infer<typeof linkCreateResponseSchema>

/** `POST /link/join` (authenticated existing device), by id or by nameplate. */
export const linkJoinRequestSchema = z.union([
  z.strictObject({ mailboxId: mailboxIdSchema }),
  z.strictObject({ nameplate: z.string().regex(/^[0-9]{4}$/) }),
])
export type LinkJoinRequest = z.infer<typeof linkJoinRequestSchema>

export const linkJoinResponseSchema = z.strictObject({
  mailboxId: mailboxIdSchema,
  expiresAt: timestampSchema,
})
export type LinkJoinResponse = z.infer<typeof linkJoinResponseSchema>

/**
 * `POST /link/send`: the new device proves its side with `secret`; the existing device with its
 * bearer token (and no `secret`).
 */
export const linkSendRequestSchema = z.strictObject({
  mailboxId: mailboxIdSchema,
  secret: linkSecretSchema.optional(),
  body: linkMessageSchema,
})
export type LinkSendRequest = z.infer<typeof linkSendRequestSchema>

export const linkSendResponseSchema = z.strictObject({ index: z.number().int().min(0) })

/** `POST /link/receive`: the other side's messages with `index > after`, waiting up to `waitMs`. */
export const linkReceiveRequestSchema = z.strictObject({
  mailboxId: mailboxIdSchema,
  secret: linkSecretSchema.optional(),
  after: z.number().int().min(-1).max(1000).default(-1),
  waitMs: z.number().int().min(0).max(API_LIMITS.linkWaitMs).default(0),
})
export type LinkReceiveRequest = z.input<typeof linkReceiveRequestSchema>

export const linkStateSchema = z.enum(['open', 'joined', 'closed', 'burnt'])
export const linkReceiveResponseSchema = z.strictObject({
  state: linkStateSchema,
  messages: z.array(z.strictObject({ index: z.number().int().min(0), body: z.string() })),
})
export type LinkReceiveResponse = z.infer<typeof linkReceiveResponseSchema>

/** `POST /link/close`: `done` closes the mailbox, `failed` burns it (e.g. the PAKE failed). */
export const linkCloseRequestSchema = z.strictObject({
  mailboxId: mailboxIdSchema,
  secret: linkSecretSchema.optional(),
  outcome: z.enum(['done', 'failed']),
})
export type LinkCloseRequest = z.infer<typeof linkCloseRequestSchema>

// ---------------------------------------------------------------- push (WebSocket /push)

/** Messages a client sends. The first must be `auth`; the token never goes in the URL. */
export const pushClientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auth'), token: base64url(43, 43) }),
  z.strictObject({ type: z.literal('ping') }),
])
export type PushClientMessage = z.infer<typeof pushClientMessageSchema>

/** Events about data: a new item, a deletion, a device-log change. Clients catch up by `seq`. */
export const pushEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('item'), conversationId: conversationIdSchema, seq: seqSchema }),
  z.strictObject({ type: z.literal('delete'), conversationId: conversationIdSchema, seq: seqSchema }),
  z.strictObject({ type: z.literal('log'), accountId: apiAccountIdSchema, seq: seqSchema }),
  z.strictObject({ type: z.literal('members'), conversationId: conversationIdSchema, seq: seqSchema }),
  /**
   * A direct conversation I have not accepted was started or got an item: a request to show
   * apart, never an item notification (its items are not served to me until I accept).
   */
  z.strictObject({ type: z.literal('request'), conversationId: conversationIdSchema }),
  /**
   * A device reserved an item and is uploading it: members may start following it with
   * `GET /items/:id/live`, and only release it once it is committed and its manifest verifies.
   */
  z.strictObject({
    type: z.literal('upload'),
    conversationId: conversationIdSchema,
    itemId: itemIdSchema,
    deviceId: deviceIdSchema,
  }),
])
export type PushEvent = z.infer<typeof pushEventSchema>

/** Messages the server sends: `ready` after a good `auth`, events, `pong`, and `error` before closing. */
export const pushServerMessageSchema = z.union([
  pushEventSchema,
  z.strictObject({ type: z.literal('ready'), deviceId: deviceIdSchema }),
  z.strictObject({ type: z.literal('pong') }),
  z.strictObject({ type: z.literal('error'), code: apiErrorCodeSchema, message: z.string() }),
])
export type PushServerMessage = z.infer<typeof pushServerMessageSchema>

/** WebSocket close codes the push endpoint uses. */
export const PUSH_CLOSE = {
  /** No or bad `auth` message, or the session expired or was revoked: log in again. */
  unauthenticated: 4401,
  /** A malformed message. */
  badMessage: 4400,
  /** The server is shutting down: reconnect later. */
  goingAway: 1001,
} as const
