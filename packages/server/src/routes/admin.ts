import { type AdminAccountsResponse, ENDPOINTS, type Policy } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { listAccountsForAdmin, updateAccount } from '../domain/accounts.js'
import { currentPolicy, setPolicy } from '../domain/policy.js'
import { listSharesForAdmin, revokeShareAsAdmin } from '../domain/shares.js'
import { requireAdmin, requireAuth } from '../http/auth.js'
import { bodyOf, on } from '../http/endpoint.js'
import { paramOf } from '../http/params.js'

/**
 * The organisation's policy (`GET /policy` for every signed-in device, `PUT /admin/policy` for
 * administrators), account administration (list, disable or enable, set a quota) and every
 * account's share links (list their metadata, revoke).
 * Administrators manage accounts and policy, never content: nothing here returns a manifest, a
 * blob, an item id or anything derived from content beyond byte counts.
 */
export function adminRoutes(app: FastifyInstance, ctx: AppContext): void {
  on(app, 'getPolicy', async (req) => {
    await requireAuth(ctx, req)
    const res: Policy = await currentPolicy(ctx)
    return res
  })

  on(app, 'putPolicy', async (req) => {
    const auth = await requireAdmin(ctx, req)
    const policy = bodyOf(ENDPOINTS.putPolicy, req.body)
    await setPolicy(ctx, auth, policy)
    req.log.info('policy changed')
    return policy
  })

  on(app, 'adminListAccounts', async (req) => {
    await requireAdmin(ctx, req)
    const res: AdminAccountsResponse = { accounts: await listAccountsForAdmin(ctx) }
    return res
  })

  on(app, 'adminUpdateAccount', async (req) => {
    const auth = await requireAdmin(ctx, req)
    const accountId = paramOf(ENDPOINTS.adminUpdateAccount, 'id', req.params, 'no such account')
    const body = bodyOf(ENDPOINTS.adminUpdateAccount, req.body)
    const res = await updateAccount(ctx, auth, accountId, body)
    if (body.disabled !== undefined) req.log.info({ disabled: body.disabled }, 'account access changed')
    return res
  })

  on(app, 'adminListShares', async (req) => {
    await requireAdmin(ctx, req)
    return listSharesForAdmin(ctx)
  })

  on(app, 'adminRevokeShare', async (req) => {
    await requireAdmin(ctx, req)
    const res = await revokeShareAsAdmin(ctx, paramOf(ENDPOINTS.adminRevokeShare, 'id', req.params))
    req.log.info('share link revoked by an administrator')
    return res
  })
}
