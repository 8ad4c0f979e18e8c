import { createAccountRequestSchema, createInviteRequestSchema } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { createAccount, createInvite, listInvites, me, requireInviter } from '../domain/accounts.js'
import { requireAuth } from '../http/auth.js'
import { LIMITS } from '../rate-limit.js'
import { parseInput } from '../validation.js'

/** Accounts (created from a setup or invite code), `GET /accounts/me`, and invites. */
export function accountRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/accounts', async (req, reply) => {
    ctx.limiter.take(`accounts:${req.ip}`, LIMITS.accounts)
    const body = parseInput(createAccountRequestSchema, req.body)
    const res = await createAccount(ctx, body)
    req.log.info({ admin: res.admin }, 'account created')
    return reply.code(201).send(res)
  })

  app.get('/accounts/me', async (req) => me(ctx, await requireAuth(ctx, req)))

  app.post('/invites', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    ctx.limiter.take(`invites:${req.ip}`, LIMITS.invites)
    await requireInviter(ctx, auth, 'only administrators can invite (the organisation’s policy)')
    const body = parseInput(createInviteRequestSchema, req.body ?? {})
    const res = await createInvite(ctx, auth, body.expiresInHours)
    return reply.code(201).header('cache-control', 'no-store').send(res)
  })

  app.get('/invites', async (req) => {
    const auth = await requireAuth(ctx, req)
    await requireInviter(ctx, auth, 'only administrators can list invites')
    return listInvites(ctx, auth)
  })
}
