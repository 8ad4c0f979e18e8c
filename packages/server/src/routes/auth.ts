import { challengeRequestSchema, sessionRequestSchema } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { endSession, issueChallenge, openSession } from '../domain/sessions.js'
import { requireAuth } from '../http/auth.js'
import { LIMITS } from '../rate-limit.js'
import { parseInput } from '../validation.js'

/**
 * Login without passwords (`domain/sessions.ts`): the device asks for a challenge, signs it with
 * its Ed25519 key, and gets a short-lived bearer token.
 */
export function authRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/auth/challenge', async (req) => {
    ctx.limiter.take(`auth:${req.ip}`, LIMITS.auth)
    const body = parseInput(challengeRequestSchema, req.body)
    return issueChallenge(ctx, body.deviceId)
  })

  app.post('/auth/session', async (req, reply) => {
    ctx.limiter.take(`auth:${req.ip}`, LIMITS.auth)
    const body = parseInput(sessionRequestSchema, req.body)
    const res = await openSession(ctx, body)
    return reply.header('cache-control', 'no-store').send(res)
  })

  /** Logout: ends this session at once. */
  app.delete('/auth/session', async (req, reply) => {
    await endSession(ctx, await requireAuth(ctx, req))
    return reply.code(204).send()
  })
}
