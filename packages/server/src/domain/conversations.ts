import {
  AirlockError,
  API_LIMITS,
  type CheckGroupSigner,
  type Conversation,
  type CreateConversationRequest,
  conversationIdSchema,
  extendGroupLog,
  GROUP_LOG_CONTEXT,
  GROUP_LOG_VERSION,
  type GroupEntry,
  type GroupLogResponse,
  groupEntryHash,
  type VerifiedGroup,
  verifyCanonical,
  verifyGroupLog,
} from '@airlock/core'
import type { AppContext } from '../context.js'
import { ForbiddenError, InvalidBodyError, NotFoundError, ServerError } from '../errors.js'
import type { ConversationRecord, GroupLogRecord, GroupState } from '../storage/metadata/conversations.js'
import { randomId } from '../tokens.js'
import { announceRequest, checkInvitations, standingIn, startDirect } from './consent.js'
import type { Auth } from './sessions.js'

/**
 * Conversations: every account has its `self` conversation from the start; a `direct` one is
 * unique per pair of accounts; a `group` is defined by its signed membership log (core
 * `group-log.ts`), which the server verifies like any client before it changes who may read the
 * group's items. Only members see a conversation; only those who accepted it (`consent.ts`) see
 * its items.
 */

/**
 * The conversation `id` if the caller's account is a member (also one who has not accepted it
 * yet: a request, a group invitation); else `NOT_FOUND`.
 */
export async function memberConversation(
  ctx: AppContext,
  auth: Auth,
  id: string,
): Promise<ConversationRecord> {
  const c = await ctx.store.conversations.getConversation(id)
  if (!c?.members.includes(auth.accountId)) throw new NotFoundError()
  return c
}

/**
 * `FORBIDDEN` unless `accountId` may add an item to `c` now: it is still a member (a removed
 * member's reservation is refused at commit). Blocks (consent) refuse here too once they exist.
 */
export function requirePoster(c: ConversationRecord, accountId: string): void {
  if (!c.members.includes(accountId))
    throw new ForbiddenError('you are no longer a member of this conversation')
  // Consent: an account another member has blocked is refused here as well (not landed yet).
}

/** The caller's conversations, oldest first. */
export async function listConversations(ctx: AppContext, auth: Auth): Promise<Conversation[]> {
  const out: Conversation[] = []
  for (const c of await ctx.store.conversations.listConversations(auth.accountId))
    out.push(await toWire(ctx, c, auth.accountId))
  return out
}

/** A member's view of a conversation, with its retention if one is set. */
export async function describeConversation(
  ctx: AppContext,
  auth: Auth,
  c: ConversationRecord,
): Promise<Conversation & { retentionMs?: number }> {
  const retentionMs = await ctx.store.conversations.getConversationRetention(c.id)
  return { ...(await toWire(ctx, c, auth.accountId)), ...(retentionMs === null ? {} : { retentionMs }) }
}

/**
 * Sets how long items sent to `c` from now on are kept (the policy's lifetime and a label's
 * maximum still cap it). Retention deletes other people's items, so it is decided by whoever
 * governs the conversation: in my own conversation, me; in a group, its owner or an admin (as the
 * verified group log has them), like renaming it. In a direct conversation neither side may
 * decide how long the other's items live: `FORBIDDEN` (each deletes their own items at will).
 */
export async function setRetention(
  ctx: AppContext,
  auth: Auth,
  c: ConversationRecord,
  retentionMs: number | null,
): Promise<Conversation & { retentionMs?: number }> {
  if (c.kind === 'direct') {
    throw new ForbiddenError(
      "in a direct conversation neither side sets how long the other's items are kept; delete your own instead",
    )
  }
  if (c.kind === 'group') {
    const role = (await verifiedGroup(ctx, c)).members.get(auth.accountId)
    if (role !== 'owner' && role !== 'admin')
      throw new ForbiddenError("only the group's owner or an admin sets its retention")
  }
  await ctx.store.conversations.setConversationRetention(c.id, retentionMs)
  return { ...(await toWire(ctx, c, auth.accountId)), ...(retentionMs === null ? {} : { retentionMs }) }
}

/**
 * A direct conversation (found if the pair has one already: `created` false) or a new group from
 * its first signed log entry, which must verify and name only existing accounts.
 */
