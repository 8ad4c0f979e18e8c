import { accessesQuerySchema, itemIdSchema } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { itemAccesses, sentItem } from '../domain/access-log.js'
import { requireAuth } from '../http/auth.js'
import { pathParam } from '../http/params.js'
import { parseInput } from '../validation.js'

/** `GET /items/:id/accesses`: who downloaded an item, for its sender (`domain/access-log.ts`). */
export function accessRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/items/:id/accesses', async (req) => {
    const auth = await requireAuth(ctx, req)
    const item = await sentItem(ctx, auth, pathParam(req.params, 'id', itemIdSchema))
    const query = parseInput(accessesQuerySchema, req.query, 'query')
    return itemAccesses(ctx, item, { since: query.since ?? 0, limit: query.limit ?? 500 })
  })
}
