import {
  type AdminAccount,
  type AdminAccountsResponse,
  adminUpdateAccountRequestSchema,
  apiAccountIdSchema,
  type Policy,
  putPolicyRequestSchema,
} from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import { requireAuth } from '../auth.js'
import type { AppContext } from '../context.js'
import { ConflictError, NotFoundError } from '../errors.js'
import type { AdminAccountRecord } from '../metadata-store.js'
import { currentPolicy, requireAdmin } from '../org-policy.js'
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
    await ctx.store.putPolicy({
      document: JSON.stringify(policy),
      updatedAt: ctx.now(),
      updatedBy: auth.accountId,
    })
    req.log.info('policy changed')
    return policy
  })

  app.get('/admin/accounts', async (req) => {
    await requireAdmin(ctx, req)
    const res: AdminAccountsResponse = { accounts: (await ctx.store.listAccountsForAdmin()).map(toWire) }
    return res
  })

  app.patch('/admin/accounts/:id', async (req) => {
    const auth = await requireAdmin(ctx, req)
    const r = apiAccountIdSchema.safeParse((req.params as { id?: unknown }).id)
    if (!r.success) throw new NotFoundError('no such account')
    const body = parseInput(adminUpdateAccountRequestSchema, req.body)
    if (body.disabled === true && r.data === auth.accountId) {
      throw new ConflictError('an administrator cannot disable their own account')
    }
    if (!(await ctx.store.getAccount(r.data))) throw new NotFoundError('no such account')
    if (body.quotaBytes !== undefined) await ctx.store.setAccountQuota(r.data, body.quotaBytes)
    if (body.disabled !== undefined) {
      await ctx.store.setAccountDisabled(r.data, body.disabled)
      if (body.disabled) {
        // Its sessions are gone; its push sockets close now rather than at their next check.
        const devices = await ctx.store.listDevices(r.data)
        await ctx.hub.revoke(devices.map((d) => d.id))
      }
      req.log.info({ disabled: body.disabled }, 'account access changed')
    }
    const account = (await ctx.store.listAccountsForAdmin()).find((a) => a.id === r.data)
    if (!account) throw new NotFoundError('no such account')
    return toWire(account)
  })
}

function toWire(a: AdminAccountRecord): AdminAccount {
  return {
    accountId: a.id,
    username: a.username,
    admin: a.admin,
    disabled: a.disabled,
    createdAt: a.createdAt,
    devices: a.devices,
    usedBytes: a.usedBytes,
    quotaBytes: a.quotaBytes,
  }
}
