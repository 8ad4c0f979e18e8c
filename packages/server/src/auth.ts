import type { FastifyRequest } from 'fastify'
import type { AppContext } from './context.js'
import { AccountDisabledError, UnauthenticatedError } from './errors.js'
import { hashSecret } from './tokens.js'

/** Who a request comes from: an active device of an account, with a live session. */
export interface Auth {
  accountId: string
  deviceId: string
  tokenHash: string
  expiresAt: number
}

const BEARER = /^Bearer ([A-Za-z0-9_-]{43})$/
const cache = new WeakMap<FastifyRequest, Auth>()

/**
 * Resolves a session token to its device. Throws `UnauthenticatedError` if the token is
 * malformed, unknown or expired, or its device was removed (which also ends the session);
 * `AccountDisabledError` if an administrator disabled the account.
 */
export async function authenticateToken(ctx: AppContext, token: string): Promise<Auth> {
  const tokenHash = hashSecret(token)
  const session = await ctx.store.getSession(tokenHash)
  if (!session || session.expiresAt <= ctx.now()) throw new UnauthenticatedError('session expired or unknown')
  const device = await ctx.store.getDevice(session.deviceId)
  if (!device?.active || device.accountId !== session.accountId) {
    await ctx.store.deleteSession(tokenHash)
    throw new UnauthenticatedError('session expired or unknown')
  }
  // Disabling deletes the sessions; this also covers a login that raced the disable.
  if (await ctx.store.isAccountDisabled(session.accountId)) {
    await ctx.store.deleteSession(tokenHash)
    throw new AccountDisabledError()
  }
  return { accountId: session.accountId, deviceId: session.deviceId, tokenHash, expiresAt: session.expiresAt }
}

/** The request's `Authorization: Bearer <token>`, authenticated (memoised per request). */
export async function requireAuth(ctx: AppContext, req: FastifyRequest): Promise<Auth> {
  const hit = cache.get(req)
  if (hit) return hit
  const m = BEARER.exec(req.headers.authorization ?? '')
  if (!m) throw new UnauthenticatedError('a bearer token is required')
  const auth = await authenticateToken(ctx, m[1]!)
  cache.set(req, auth)
  return auth
}

/** Like {@link requireAuth}, but null when the request carries no `Authorization` header. */
export async function optionalAuth(ctx: AppContext, req: FastifyRequest): Promise<Auth | null> {
  return req.headers.authorization === undefined ? null : requireAuth(ctx, req)
}
