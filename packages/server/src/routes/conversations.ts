import {
  AirlockError,
  API_LIMITS,
  appendGroupLogRequestSchema,
  type CheckGroupSigner,
  type Conversation,
  type CreateConversationRequest,
  conversationIdSchema,
  createConversationRequestSchema,
  extendGroupLog,
  GROUP_LOG_CONTEXT,
  type GroupEntry,
  type GroupLogResponse,
  groupEntryHash,
  type ListConversationsResponse,
  type LookupResponse,
  logQuerySchema,
  lookupQuerySchema,
  setRetentionRequestSchema,
  type VerifiedGroup,
  verifyCanonical,
  verifyGroupLog,
} from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import { type Auth, requireAuth } from '../auth.js'
import type { AppContext } from '../context.js'
import { InvalidBodyError, NotFoundError, ServerError } from '../errors.js'
import type { ConversationRecord, GroupLogRecord, GroupState } from '../metadata-store.js'
import { randomId } from '../tokens.js'
import { parseInput } from '../validation.js'

/**
 * Conversations: every account has its `self` conversation from the start; a `direct` one is
 * unique per pair of accounts; a `group` is defined by its signed membership log (core
 * `group-log.ts`), which the server verifies like any client before it changes who may read the
 * group's items. Only members see a conversation or its items.
 */
