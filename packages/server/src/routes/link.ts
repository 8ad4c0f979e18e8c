import { timingSafeEqual } from 'node:crypto'
import {
  API_LIMITS,
  type LinkCreateResponse,
  type LinkJoinResponse,
  type LinkReceiveResponse,
  linkCloseRequestSchema,
  linkJoinRequestSchema,
  linkReceiveRequestSchema,
  linkSendRequestSchema,
} from '@airlock/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { optionalAuth, requireAuth } from '../auth.js'
import type { AppContext } from '../context.js'
import { isServerError, NotFoundError, ServerError, UnauthenticatedError } from '../errors.js'
import type { LinkSide, MailboxRecord } from '../metadata-store.js'
import { LIMITS } from '../rate-limit.js'
import { hashSecret, newNameplate, randomId, randomSecret } from '../tokens.js'
import { parseInput } from '../validation.js'

const MAILBOX_TTL_MS = 10 * 60_000
/** Wrong secrets or foreign joins a mailbox survives before it is burnt. */
const MAX_FAILURES = 3

/**
 * The device-linking mailbox: a short-lived relay of opaque messages between a new device (which
 * opens it without an account and proves its side with a secret) and one existing, authenticated
 * device (which joins it). The server never understands the messages; the key agreement and
 * confirmation are core's. Mailboxes expire after ten minutes, are single-use, and are burnt by
 * repeated wrong secrets, a second joiner, or a client reporting failure.
 */
export function linkRoutes(app: FastifyInstance, ctx: AppContext): void {
  const waiters = new Waiters()
  app.addHook('preClose', async () => waiters.wakeAll())

  app.post('/link', async (req, reply) => {
    ctx.limiter.take(`link-create:${req.ip}`, LIMITS.linkCreate)
    const now = ctx.now()
    const secret = randomSecret()
    for (let attempt = 0; attempt < 20; attempt++) {
      const m = {
        id: randomId(),
        nameplate: newNameplate(),
        secretHash: hashSecret(secret),
        createdAt: now,
        expiresAt: now + MAILBOX_TTL_MS,
      }
      try {
        await ctx.store.createMailbox(m)
      } catch (e) {
        if (isServerError(e, 'CONFLICT')) continue
        throw e
      }
      const res: LinkCreateResponse = {
        mailboxId: m.id,
        nameplate: m.nameplate,
        secret,
        expiresAt: m.expiresAt,
      }
      return reply.code(201).header('cache-control', 'no-store').send(res)
    }
    throw new ServerError('UNAVAILABLE', 'too many devices are linking right now; try again shortly')
  })

  app.post('/link/join', async (req) => {
    const auth = await requireAuth(ctx, req)
    ctx.limiter.take(`link-join:${req.ip}`, LIMITS.linkJoin)
    const body = parseInput(linkJoinRequestSchema, req.body)
    const m =
      'mailboxId' in body
        ? await ctx.store.getMailbox(body.mailboxId)
        : await ctx.store.findMailboxByNameplate(body.nameplate)
    if (!m) throw new NotFoundError('no such linking mailbox')
    live(ctx, m)
    if (m.state === 'joined' && m.joinedDeviceId === auth.deviceId) return joined(m)
    if (!(await ctx.store.joinMailbox(m.id, auth.accountId, auth.deviceId))) {
      // Someone else got there first: nobody can trust this mailbox any more.
      await ctx.store.endMailbox(m.id, 'burnt')
      waiters.wake(m.id)
      throw new ServerError('GONE', 'this linking mailbox was already joined and is now closed')
    }
    waiters.wake(m.id)
    return joined(m)
  })

  app.post('/link/send', async (req) => {
    ctx.limiter.take(`link-ops:${req.ip}`, LIMITS.linkOps)
    const body = parseInput(linkSendRequestSchema, req.body)
    const { mailbox, side } = await resolveSide(ctx, req, body.mailboxId, body.secret, waiters)
    if (side === 'existing' && mailbox.state !== 'joined') throw new NotFoundError()
    const index = await ctx.store.addLinkMessage(mailbox.id, side, body.body, API_LIMITS.linkMessagesPerSide)
    waiters.wake(mailbox.id)
    return { index }
  })

  app.post('/link/receive', async (req) => {
    ctx.limiter.take(`link-ops:${req.ip}`, LIMITS.linkOps)
    const body = parseInput(linkReceiveRequestSchema, req.body)
    const resolved = await resolveSide(ctx, req, body.mailboxId, body.secret, waiters)
    const other: LinkSide = resolved.side === 'new' ? 'existing' : 'new'
    const initial = resolved.mailbox.state
    let mailbox = resolved.mailbox
    const deadline = Date.now() + body.waitMs
    for (;;) {
      const messages = await ctx.store.getLinkMessages(mailbox.id, other, body.after)
      const remaining = deadline - Date.now()
      // A change of state (the existing device joined) also ends the wait.
      if (messages.length > 0 || remaining <= 0 || mailbox.state !== initial || waiters.closing) {
        const res: LinkReceiveResponse = {
          state: mailbox.state,
          messages: messages.map(({ index, body }) => ({ index, body })),
        }
        return res
      }
      // Other instances cannot wake this one: with a shared database, look again every second.
      await waiters.wait(mailbox.id, ctx.config.databaseUrl ? Math.min(remaining, 1000) : remaining)
      const fresh = await ctx.store.getMailbox(mailbox.id)
      if (!fresh) throw gone()
      mailbox = live(ctx, fresh)
    }
  })

  app.post('/link/close', async (req, reply) => {
    ctx.limiter.take(`link-ops:${req.ip}`, LIMITS.linkOps)
    const body = parseInput(linkCloseRequestSchema, req.body)
    const { mailbox } = await resolveSide(ctx, req, body.mailboxId, body.secret, waiters)
    await ctx.store.endMailbox(mailbox.id, body.outcome === 'done' ? 'closed' : 'burnt')
    waiters.wake(mailbox.id)
    return reply.code(204).send()
  })
}

