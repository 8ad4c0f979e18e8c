import type { HealthResponse } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { probeStorage } from '../domain/health.js'
import { on } from '../http/endpoint.js'

/**
 * `GET /healthz`: 200 while the metadata store answers (liveness). `GET /readyz`: 200 when the
 * metadata store and the blob store both answer, 503 otherwise — what a load balancer should
 * route by.
 */
export function healthRoutes(app: FastifyInstance, ctx: AppContext): void {
  on(app, 'health', async (_req, reply) => {
    await probeStorage(ctx, { blobs: false })
    const res: HealthResponse = { ok: true, version: ctx.version }
    return reply.header('cache-control', 'no-store').send(res)
  })
  on(app, 'ready', async (req, reply) => {
    void reply.header('cache-control', 'no-store')
    try {
      await probeStorage(ctx, { blobs: true })
    } catch (e) {
      req.log.warn({ err: e }, 'not ready')
      return reply.code(503).send({ ok: false, version: ctx.version })
    }
    return reply.send({ ok: true, version: ctx.version })
  })
}