export async function createConversation(
  ctx: AppContext,
  auth: Auth,
  body: CreateConversationRequest,
): Promise<{ conversation: Conversation; created: boolean }> {
  if (body.kind === 'direct') {
    const { conversation, created } = await directConversation(ctx, auth, body)
    if (created) await announceRequest(ctx, conversation)
    return { conversation: await toWire(ctx, conversation, auth.accountId), created }
  }
  currentVersion(body.entry)
  const v = await checked(() => verifyGroupLog(groupIdOf(body.entry), [body.entry], deviceSigner(ctx, auth)))
  if (await ctx.store.conversations.getConversation(v.group))
    throw new ServerError('CONFLICT', 'this group id is taken')
  await knownAccounts(ctx, v)
  await checkInvitations(ctx, auth.accountId, new Set(), v)
  const record = { seq: 0, hash: v.head, entry: JSON.stringify(body.entry), createdAt: ctx.now() }
  const c = {
    id: v.group,
    kind: 'group' as const,
    createdAt: ctx.now(),
    members: [...v.members.keys()],
    group: { entry: record, state: stateOf(v) },
  }
  await ctx.store.conversations.createConversation(c)
  const created = await ctx.store.conversations.getConversation(v.group)
  await ctx.hub.publish(c.members, { type: 'members', conversationId: c.id, seq: 0 })
  return { conversation: await toWire(ctx, created!, auth.accountId), created: true }
}

/** `NOT_FOUND` unless `c` is a group (with a membership log). */
export function requireGroup(c: ConversationRecord): asserts c is ConversationRecord & { logSeq: number } {
  if (c.kind !== 'group' || c.logSeq === undefined) throw new NotFoundError('not a group')
}

/** A page of a group's membership log, entries as their members signed them. */
export async function readGroupLog(
  ctx: AppContext,
  c: ConversationRecord,
  since: number,
): Promise<GroupLogResponse> {
  requireGroup(c)
  const limit = API_LIMITS.logEntriesPerPage
  const rows = await ctx.store.conversations.getGroupLog(c.id, since, limit + 1)
  const head = (await ctx.store.conversations.getGroupLog(c.id, c.logSeq - 1, 1))[0]
  if (!head) throw new NotFoundError()
  return {
    entries: rows.slice(0, limit).map((r) => JSON.parse(r.entry)),
    head: { seq: head.seq, hash: head.hash },
    more: rows.length > limit,
  }
}

/**
 * Appends a signed change to a group's log once it verifies on the stored log, and sets the
 * members it results in. Everyone who was or is now a member hears of it.
 */
export async function appendGroupLog(
  ctx: AppContext,
  auth: Auth,
  c: ConversationRecord,
  raw: unknown,
): Promise<{ head: { seq: number; hash: string } }> {
  requireGroup(c)
  currentVersion(raw)
  let before: ReadonlySet<string> = new Set()
  const v = await checked(async () => {
    const current = await verifiedGroup(ctx, c)
    before = new Set(current.members.keys())
    const entry = raw as { seq?: unknown }
    if (entry?.seq !== current.seq + 1) {
      throw new ServerError('STALE_HEAD', 'the entry does not extend the current head of the group log')
    }
    return extendGroupLog(current, [raw], deviceSigner(ctx, auth))
  })
  await knownAccounts(ctx, v)
  await checkInvitations(ctx, auth.accountId, before, v)
  const last = v.entries.at(-1)!
  const record: GroupLogRecord = {
    seq: v.seq,
    hash: groupEntryHash(last),
    entry: JSON.stringify(raw),
    createdAt: ctx.now(),
  }
  await ctx.store.conversations.appendGroupEntry(c.id, record, stateOf(v))
  // A removed member learns of the change too.
  const told = [...new Set([...c.members, ...v.members.keys()])]
  await ctx.hub.publish(told, { type: 'members', conversationId: c.id, seq: v.seq })
  return { head: { seq: v.seq, hash: v.head } }
}

/**
 * A group's stored log, replayed: its members and their roles as the server verified each entry
 * when it was appended (signatures were checked then, so they are not checked again).
 */
async function verifiedGroup(ctx: AppContext, c: ConversationRecord): Promise<VerifiedGroup> {
  requireGroup(c)
  const stored = await ctx.store.conversations.getGroupLog(c.id, -1, Number.MAX_SAFE_INTEGER)
  const trusted: CheckGroupSigner = async () => {}
  return verifyGroupLog(
    c.id,
    stored.map((r) => JSON.parse(r.entry)),
    trusted,
  )
}

