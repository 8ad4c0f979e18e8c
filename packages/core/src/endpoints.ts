import { z } from 'zod'
import {
  accessesQuerySchema,
  adminAccountSchema,
  adminAccountsResponseSchema,
  adminShareSchema,
  adminSharesResponseSchema,
  adminUpdateAccountRequestSchema,
  apiAccountIdSchema,
  appendGroupLogRequestSchema,
  appendGroupLogResponseSchema,
  appendLogRequestSchema,
  appendLogResponseSchema,
  challengeRequestSchema,
  challengeResponseSchema,
  commitItemResponseSchema,
  committedItemSchema,
  contactSchema,
  conversationIdSchema,
  conversationSchema,
  createAccountRequestSchema,
  createAccountResponseSchema,
  createConversationRequestSchema,
  createInviteRequestSchema,
  createInviteResponseSchema,
  createShareRequestSchema,
  createShareResponseSchema,
  deleteItemResponseSchema,
  groupLogResponseSchema,
  healthResponseSchema,
  itemIdSchema,
  itemsQuerySchema,
  linkCloseRequestSchema,
  linkCreateResponseSchema,
  linkJoinRequestSchema,
  linkJoinResponseSchema,
  linkReceiveRequestSchema,
  linkReceiveResponseSchema,
  linkSendRequestSchema,
  linkSendResponseSchema,
  listAccessesResponseSchema,
  listContactsResponseSchema,
  listConversationsResponseSchema,
  listDevicesResponseSchema,
  listInvitesResponseSchema,
  listItemsResponseSchema,
  listSharesResponseSchema,
  logQuerySchema,
  logResponseSchema,
  lookupQuerySchema,
  lookupResponseSchema,
  meResponseSchema,
  openShareResponseSchema,
  policyResponseSchema,
  publicShareResponseSchema,
  pushClientMessageSchema,
  pushServerMessageSchema,
  putPolicyRequestSchema,
  randomIdSchema,
  readinessResponseSchema,
  reserveItemRequestSchema,
  reserveItemResponseSchema,
  SHARE_LIMITS,
  SHARE_SESSION_HEADER,
  sessionRequestSchema,
  sessionResponseSchema,
  setRetentionRequestSchema,
  shareIdSchema,
  shareSummarySchema,
} from './api.js'

/**
 * Every HTTP endpoint of the Airlock server, in one table: method, path, the zod schemas of its
 * path parameters, query, body and response, who may call it, and one sentence on what it does.
 * The server parses its inputs with these schemas, clients call through `callEndpoint`, and
 * `packages/server/API.md` is generated from it (`npm run api-doc`), so the three cannot drift.
 */

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS'

/**
 * Who may call an endpoint:
 * - `anonymous`: anyone; no bearer token is sent.
 * - `device`: an active device's session (`Authorization: Bearer <token>`); the route decides what
 *   the account may see (not yours is `NOT_FOUND`).
 * - `admin`: a device session of an administrator account.
 * - `share-session`: no account; a share link's download session in the
 *   `Airlock-Share-Session` header.
 * - `mailbox`: a linking mailbox's two sides: the new device by the mailbox `secret` in the body,
 *   the existing device that joined it by its session.
 */
export type EndpointAuth = 'anonymous' | 'device' | 'admin' | 'share-session' | 'mailbox'

/** A JSON body (its schema), raw bytes sent whole (`application/octet-stream`), or a streamed body. */
export type EndpointBody = z.ZodType | 'bytes' | 'stream'

/**
 * A JSON response (its schema), raw bytes the caller streams, no body of interest (its status and
 * headers are the answer), or a WebSocket upgrade.
 */
export type EndpointResponse = z.ZodType | 'bytes' | 'none' | 'websocket'

export interface Endpoint {
  readonly method: HttpMethod
  /** Below `API_PREFIX` (`/accounts/:id/log`), or absolute when `outsideApi` (`/healthz`). */
  readonly path: string
  readonly outsideApi?: boolean
  /** One key per `:name` in `path`. */
  readonly params?: z.ZodObject
  readonly query?: z.ZodType
  readonly request?: EndpointBody
  readonly response: EndpointResponse
  /** The status of a successful answer. */
  readonly status: number
  readonly auth: EndpointAuth
  /** A WebSocket's messages each way. */
  readonly messages?: { readonly client: z.ZodType; readonly server: z.ZodType }
  /** What the endpoint does, for people (API.md). */
  readonly summary: string
}

