import { ENDPOINTS, type ListContactsResponse } from '@airlock/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AppContext } from '../context.js'
import { answer, listContacts } from '../domain/consent.js'
import { requireAuth } from '../http/auth.js'
import { on } from '../http/endpoint.js'
import { paramOf } from '../http/params.js'

/** The caller's answers to other accounts (`domain/consent.ts`): accept, decline, block, unblock. */
export function contactRoutes(app: FastifyInstance, ctx: AppContext): void {
  const peer = (req: FastifyRequest) => paramOf(ENDPOINTS.acceptContact, 'id', req.params)

  on(app, 'listContacts', async (req) => {
    const res: ListContactsResponse = {
      contacts: await listContacts(ctx, (await requireAuth(ctx, req)).accountId),
    }
    return res
  })
  on(app, 'acceptContact', async (req) =>
    answer(ctx, (await requireAuth(ctx, req)).accountId, peer(req), 'accept'),
  )
  on(app, 'declineContact', async (req) =>
    answer(ctx, (await requireAuth(ctx, req)).accountId, peer(req), 'decline'),
  )
  on(app, 'blockContact', async (req) =>
    answer(ctx, (await requireAuth(ctx, req)).accountId, peer(req), 'block'),
  )
  on(app, 'unblockContact', async (req) =>
    answer(ctx, (await requireAuth(ctx, req)).accountId, peer(req), 'unblock'),
  )
}
