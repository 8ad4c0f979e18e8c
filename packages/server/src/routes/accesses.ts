import { ENDPOINTS } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { itemAccesses, sentItem } from '../domain/access-log.js'
import { requireAuth } from '../http/auth.js'
import { on, queryOf } from '../http/endpoint.js'
import { paramOf } from '../http/params.js'

/** `GET /items/:id/accesses`: who downloaded an item, for its sender (`domain/access-log.ts`). */
export function accessRoutes(app: FastifyInstance, ctx: AppContext): void {
  on(app, 'listAccesses', async (req) => {
    const auth = await requireAuth(ctx, req)
    const item = await sentItem(ctx, auth, paramOf(ENDPOINTS.listAccesses, 'id', req.params))
    const query = queryOf(ENDPOINTS.listAccesses, req.query)
    return itemAccesses(ctx, item, { since: query.since ?? 0, limit: query.limit ?? 500 })
  })
}
