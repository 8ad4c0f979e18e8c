import { ENDPOINTS } from '@airlock/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AppContext } from '../context.js'
import { LinkRelay, type MailboxSide } from '../domain/link.js'
import { optionalAuth, requireAuth } from '../http/auth.js'
import { bodyOf, on } from '../http/endpoint.js'
import { LIMITS } from '../rate-limit.js'

/**
 * The device-linking mailbox (`domain/link.ts`): the new device opens it without an account, the
 * existing device joins it with its session, and both relay opaque messages through it.
 */
export function linkRoutes(app: FastifyInstance, ctx: AppContext): void {
  const relay = new LinkRelay(ctx)
  app.addHook('preClose', async () => relay.shutdown())

  /** The caller's side: the new device by `secret`, else the existing device by its session. */
  const side = async (
    req: FastifyRequest,
    mailboxId: string,
    secret: string | undefined,
  ): Promise<MailboxSide> =>
    relay.side(mailboxId, secret, secret === undefined ? await optionalAuth(ctx, req) : null)

  on(app, 'createMailbox', async (req, reply) => {
    ctx.limiter.take(`link-create:${req.ip}`, LIMITS.linkCreate)
    const res = await relay.open()
    return reply.code(201).header('cache-control', 'no-store').send(res)
  })

  on(app, 'joinMailbox', async (req) => {
    const auth = await requireAuth(ctx, req)
    ctx.limiter.take(`link-join:${req.ip}`, LIMITS.linkJoin)
    return relay.join(auth, bodyOf(ENDPOINTS.joinMailbox, req.body))
  })

  on(app, 'sendLinkMessage', async (req) => {
    ctx.limiter.take(`link-ops:${req.ip}`, LIMITS.linkOps)
    const body = bodyOf(ENDPOINTS.sendLinkMessage, req.body)
    return relay.send(await side(req, body.mailboxId, body.secret), body.body)
  })

  on(app, 'receiveLinkMessages', async (req) => {
    ctx.limiter.take(`link-ops:${req.ip}`, LIMITS.linkOps)
    const body = bodyOf(ENDPOINTS.receiveLinkMessages, req.body)
    return relay.receive(await side(req, body.mailboxId, body.secret), body.after, body.waitMs)
  })

  on(app, 'closeMailbox', async (req, reply) => {
    ctx.limiter.take(`link-ops:${req.ip}`, LIMITS.linkOps)
    const body = bodyOf(ENDPOINTS.closeMailbox, req.body)
    await relay.close(await side(req, body.mailboxId, body.secret), body.outcome)
    return reply.code(204).send()
  })
}