/** The direct conversation of the caller with one other account, created on first use. */
async function directConversation(
  ctx: AppContext,
  auth: Auth,
  body: Extract<CreateConversationRequest, { kind: 'direct' }>,
): Promise<{ conversation: ConversationRecord; created: boolean }> {
  const other = body.members[0]!
  if (other === auth.accountId)
    throw new InvalidBodyError('a direct conversation has exactly one other member')
  if (!(await ctx.store.accounts.getAccount(other))) throw new InvalidBodyError('unknown member account')
  // Refused if either blocked the other; starting (or reopening) it accepts it on my side.
  await startDirect(ctx, auth.accountId, other)
  const directKey = [auth.accountId, other].sort().join(' ')
  const existing = await ctx.store.conversations.findDirectConversation(directKey)
  if (existing) return { conversation: existing, created: false }
  const c = {
    id: randomId(),
    kind: 'direct' as const,
    createdAt: ctx.now(),
    members: [auth.accountId, other],
    directKey,
  }
  try {
    await ctx.store.conversations.createConversation(c)
  } catch (e) {
    // Both sides created it at once: the unique key kept one.
    const raced = await ctx.store.conversations.findDirectConversation(directKey)
    if (raced) return { conversation: raced, created: false }
    throw e
  }
  return { conversation: (await ctx.store.conversations.getConversation(c.id))!, created: true }
}

/**
 * The server's check of a new group log entry: signed by the calling device, active now, at a
 * position of its log the server holds. (Clients check signers against their verified logs.)
 */
function deviceSigner(ctx: AppContext, auth: Auth): CheckGroupSigner {
  return async (e: GroupEntry, value) => {
    if (e.signer.account !== auth.accountId || e.signer.device !== auth.deviceId) {
      throw new ServerError(
        'INVALID_GROUP_ENTRY',
        'a group change must be signed by the device that sends it',
      )
    }
    const device = await ctx.store.logs.getDevice(auth.deviceId)
    if (!device?.active) throw new ServerError('FORBIDDEN', 'this device is not active')
    const [at] = await ctx.store.logs.getLog(auth.accountId, e.signer.logSeq - 1, 1)
    if (at?.seq !== e.signer.logSeq || at.hash !== e.signer.logHead) {
      throw new ServerError(
        'INVALID_GROUP_ENTRY',
        'the entry names a device log position this server does not hold',
      )
    }
    verifyCanonical(device.signKey, GROUP_LOG_CONTEXT, value, e.sig)
  }
}

/** Runs a group log check; core's typed errors become `INVALID_GROUP_ENTRY`. */
async function checked<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (e) {
    if (e instanceof AirlockError) throw new ServerError('INVALID_GROUP_ENTRY', e.message)
    throw e
  }
}

function groupIdOf(entry: unknown): string {
  const r = conversationIdSchema.safeParse((entry as { group?: unknown } | null)?.group)
  if (!r.success) throw new ServerError('INVALID_GROUP_ENTRY', 'a group id is 22 base64url characters')
  return r.data
}

async function knownAccounts(ctx: AppContext, v: VerifiedGroup): Promise<void> {
  for (const account of v.members.keys()) {
    if (!(await ctx.store.accounts.getAccount(account))) throw new InvalidBodyError('unknown member account')
  }
}

/**
 * New group entries are version 2, whose added members are invited until they join: a
 * version-1 entry (members in at once) would put people into a group without their consent.
 */
function currentVersion(entry: unknown): void {
  if ((entry as { v?: unknown } | null)?.v !== GROUP_LOG_VERSION)
    throw new ServerError(
      'INVALID_GROUP_ENTRY',
      `group changes are signed as version ${GROUP_LOG_VERSION} entries`,
    )
}

function stateOf(v: VerifiedGroup): GroupState {
  return { name: v.name, members: [...v.members], invited: [...v.invited] }
}

/** A conversation as `accountId` sees it, with where they stand in it. */
async function toWire(ctx: AppContext, c: ConversationRecord, accountId: string): Promise<Conversation> {
  const consent = await standingIn(ctx, c, accountId)
  return {
    conversationId: c.id,
    kind: c.kind,
    members: c.members,
    lastSeq: c.lastSeq,
    createdAt: c.createdAt,
    ...(c.logSeq === undefined ? {} : { logSeq: c.logSeq }),
    ...(consent === 'accepted' ? {} : { consent }),
  }
}
