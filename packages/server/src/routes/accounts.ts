import { ENDPOINTS } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { createAccount, createInvite, listInvites, me, requireInviter } from '../domain/accounts.js'
import { requireAuth } from '../http/auth.js'
import { bodyOf, on } from '../http/endpoint.js'
import { LIMITS } from '../rate-limit.js'

/** Accounts (created from a setup or invite code), `GET /accounts/me`, and invites. */
export function accountRoutes(app: FastifyInstance, ctx: AppContext): void {
  on(app, 'createAccount', async (req, reply) => {
    ctx.limiter.take(`accounts:${req.ip}`, LIMITS.accounts)
    const res = await createAccount(ctx, bodyOf(ENDPOINTS.createAccount, req.body))
    req.log.info({ admin: res.admin }, 'account created')
    return reply.code(201).send(res)
  })

  on(app, 'me', async (req) => me(ctx, await requireAuth(ctx, req)))

  on(app, 'createInvite', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    ctx.limiter.take(`invites:${req.ip}`, LIMITS.invites)
    await requireInviter(ctx, auth, 'only administrators can invite (the organisation’s policy)')
    const body = bodyOf(ENDPOINTS.createInvite, req.body ?? {})
    const res = await createInvite(ctx, auth, body.expiresInHours)
    return reply.code(201).header('cache-control', 'no-store').send(res)
  })

  on(app, 'listInvites', async (req) => {
    const auth = await requireAuth(ctx, req)
    await requireInviter(ctx, auth, 'only administrators can list invites')
    return listInvites(ctx, auth)
  })
}
