import { ENDPOINTS } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { endSession, issueChallenge, openSession } from '../domain/sessions.js'
import { requireAuth } from '../http/auth.js'
import { bodyOf, on } from '../http/endpoint.js'
import { LIMITS } from '../rate-limit.js'

/**
 * Login without passwords (`domain/sessions.ts`): the device asks for a challenge, signs it with
 * its Ed25519 key, and gets a short-lived bearer token.
 */
export function authRoutes(app: FastifyInstance, ctx: AppContext): void {
  on(app, 'authChallenge', async (req) => {
    ctx.limiter.take(`auth:${req.ip}`, LIMITS.auth)
    return issueChallenge(ctx, bodyOf(ENDPOINTS.authChallenge, req.body).deviceId)
  })

  on(app, 'createSession', async (req, reply) => {
    ctx.limiter.take(`auth:${req.ip}`, LIMITS.auth)
    const res = await openSession(ctx, bodyOf(ENDPOINTS.createSession, req.body))
    return reply.header('cache-control', 'no-store').send(res)
  })

  /** Logout: ends this session at once. */
  on(app, 'deleteSession', async (req, reply) => {
    await endSession(ctx, await requireAuth(ctx, req))
    return reply.code(204).send()
  })
}
