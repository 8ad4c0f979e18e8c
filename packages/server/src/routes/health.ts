import type { HealthResponse } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'

/** `GET /healthz`: 200 while the metadata store answers. */
export function healthRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/healthz', async (_req, reply) => {
    await ctx.store.countAccounts()
    const res: HealthResponse = { ok: true, version: ctx.version }
    return reply.header('cache-control', 'no-store').send(res)
  })
}
