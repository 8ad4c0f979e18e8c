import {
  appendGroupLogRequestSchema,
  conversationIdSchema,
  createConversationRequestSchema,
  type ListConversationsResponse,
  logQuerySchema,
  lookupQuerySchema,
  setRetentionRequestSchema,
} from '@airlock/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AppContext } from '../context.js'
import { lookupAccount } from '../domain/accounts.js'
import {
  appendGroupLog,
  createConversation,
  describeConversation,
  listConversations,
  memberConversation,
  readGroupLog,
  requireGroup,
  setRetention,
} from '../domain/conversations.js'
import { requireAuth } from '../http/auth.js'
import { pathParam } from '../http/params.js'
import type { ConversationRecord } from '../storage/metadata/conversations.js'
import { parseInput } from '../validation.js'

/** Conversations and group membership logs (`domain/conversations.ts`); account lookup by name. */
export function conversationRoutes(app: FastifyInstance, ctx: AppContext): void {
  /** The conversation named by `:cid`, whose member the caller is; else `NOT_FOUND`. */
  const conversation = async (req: FastifyRequest): Promise<ConversationRecord> =>
    memberConversation(ctx, await requireAuth(ctx, req), pathParam(req.params, 'cid', conversationIdSchema))

  app.get('/accounts/lookup', async (req) => {
    await requireAuth(ctx, req)
    return lookupAccount(ctx, parseInput(lookupQuerySchema, req.query, 'query'))
  })

  app.get('/conversations', async (req) => {
    const res: ListConversationsResponse = {
      conversations: await listConversations(ctx, await requireAuth(ctx, req)),
    }
    return res
  })

  app.post('/conversations', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const body = parseInput(createConversationRequestSchema, req.body)
    const { conversation, created } = await createConversation(ctx, auth, body)
    return reply.code(created ? 201 : 200).send(conversation)
  })

  app.get('/conversations/:cid', async (req) => describeConversation(ctx, await conversation(req)))

  app.put('/conversations/:cid/retention', async (req) => {
    const c = await conversation(req)
    const body = parseInput(setRetentionRequestSchema, req.body)
    return setRetention(ctx, c, body.retentionMs)
  })

  app.get('/conversations/:cid/log', async (req) => {
    const c = await conversation(req)
    requireGroup(c)
    const query = parseInput(logQuerySchema, req.query, 'query')
    return readGroupLog(ctx, c, query.since ?? -1)
  })

  app.post('/conversations/:cid/log', async (req) => {
    const auth = await requireAuth(ctx, req)
    const c = await conversation(req)
    requireGroup(c)
    const body = parseInput(appendGroupLogRequestSchema, req.body)
    return appendGroupLog(ctx, auth, c, body.entry)
  })
}
