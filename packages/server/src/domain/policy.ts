import { DEFAULT_POLICY, type Policy, PolicyError, policySchema } from '@airlock/core'
import type { AppContext } from '../context.js'
import { ServerError } from '../errors.js'
import type { Auth } from './sessions.js'

/**
 * The organisation's policy as the server enforces it: the stored document, or core's
 * `DEFAULT_POLICY` until an administrator sets one. A stored document that no longer parses (a
 * newer server wrote it) falls back to the default rather than to no policy.
 */
export async function currentPolicy(ctx: Pick<AppContext, 'store'>): Promise<Policy> {
  const row = await ctx.store.policy.getPolicy()
  if (!row) return DEFAULT_POLICY
  try {
    const r = policySchema.safeParse(JSON.parse(row.document))
    return r.success ? r.data : DEFAULT_POLICY
  } catch {
    return DEFAULT_POLICY
  }
}

/** Stores a new policy document set by the administrator `admin`. */
export async function setPolicy(ctx: AppContext, admin: Auth, policy: Policy): Promise<void> {
  await ctx.store.policy.putPolicy({
    document: JSON.stringify(policy),
    updatedAt: ctx.now(),
    updatedBy: admin.accountId,
  })
}

/** Runs a core policy check, turning its `PolicyError` into the API's `POLICY_FORBIDS` (or size) error. */
export function enforce<T>(check: () => T): T {
  try {
    return check()
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e
    throw new ServerError(e.rule === 'max-item-size' ? 'ITEM_TOO_LARGE' : 'POLICY_FORBIDS', e.message)
  }
}