function joined(m: MailboxRecord): LinkJoinResponse {
  return { mailboxId: m.id, expiresAt: m.expiresAt }
}

function gone(): ServerError {
  return new ServerError('GONE', 'this linking mailbox has expired or is closed')
}

/** The mailbox if it is still usable (`GONE` once expired, closed or burnt). */
function live(ctx: AppContext, m: MailboxRecord): MailboxRecord {
  if (m.expiresAt <= ctx.now() || m.state === 'closed' || m.state === 'burnt') throw gone()
  return m
}

/**
 * Which side of the mailbox the caller is: the new device by its secret, the existing device by
 * its session. A wrong secret, or a device other than the joiner, counts as a failure.
 */
async function resolveSide(
  ctx: AppContext,
  req: FastifyRequest,
  mailboxId: string,
  secret: string | undefined,
  waiters: Waiters,
): Promise<{ mailbox: MailboxRecord; side: LinkSide }> {
  // The existing device's session is checked first: a bad token is a 401 whatever the mailbox.
  const auth = secret === undefined ? await optionalAuth(ctx, req) : null
  if (secret === undefined && !auth)
    throw new UnauthenticatedError('the mailbox secret or a bearer token is required')
  const m = await ctx.store.getMailbox(mailboxId)
  if (!m) throw new NotFoundError('no such linking mailbox')
  live(ctx, m)
  if (secret !== undefined) {
    if (safeEqual(hashSecret(secret), m.secretHash)) return { mailbox: m, side: 'new' }
    await fail(ctx, m, waiters)
    throw new UnauthenticatedError('wrong mailbox secret')
  }
  if (m.state === 'joined' && m.joinedDeviceId === auth!.deviceId) return { mailbox: m, side: 'existing' }
  await fail(ctx, m, waiters)
  throw new NotFoundError('no such linking mailbox')
}

async function fail(ctx: AppContext, m: MailboxRecord, waiters: Waiters): Promise<void> {
  const state = await ctx.store.recordMailboxFailure(m.id, MAX_FAILURES)
  if (state === 'burnt') waiters.wake(m.id)
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Long-poll wake-ups per mailbox, in this process. */
class Waiters {
  private readonly byMailbox = new Map<string, Set<() => void>>()
  closing = false

  wait(mailboxId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.byMailbox.get(mailboxId)
      if (!set) {
        set = new Set()
        this.byMailbox.set(mailboxId, set)
      }
      const s = set
      const done = () => {
        clearTimeout(timer)
        s.delete(done)
        if (s.size === 0 && this.byMailbox.get(mailboxId) === s) this.byMailbox.delete(mailboxId)
        resolve()
      }
      const timer = setTimeout(done, ms)
      s.add(done)
    })
  }

  wake(mailboxId: string): void {
    for (const f of [...(this.byMailbox.get(mailboxId) ?? [])]) f()
  }

  wakeAll(): void {
    this.closing = true
    for (const id of [...this.byMailbox.keys()]) this.wake(id)
  }
}
