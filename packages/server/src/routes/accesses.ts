import { accessesQuerySchema, itemIdSchema, type ListAccessesResponse } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import { toWireAccess } from '../access-log.js'
import { requireAuth } from '../auth.js'
import type { AppContext } from '../context.js'
import { ForbiddenError, NotFoundError } from '../errors.js'
import { parseInput } from '../validation.js'

/**
 * `GET /items/:id/accesses`: who downloaded an item, when and from where, as the item's hash
 * chain. Only the sending account (any of its devices) may read it, also after it recalled
 * (deleted) the item: the evidence outlives the item. Other members of the item's conversation
 * get `FORBIDDEN`; everyone else `NOT_FOUND`, as if the item did not exist.
 */
export function accessRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/items/:id/accesses', async (req) => {
    const auth = await requireAuth(ctx, req)
    const id = itemIdSchema.safeParse((req.params as { id?: unknown }).id)
    if (!id.success) throw new NotFoundError()
    const item = await ctx.store.getItem(id.data)
    if (!item) throw new NotFoundError()
    if (item.senderAccountId !== auth.accountId) {
      const conversation = await ctx.store.getConversation(item.conversationId)
      if (item.state === 'committed' && conversation?.members.includes(auth.accountId))
        throw new ForbiddenError('only the sender can see who downloaded an item')
      throw new NotFoundError()
    }
    const query = parseInput(accessesQuerySchema, req.query, 'query')
    const limit = query.limit ?? 500
    const rows = await ctx.store.listAccesses(item.id, query.since ?? 0, limit + 1)
    const res: ListAccessesResponse = {
      itemId: item.id,
      accesses: rows.slice(0, limit).map(toWireAccess),
      more: rows.length > limit,
    }
    return res
  })
}
