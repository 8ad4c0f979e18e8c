import {
  type AdminAccountsResponse,
  adminUpdateAccountRequestSchema,
  apiAccountIdSchema,
  type Policy,
  putPolicyRequestSchema,
} from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { listAccountsForAdmin, updateAccount } from '../domain/accounts.js'
import { currentPolicy, setPolicy } from '../domain/policy.js'
import { requireAdmin, requireAuth } from '../http/auth.js'
import { pathParam } from '../http/params.js'
import { parseInput } from '../validation.js'

/**
 * The organisation's policy (`GET /policy` for every signed-in device, `PUT /admin/policy` for
 * administrators) and account administration: list, disable or enable, set a quota.
 * Administrators manage accounts and policy, never content: nothing here returns a manifest, a
 * blob, an item id or anything derived from content beyond byte counts.
 */
export function adminRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/policy', async (req) => {
    await requireAuth(ctx, req)
    const res: Policy = await currentPolicy(ctx)
    return res
  })

  app.put('/admin/policy', async (req) => {
    const auth = await requireAdmin(ctx, req)
    const policy = parseInput(putPolicyRequestSchema, req.body)
    await setPolicy(ctx, auth, policy)
    req.log.info('policy changed')
    return policy
  })

  app.get('/admin/accounts', async (req) => {
    await requireAdmin(ctx, req)
    const res: AdminAccountsResponse = { accounts: await listAccountsForAdmin(ctx) }
    return res
  })

  app.patch('/admin/accounts/:id', async (req) => {
    const auth = await requireAdmin(ctx, req)
    const accountId = pathParam(req.params, 'id', apiAccountIdSchema, 'no such account')
    const body = parseInput(adminUpdateAccountRequestSchema, req.body)
    const res = await updateAccount(ctx, auth, accountId, body)
    if (body.disabled !== undefined) req.log.info({ disabled: body.disabled }, 'account access changed')
    return res
  })
}
