import {
  type Conversation,
  conversationIdSchema,
  createConversationRequestSchema,
  type ListConversationsResponse,
  setRetentionRequestSchema,
} from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import { type Auth, requireAuth } from '../auth.js'
import type { AppContext } from '../context.js'
import { InvalidBodyError, NotFoundError } from '../errors.js'
import type { ConversationRecord } from '../metadata-store.js'
import { randomId } from '../tokens.js'
import { parseInput } from '../validation.js'

/**
 * Conversations: every account has its `self` conversation from the start; `direct` and `group`
 * conversations list their member accounts. Only members see a conversation or its items.
 */
export function conversationRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/conversations', async (req) => {
    const auth = await requireAuth(ctx, req)
    const list = await ctx.store.listConversations(auth.accountId)
    const res: ListConversationsResponse = { conversations: list.map(toWire) }
    return res
  })

  app.post('/conversations', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const body = parseInput(createConversationRequestSchema, req.body)
    const others = [...new Set(body.members)].filter((m) => m !== auth.accountId)
    if (body.kind === 'direct' && others.length !== 1) {
      throw new InvalidBodyError('a direct conversation has exactly one other member')
    }
    if (others.length === 0) throw new InvalidBodyError('a conversation needs another member')
    for (const m of others) {
      if (!(await ctx.store.getAccount(m))) throw new InvalidBodyError('unknown member account')
    }
    const c = { id: randomId(), kind: body.kind, createdAt: ctx.now(), members: [auth.accountId, ...others] }
    await ctx.store.createConversation(c)
    return reply.code(201).send(toWire({ ...c, lastSeq: 0, members: [...c.members].sort() }))
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
  }
}