const accountParams = z.strictObject({ id: apiAccountIdSchema })
const conversationParams = z.strictObject({ cid: conversationIdSchema })
const itemParams = z.strictObject({ id: itemIdSchema })
const shareParams = z.strictObject({ id: shareIdSchema })
/** A share link's file by its index in the link, from 0. */
const shareFileParams = z.strictObject({
  id: shareIdSchema,
  n: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,2})$/, 'must be a file index')
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(0)
        .max(SHARE_LIMITS.files - 1),
    ),
})
/** An upload is named by the blob it fills: an item id, or a share link's blob id. */
const uploadParams = z.strictObject({ id: randomIdSchema })

/** The table. Names are what clients call (`callEndpoint`); API.md places them in its own order. */
export const ENDPOINTS = {
  // ---------------------------------------------------------------- health (outside /api/v1)
  health: {
    method: 'GET',
    path: '/healthz',
    outsideApi: true,
    response: healthResponseSchema,
    status: 200,
    auth: 'anonymous',
    summary: 'Liveness: answers while the database answers.',
  },
  ready: {
    method: 'GET',
    path: '/readyz',
    outsideApi: true,
    response: readinessResponseSchema,
    status: 200,
    auth: 'anonymous',
    summary:
      'Readiness, for load balancers: `ok: true` when the database and the blob store both answer, else `503` with `ok: false`.',
  },

  // ---------------------------------------------------------------- accounts and invites
  createAccount: {
    method: 'POST',
    path: '/accounts',
    request: createAccountRequestSchema,
    response: createAccountResponseSchema,
    status: 201,
    auth: 'anonymous',
    summary:
      'Creates an account, its first device and its `self` conversation at once, from a single-use setup code (the first account, an administrator) or invite code. `genesis` is core `createGenesis(accountId, device)`; its `account` is the new account id, and the server verifies its self-signature.',
  },
  me: {
    method: 'GET',
    path: '/accounts/me',
    response: meResponseSchema,
    status: 200,
    auth: 'device',
    summary: 'The calling account and device, with the quota in effect and the bytes used.',
  },
  createInvite: {
    method: 'POST',
    path: '/invites',
    request: createInviteRequestSchema,
    response: createInviteResponseSchema,
    status: 201,
    auth: 'device',
    summary:
      'An invite code (valid 72 hours by default). Administrators only, unless the policy lets everyone invite. The only time the code is shown: the server keeps its hash.',
  },
  listInvites: {
    method: 'GET',
    path: '/invites',
    response: listInvitesResponseSchema,
    status: 200,
    auth: 'device',
    summary: 'The invites this account created (no codes). Same rule as creating one.',
  },

  // ---------------------------------------------------------------- login
  authChallenge: {
    method: 'POST',
    path: '/auth/challenge',
    request: challengeRequestSchema,
    response: challengeResponseSchema,
    status: 200,
    auth: 'anonymous',
    summary:
      'A login challenge: 32 random bytes, valid 60 s, single use. Unknown and removed devices get one too (it just never works).',
  },
  createSession: {
    method: 'POST',
    path: '/auth/session',
    request: sessionRequestSchema,
    response: sessionResponseSchema,
    status: 200,
    auth: 'anonymous',
    summary:
      'Logs in with the signed challenge (see Login above). The challenge is consumed by the first attempt, right or wrong.',
  },
  deleteSession: {
    method: 'DELETE',
    path: '/auth/session',
    response: 'none',
    status: 204,
    auth: 'device',
    summary: 'Logs out: ends the calling session at once.',
  },

  // ---------------------------------------------------------------- device log
  getDeviceLog: {
    method: 'GET',
    path: '/accounts/:id/log',
    params: accountParams,
    query: logQuerySchema,
    response: logResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      "The account's device-log entries with `seq > since` (all when absent), at most 1000 per page, exactly as stored. Any signed-in account may read any account's log (public keys and device names: colleagues pin it); clients trust it only through their own verification and pins.",
  },
  appendDeviceLog: {
    method: 'POST',
    path: '/accounts/:id/log',
    params: accountParams,
    request: appendLogRequestSchema,
    response: appendLogResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      "Appends an `add` or `remove` entry to the caller's own log. It must extend the current head (`seq = head.seq + 1`, `prev = head.hash`, else `409 STALE_HEAD`, checked again inside the write transaction) and verify against the stored log (`400 INVALID_LOG_ENTRY`). The derived device list changes in the same transaction; a removed device's sessions end and every device of the account gets a `log` push event.",
  },
  listDevices: {
    method: 'GET',
    path: '/accounts/:id/devices',
    params: accountParams,
    response: listDevicesResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      "The server's derived view of an account's devices, for display (clients trust only the verified log). The account itself and accounts sharing a conversation with it.",
  },

  // ---------------------------------------------------------------- conversations
  lookupAccount: {
    method: 'GET',
    path: '/accounts/lookup',
    query: lookupQuerySchema,
    response: lookupResponseSchema,
    status: 200,
    auth: 'device',
    summary: "Finds a colleague on this server by `username`, or an account's name by `accountId`.",
  },
  listConversations: {
    method: 'GET',
    path: '/conversations',
    response: listConversationsResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      "The caller's conversations, each with where the caller stands (`consent`: requests, declined, blocked, group invitations); every account has its `self` conversation.",
  },
  createConversation: {
    method: 'POST',
    path: '/conversations',
    request: createConversationRequestSchema,
    response: conversationSchema,
    status: 201,
    auth: 'device',
    summary:
      'A `direct` conversation with one other account (`200` with the existing one if the two already have one), or a `group`, created by its signed first group-log entry (core `group-log.ts`), which the server verifies like any client.',
  },
  getConversation: {
    method: 'GET',
    path: '/conversations/:cid',
    params: conversationParams,
    response: conversationSchema,
    status: 200,
    auth: 'device',
    summary: 'One conversation, with its own retention if it has one (members only).',
  },
  setRetention: {
    method: 'PUT',
    path: '/conversations/:cid/retention',
    params: conversationParams,
    request: setRetentionRequestSchema,
    response: conversationSchema,
    status: 200,
    auth: 'device',
    summary:
      "Any member sets how long items sent from now on are kept (null removes the conversation's own limit); the policy's item lifetime still caps it.",
  },
  getGroupLog: {
    method: 'GET',
    path: '/conversations/:cid/log',
    params: conversationParams,
    query: logQuerySchema,
    response: groupLogResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      "A group's signed membership log, entries with `seq > since`, at most 1000 per page (members only; `404` for a conversation that is not a group).",
  },
  appendGroupLog: {
    method: 'POST',
    path: '/conversations/:cid/log',
    params: conversationParams,
    request: appendGroupLogRequestSchema,
    response: appendGroupLogResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      'The next signed membership change of a group, signed by the calling device at a device-log position the server holds (`400 INVALID_GROUP_ENTRY` otherwise, `409 STALE_HEAD` if it does not extend the head, `403 BLOCKED` for adding someone who blocked the signer). An invited member accepts with a `join` entry and declines by removing themselves. Everyone who was or is now a member gets a `members` push event.',
  },

  // ---------------------------------------------------------------- consent
  listContacts: {
    method: 'GET',
    path: '/contacts',
    response: listContactsResponseSchema,
    status: 200,
    auth: 'device',
    summary: "The caller's answers to other accounts: accepted, declined or blocked.",
  },
  acceptContact: {
    method: 'POST',
    path: '/contacts/:id/accept',
    params: accountParams,
    response: contactSchema,
    status: 200,
    auth: 'device',
    summary:
      "Accepts the account's request: its direct conversation's items are listed and served to the caller, and pushed as items.",
  },
  declineContact: {
    method: 'POST',
    path: '/contacts/:id/decline',
    params: accountParams,
    response: contactSchema,
    status: 200,
    auth: 'device',
    summary:
      "Declines the account's request: its items to the caller are refused (`403 NOT_ACCEPTED`) until the caller accepts.",
  },
  blockContact: {
    method: 'POST',
    path: '/contacts/:id/block',
    params: accountParams,
    response: contactSchema,
    status: 200,
    auth: 'device',
    summary:
      "Blocks the account: the server refuses its direct conversations, items and group invitations to the caller, and the caller's items to it (`403 BLOCKED`).",
  },
  unblockContact: {
    method: 'POST',
    path: '/contacts/:id/unblock',
    params: accountParams,
    response: contactSchema,
    status: 200,
    auth: 'device',
    summary:
      'Removes a block (or any answer): the account is back to `requested`, its next item a request again.',
  },

  // ---------------------------------------------------------------- items
  reserveItem: {
    method: 'POST',
    path: '/conversations/:cid/items',
    params: conversationParams,
    request: reserveItemRequestSchema,
    response: reserveItemResponseSchema,
    status: 201,
    auth: 'device',
    summary:
      "Reserves an item (step 1). The item-size limit, the account's quota and the policy's rules for the `sensitivity` label are checked on the declared sizes before a byte is stored. `uploadUrl` is `/api/v1/uploads/<itemId>`, a tus upload that already exists with `Upload-Length = ciphertextSize`. With an `idempotencyKey`, a retry from the same device gets the same live reservation back (`200`), or `409 ALREADY_COMMITTED`. Members get an `upload` push event.",
  },
  listItems: {
    method: 'GET',
    path: '/conversations/:cid/items',
    params: conversationParams,
    query: itemsQuerySchema,
    response: listItemsResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      'Committed items and tombstones with `seq > since` (default 0), ascending, `limit` 1–500 (default 100); members only. An item past its retention is left out at once.',
  },
  getItem: {
    method: 'GET',
    path: '/items/:id',
    params: itemParams,
    response: committedItemSchema,
    status: 200,
    auth: 'device',
    summary: 'One committed item (members of its conversation).',
  },
  commitItem: {
    method: 'PUT',
    path: '/items/:id/manifest',
    params: itemParams,
    request: 'bytes',
    response: commitItemResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      "Commits the item (step 3) with its encrypted, signed manifest as the raw body (1 byte to `--max-manifest-size`, default 8 MiB), only once the whole blob is stored (`409 UPLOAD_INCOMPLETE` before). Only then does the item get the conversation's next `seq` and become listed, downloadable and pushed (`item` event). The reserving device only.",
  },
  downloadItem: {
    method: 'GET',
    path: '/items/:id/blob',
    params: itemParams,
    response: 'bytes',
    status: 200,
    auth: 'device',
    summary:
      'The ciphertext (`Accept-Ranges: bytes`, `Cache-Control: no-store`). One `Range: bytes=a-b | a- | -n` gives `206` with `Content-Range`; a range starting past the end gives `416`; several ranges or a malformed header give the whole blob. `HEAD` works too. A download (a request from byte 0) is recorded in the access log before its first byte is sent; one that cannot be recorded is not served.',
  },
  followUpload: {
    method: 'GET',
    path: '/items/:id/live',
    params: itemParams,
    response: 'bytes',
    status: 200,
    auth: 'device',
    summary:
      "The blob of an item still being uploaded, from its first byte, as it arrives: the response declares the full length and ends when the upload completes, or breaks off if it is abandoned or stalls. Nothing here is an item yet: keep it private until the item is committed and its manifest verifies. Recorded as a download. `409` when the server's blob store cannot stream, `429` when too many uploads are followed.",
  },
  deleteItem: {
    method: 'DELETE',
    path: '/items/:id',
    params: itemParams,
    response: deleteItemResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      "Recalls a committed item (the sender's account; other members get `403`): the blob is deleted, the manifest erased, its share links revoked, and a tombstone with a new `seq` is listed (members get a `delete` push event). On a reservation it cancels the upload at once (`seq: null`, no tombstone).",
  },
  listAccesses: {
    method: 'GET',
    path: '/items/:id/accesses',
    params: itemParams,
    query: accessesQuerySchema,
    response: listAccessesResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      "The item's access log (see Access log), ascending, `limit` default 500. The sending account only (any of its devices), also after a recall; other members get `403`, everyone else `404`.",
  },

  // ---------------------------------------------------------------- uploads (tus 1.0)
  tusOptions: {
    method: 'OPTIONS',
    path: '/uploads',
    response: 'none',
    status: 204,
    auth: 'anonymous',
    summary: "tus discovery: the server's version, extensions and maximum size.",
  },
  tusCreate: {
    method: 'POST',
    path: '/uploads',
    request: 'stream',
    response: 'none',
    status: 201,
    auth: 'device',
    summary:
      "tus creation, accepted while an item's upload is still empty: `Upload-Metadata: itemId <base64>` names a reservation of this device, `Upload-Length` equals its declared size. Reserving already creates the upload, so clients normally only `HEAD` and `PATCH`.",
  },
  tusOffset: {
    method: 'HEAD',
    path: '/uploads/:id',
    params: uploadParams,
    response: 'none',
    status: 200,
    auth: 'device',
    summary:
      '`Upload-Offset` (the bytes stored) and `Upload-Length`. Also answers after the item is committed, for a device that lost track of a finished upload.',
  },
  tusAppend: {
    method: 'PATCH',
    path: '/uploads/:id',
    params: uploadParams,
    request: 'stream',
    response: 'none',
    status: 204,
    auth: 'device',
    summary:
      'Appends bytes at `Upload-Offset` (`Tus-Resumable: 1.0.0`, `Content-Type: application/offset+octet-stream`); answers the new `Upload-Offset`. `409` unless the offset equals the stored size, `413` past the declared length.',
  },

  // ---------------------------------------------------------------- share links (owner)
  createShare: {
    method: 'POST',
    path: '/shares',
    request: createShareRequestSchema,
    response: createShareResponseSchema,
    status: 201,
    auth: 'device',
    summary:
      "A share link over items the caller can read (`404` otherwise), one blob per item with its exact ciphertext size. `expiresInSeconds` defaults to 7 days and may not pass `--max-share-days` or the policy's longest lifetime; `maxDownloads` null or absent is unlimited. Share blobs count against the quota until they are deleted.",
  },
  commitShare: {
    method: 'PUT',
    path: '/shares/:id/manifest',
    params: shareParams,
    request: 'bytes',
    response: shareSummarySchema,
    status: 200,
    auth: 'device',
    summary:
      'Commits the link with its sealed share manifest as the raw body, once every blob is complete (`409 UPLOAD_INCOMPLETE` before). The creating device only.',
  },
  listShares: {
    method: 'GET',
    path: '/shares',
    response: listSharesResponseSchema,
    status: 200,
    auth: 'device',
    summary: "The account's share links, newest first (any of its devices).",
  },
  revokeShare: {
    method: 'DELETE',
    path: '/shares/:id',
    params: shareParams,
    response: shareSummarySchema,
    status: 200,
    auth: 'device',
    summary: 'Revokes a link of the account: download sessions end and its blobs are deleted at once.',
  },

  // ---------------------------------------------------------------- share links (public)
  getPublicShare: {
    method: 'GET',
    path: '/public/shares/:id',
    params: shareParams,
    response: publicShareResponseSchema,
    status: 200,
    auth: 'anonymous',
    summary:
      'The sealed share manifest and the file sizes. Does not count as a download (a wrong passphrase costs nothing).',
  },
  openShare: {
    method: 'POST',
    path: '/public/shares/:id/open',
    params: shareParams,
    response: openShareResponseSchema,
    status: 200,
    auth: 'anonymous',
    summary: `One download: a session (only its hash is stored) for the \`${SHARE_SESSION_HEADER}\` header of the next calls, lasting an hour from its last use.`,
  },
  downloadShareFile: {
    method: 'GET',
    path: '/public/shares/:id/blobs/:n',
    params: shareFileParams,
    response: 'bytes',
    status: 200,
    auth: 'share-session',
    summary:
      "File `n`'s ciphertext, with `Range` as for items, so an interrupted download resumes without using another download.",
  },
  closeShare: {
    method: 'POST',
    path: '/public/shares/:id/close',
    params: shareParams,
    response: 'none',
    status: 204,
    auth: 'share-session',
    summary: 'Ends the download session.',
  },

  // ---------------------------------------------------------------- device-linking mailbox
  createMailbox: {
    method: 'POST',
    path: '/link',
    response: linkCreateResponseSchema,
    status: 201,
    auth: 'anonymous',
    summary:
      "The new device opens a mailbox. `nameplate` is 4 digits naming it (the first part of core's short code); `secret` proves the new device's side in later calls (keep it; only its hash is stored).",
  },
  joinMailbox: {
    method: 'POST',
    path: '/link/join',
    request: linkJoinRequestSchema,
    response: linkJoinResponseSchema,
    status: 200,
    auth: 'device',
    summary:
      'The existing device joins, by id or by nameplate. Idempotent for the same device; a second device joining burns the mailbox (`410`).',
  },
  sendLinkMessage: {
    method: 'POST',
    path: '/link/send',
    request: linkSendRequestSchema,
    response: linkSendResponseSchema,
    status: 200,
    auth: 'mailbox',
    summary: 'Posts one message (≤ 16 KiB of base64url; 8 per side).',
  },
  receiveLinkMessages: {
    method: 'POST',
    path: '/link/receive',
    request: linkReceiveRequestSchema,
    response: linkReceiveResponseSchema,
    status: 200,
    auth: 'mailbox',
    summary:
      "The other side's messages with `index > after`. Long-poll: answers as soon as a message arrives or the state changes (e.g. the existing device joined), or after `waitMs`.",
  },
  closeMailbox: {
    method: 'POST',
    path: '/link/close',
    request: linkCloseRequestSchema,
    response: 'none',
    status: 204,
    auth: 'mailbox',
    summary:
      '`done` closes the mailbox, `failed` burns it (e.g. the PAKE did not confirm). Afterwards every call answers `410`.',
  },

  // ---------------------------------------------------------------- push
  push: {
    method: 'GET',
    path: '/push',
    response: 'websocket',
    messages: { client: pushClientMessageSchema, server: pushServerMessageSchema },
    status: 101,
    auth: 'device',
    summary:
      'A WebSocket per device; the session token goes in the first message, never in the URL (the steps below).',
  },

  // ---------------------------------------------------------------- policy and administration
  getPolicy: {
    method: 'GET',
    path: '/policy',
    response: policyResponseSchema,
    status: 200,
    auth: 'device',
    summary: "The organisation's policy, so a client can refuse a forbidden action before sending anything.",
  },
  putPolicy: {
    method: 'PUT',
    path: '/admin/policy',
    request: putPolicyRequestSchema,
    response: policyResponseSchema,
    status: 200,
    auth: 'admin',
    summary: 'Replaces the whole policy document.',
  },
  adminListAccounts: {
    method: 'GET',
    path: '/admin/accounts',
    response: adminAccountsResponseSchema,
    status: 200,
    auth: 'admin',
    summary: 'Every account with counts and sizes; never content, item ids or names of items.',
  },
  adminUpdateAccount: {
    method: 'PATCH',
    path: '/admin/accounts/:id',
    params: accountParams,
    request: adminUpdateAccountRequestSchema,
    response: adminAccountSchema,
    status: 200,
    auth: 'admin',
    summary:
      "Disables or enables an account (a disabled account cannot log in, its sessions end and its push sockets close; not one's own: `409`) and sets its quota (null: the server's default).",
  },
  adminListShares: {
    method: 'GET',
    path: '/admin/shares',
    response: adminSharesResponseSchema,
    status: 200,
    auth: 'admin',
    summary:
      "Every account's share links, newest first: owner, dates, downloads, state (`suspended` while the owner is disabled); never item ids, names or keys.",
  },
  adminRevokeShare: {
    method: 'DELETE',
    path: '/admin/shares/:id',
    params: shareParams,
    response: adminShareSchema,
    status: 200,
    auth: 'admin',
    summary: "Revokes any account's share link: its download sessions end and its blobs are deleted at once.",
  },
} as const satisfies Record<string, Endpoint>

/** The name of an endpoint of {@link ENDPOINTS}. */
export type EndpointName = keyof typeof ENDPOINTS
