import { ENDPOINTS, type ListConversationsResponse } from '@airlock/core'
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
import { bodyOf, on, queryOf } from '../http/endpoint.js'
import { paramOf } from '../http/params.js'
import type { ConversationRecord } from '../storage/metadata/conversations.js'

/** Conversations and group membership logs (`domain/conversations.ts`); account lookup by name. */
export function conversationRoutes(app: FastifyInstance, ctx: AppContext): void {
  /** The conversation named by `:cid`, whose member the caller is; else `NOT_FOUND`. */
  const conversation = async (req: FastifyRequest): Promise<ConversationRecord> =>
    memberConversation(
      ctx,
      await requireAuth(ctx, req),
      paramOf(ENDPOINTS.getConversation, 'cid', req.params),
    )

  on(app, 'lookupAccount', async (req) => {
    await requireAuth(ctx, req)
    return lookupAccount(ctx, queryOf(ENDPOINTS.lookupAccount, req.query))
  })

  on(app, 'listConversations', async (req) => {
    const res: ListConversationsResponse = {
      conversations: await listConversations(ctx, await requireAuth(ctx, req)),
    }
    return res
  })

  on(app, 'createConversation', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const body = bodyOf(ENDPOINTS.createConversation, req.body)
    const { conversation, created } = await createConversation(ctx, auth, body)
    return reply.code(created ? 201 : 200).send(conversation)
  })

  on(app, 'getConversation', async (req) =>
    describeConversation(ctx, await requireAuth(ctx, req), await conversation(req)),
  )

  on(app, 'setRetention', async (req) => {
    const auth = await requireAuth(ctx, req)
    const c = await conversation(req)
    return setRetention(ctx, auth, c, bodyOf(ENDPOINTS.setRetention, req.body).retentionMs)
  })

  on(app, 'getGroupLog', async (req) => {
    const c = await conversation(req)
    requireGroup(c)
    return readGroupLog(ctx, c, queryOf(ENDPOINTS.getGroupLog, req.query).since ?? -1)
  })

  on(app, 'appendGroupLog', async (req) => {
    const auth = await requireAuth(ctx, req)
    const c = await conversation(req)
    requireGroup(c)
    return appendGroupLog(ctx, auth, c, bodyOf(ENDPOINTS.appendGroupLog, req.body).entry)
  })
}