export function conversationRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/accounts/lookup', async (req) => {
    await requireAuth(ctx, req)
    const query = parseInput(lookupQuerySchema, req.query, 'query')
    const account =
      'username' in query
        ? await ctx.store.findAccountByUsername(query.username)
        : await ctx.store.getAccount(query.accountId)
    if (!account) throw new NotFoundError('no such account')
    const res: LookupResponse = { accountId: account.id, username: account.username }
    return res
  })

  app.get('/conversations', async (req) => {
    const auth = await requireAuth(ctx, req)
    const list = await ctx.store.listConversations(auth.accountId)
    const res: ListConversationsResponse = { conversations: list.map(toWire) }
    return res
  })

  app.post('/conversations', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const body = parseInput(createConversationRequestSchema, req.body)
    if (body.kind === 'direct') {
      const { conversation, created } = await directConversation(ctx, auth, body)
      return reply.code(created ? 201 : 200).send(toWire(conversation))
    }
    const entry = await checked(() =>
      verifyGroupLog(groupIdOf(body.entry), [body.entry], deviceSigner(ctx, auth)),
    )
    const v = entry
    if (await ctx.store.getConversation(v.group)) throw new ServerError('CONFLICT', 'this group id is taken')
    await knownAccounts(ctx, v)
    const record = { seq: 0, hash: v.head, entry: JSON.stringify(body.entry), createdAt: ctx.now() }
    const c = {
      id: v.group,
      kind: 'group' as const,
      createdAt: ctx.now(),
      members: [...v.members.keys()],
      group: { entry: record, state: stateOf(v) },
    }
    await ctx.store.createConversation(c)
    const created = await ctx.store.getConversation(v.group)
    await ctx.hub.publish(c.members, { type: 'members', conversationId: c.id, seq: 0 })
    return reply.code(201).send(toWire(created!))
  })

  app.get('/conversations/:cid', async (req) => {
    const auth = await requireAuth(ctx, req)
    const c = await memberConversation(ctx, auth, req.params)
    const retentionMs = await ctx.store.getConversationRetention(c.id)
    return { ...toWire(c), ...(retentionMs === null ? {} : { retentionMs }) }
  })

  /** Any member sets how long items sent from now on are kept (the policy's lifetime still caps it). */
  app.put('/conversations/:cid/retention', async (req) => {
    const auth = await requireAuth(ctx, req)
    const c = await memberConversation(ctx, auth, req.params)
    const body = parseInput(setRetentionRequestSchema, req.body)
    await ctx.store.setConversationRetention(c.id, body.retentionMs)
    return { ...toWire(c), ...(body.retentionMs === null ? {} : { retentionMs: body.retentionMs }) }
  })

  app.get('/conversations/:cid/log', async (req) => {
    const auth = await requireAuth(ctx, req)
    const c = await memberConversation(ctx, auth, req.params)
    if (c.kind !== 'group' || c.logSeq === undefined) throw new NotFoundError('not a group')
    const query = parseInput(logQuerySchema, req.query, 'query')
    const limit = API_LIMITS.logEntriesPerPage
    const rows = await ctx.store.getGroupLog(c.id, query.since ?? -1, limit + 1)
    const head = (await ctx.store.getGroupLog(c.id, c.logSeq - 1, 1))[0]
    if (!head) throw new NotFoundError()
    const res: GroupLogResponse = {
      entries: rows.slice(0, limit).map((r) => JSON.parse(r.entry)),
      head: { seq: head.seq, hash: head.hash },
      more: rows.length > limit,
    }
    return res
  })

  app.post('/conversations/:cid/log', async (req) => {
    const auth = await requireAuth(ctx, req)
    const c = await memberConversation(ctx, auth, req.params)
    if (c.kind !== 'group') throw new NotFoundError('not a group')
    const body = parseInput(appendGroupLogRequestSchema, req.body)
    const stored = await ctx.store.getGroupLog(c.id, -1, Number.MAX_SAFE_INTEGER)
    const trusted: CheckGroupSigner = async () => {}
    const v = await checked(async () => {
      const current = await verifyGroupLog(
        c.id,
        stored.map((r) => JSON.parse(r.entry)),
        trusted,
      )
      const entry = body.entry as { seq?: unknown }
      if (entry?.seq !== current.seq + 1) {
        throw new ServerError('STALE_HEAD', 'the entry does not extend the current head of the group log')
      }
      return extendGroupLog(current, [body.entry], deviceSigner(ctx, auth))
    })
    await knownAccounts(ctx, v)
    const last = v.entries.at(-1)!
    const record: GroupLogRecord = {
      seq: v.seq,
      hash: groupEntryHash(last),
      entry: JSON.stringify(body.entry),
      createdAt: ctx.now(),
    }
    await ctx.store.appendGroupEntry(c.id, record, stateOf(v))
    // Everyone who was or is now a member hears of the change (a removed member learns it too).
    const told = [...new Set([...c.members, ...v.members.keys()])]
    await ctx.hub.publish(told, { type: 'members', conversationId: c.id, seq: v.seq })
    return { head: { seq: v.seq, hash: v.head } }
  })
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
  if (!(await ctx.store.getAccount(other))) throw new InvalidBodyError('unknown member account')
  const directKey = [auth.accountId, other].sort().join(' ')
  const existing = await ctx.store.findDirectConversation(directKey)
  if (existing) return { conversation: existing, created: false }
  const c = {
    id: randomId(),
    kind: 'direct' as const,
    createdAt: ctx.now(),
    members: [auth.accountId, other],
    directKey,
  }
  try {
    await ctx.store.createConversation(c)
  } catch (e) {
    // Both sides created it at once: the unique key kept one.
    const raced = await ctx.store.findDirectConversation(directKey)
    if (raced) return { conversation: raced, created: false }
    throw e
  }
  return { conversation: (await ctx.store.getConversation(c.id))!, created: true }
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
    const device = await ctx.store.getDevice(auth.deviceId)
    if (!device?.active) throw new ServerError('FORBIDDEN', 'this device is not active')
    const [at] = await ctx.store.getLog(auth.accountId, e.signer.logSeq - 1, 1)
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
    if (!(await ctx.store.getAccount(account))) throw new InvalidBodyError('unknown member account')
  }
}

function stateOf(v: VerifiedGroup): GroupState {
  return { name: v.name, members: [...v.members] }
}

/** The conversation named by `:cid` if the caller's account is a member; else `NOT_FOUND`. */
export async function memberConversation(
  ctx: AppContext,
  auth: Auth,
  params: unknown,
): Promise<ConversationRecord> {
  const r = conversationIdSchema.safeParse((params as { cid?: unknown }).cid)
  if (!r.success) throw new NotFoundError()
  const c = await ctx.store.getConversation(r.data)
  if (!c?.members.includes(auth.accountId)) throw new NotFoundError()
  return c
}

function toWire(c: ConversationRecord): Conversation {
  return {
    conversationId: c.id,
    kind: c.kind,
    members: c.members,
    lastSeq: c.lastSeq,
    createdAt: c.createdAt,
    ...(c.logSeq === undefined ? {} : { logSeq: c.logSeq }),
  }
}
