import {
  type CreateAccountResponse,
  type CreateInviteResponse,
  createAccountRequestSchema,
  createInviteRequestSchema,
  decodeLogEntry,
  encodeLogEntry,
  entryHash,
  type ListInvitesResponse,
  type MeResponse,
  verifyLog,
} from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import { requireAuth } from '../auth.js'
import type { AppContext } from '../context.js'
import { ForbiddenError, NotFoundError, ServerError } from '../errors.js'
import { currentPolicy } from '../org-policy.js'
import { LIMITS } from '../rate-limit.js'
import { hashCode, newCode, randomId } from '../tokens.js'
import { parseInput } from '../validation.js'

const DEFAULT_INVITE_HOURS = 72

/** Accounts (created from a setup or invite code), `GET /accounts/me`, and admin invites. */
export function accountRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/accounts', async (req, reply) => {
    ctx.limiter.take(`accounts:${req.ip}`, LIMITS.accounts)
    const body = parseInput(createAccountRequestSchema, req.body)
    const accountId = body.genesis.account
    let genesis: ReturnType<typeof decodeLogEntry>
    try {
      genesis = decodeLogEntry(body.genesis)
      verifyLog(accountId, [genesis])
    } catch {
      throw new ServerError('INVALID_LOG_ENTRY', 'the genesis entry does not verify')
    }
    const now = ctx.now()
    const account = await ctx.store.createAccount({
      id: accountId,
      username: body.username,
      codeHash: hashCode(body.code),
      now,
      quotaBytes: null,
      genesis: {
        seq: 0,
        prev: null,
        hash: entryHash(genesis),
        entry: encodeLogEntry(genesis),
        createdAt: now,
      },
      device: { id: genesis.device.id, signKey: genesis.device.signKey },
      selfConversationId: randomId(),
    })
    req.log.info({ admin: account.admin }, 'account created')
    const res: CreateAccountResponse = {
      accountId: account.id,
      deviceId: genesis.device.id,
      selfConversationId: account.selfConversationId,
      admin: account.admin,
    }
    return reply.code(201).send(res)
  })

  app.get('/accounts/me', async (req) => {
    const auth = await requireAuth(ctx, req)
    const account = await ctx.store.getAccount(auth.accountId)
    if (!account) throw new NotFoundError()
    const res: MeResponse = {
      accountId: account.id,
      username: account.username,
      admin: account.admin,
      deviceId: auth.deviceId,
      selfConversationId: account.selfConversationId,
      quotaBytes: account.quotaBytes ?? ctx.config.quota,
      usedBytes: await ctx.store.accountUsage(account.id),
    }
    return res
  })

  app.post('/invites', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    ctx.limiter.take(`invites:${req.ip}`, LIMITS.invites)
    const account = await ctx.store.getAccount(auth.accountId)
    if (!account) throw new NotFoundError()
    if (!account.admin && (await currentPolicy(ctx)).invitations !== 'everyone')
      throw new ForbiddenError('only administrators can invite (the organisation’s policy)')
    const body = parseInput(createInviteRequestSchema, req.body ?? {})
    const code = newCode()
    const now = ctx.now()
    const inviteId = randomId()
    const expiresAt = now + (body.expiresInHours ?? DEFAULT_INVITE_HOURS) * 3600_000
    await ctx.store.createInvite({
      id: inviteId,
      codeHash: hashCode(code),
      createdAt: now,
      expiresAt,
      createdBy: auth.accountId,
    })
    const res: CreateInviteResponse = { inviteId, code, expiresAt }
    return reply.code(201).header('cache-control', 'no-store').send(res)
  })

  app.get('/invites', async (req) => {
    const auth = await requireAuth(ctx, req)
    const account = await ctx.store.getAccount(auth.accountId)
    if (!account) throw new NotFoundError()
    if (!account.admin && (await currentPolicy(ctx)).invitations !== 'everyone')
      throw new ForbiddenError('only administrators can list invites')
    const invites = await ctx.store.listInvites(auth.accountId)
    const res: ListInvitesResponse = {
      invites: invites.map((i) => ({
        inviteId: i.id,
        createdAt: i.createdAt,
        expiresAt: i.expiresAt ?? 0,
        used: i.usedAt !== null,
      })),
    }
    return res
  })
}
