import {
  type AdminAccount,
  type AdminShare,
  adminAccountSchema,
  adminAccountsResponseSchema,
  adminShareSchema,
  adminSharesResponseSchema,
  createInviteResponseSchema,
  InvalidInputError,
  meResponseSchema,
  type Policy,
  policyResponseSchema,
  policySchema,
} from '@airlock/core'
import type { Api } from './api.ts'

/**
 * The organisation's policy (every account reads it, to offer only labels it allows), account
 * administration and every account's share links for administrators. Nothing here touches content: the server answers with
 * counts and sizes only.
 */

export async function me(api: Api): Promise<{ username: string; admin: boolean }> {
  const r = await api.json('GET', '/accounts/me', meResponseSchema)
  return { username: r.username, admin: r.admin }
}

export function policy(api: Api): Promise<Policy> {
  return api.json('GET', '/policy', policyResponseSchema)
}

/** Writes the whole policy document; checked here first so a bad form never leaves the browser. */
export function putPolicy(api: Api, p: unknown): Promise<Policy> {
  const r = policySchema.safeParse(p)
  if (!r.success) throw new InvalidInputError(`the policy is not valid: ${r.error.issues[0]?.message ?? ''}`)
  return api.json('PUT', '/admin/policy', policyResponseSchema, { body: r.data })
}

export async function accounts(api: Api): Promise<AdminAccount[]> {
  return (await api.json('GET', '/admin/accounts', adminAccountsResponseSchema)).accounts
}

export function update(
  api: Api,
  accountId: string,
  change: { disabled?: boolean; quotaBytes?: number | null },
): Promise<AdminAccount> {
  return api.json('PATCH', `/admin/accounts/${encodeURIComponent(accountId)}`, adminAccountSchema, {
    body: change,
  })
}

/** Every account's share links, as metadata (owner, dates, downloads, state; never items). */
export async function shares(api: Api): Promise<AdminShare[]> {
  return (await api.json('GET', '/admin/shares', adminSharesResponseSchema)).shares
}

/** Revokes any account's share link at once. */
export function revokeShare(api: Api, shareId: string): Promise<AdminShare> {
  return api.json('DELETE', `/admin/shares/${encodeURIComponent(shareId)}`, adminShareSchema)
}

/** A one-time invite code for a new account (administrators, or everyone if the policy says so). */
export async function invite(api: Api): Promise<{ code: string; expiresAt: number }> {
  const r = await api.json('POST', '/invites', createInviteResponseSchema, { body: {} })
  return { code: r.code, expiresAt: r.expiresAt }
}
