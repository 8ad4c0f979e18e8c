import type { FastifyRequest } from 'fastify'
import type { AppContext } from '../context.js'
import { requireAdminAccount } from '../domain/accounts.js'
import { type Auth, authenticateToken } from '../domain/sessions.js'
import { UnauthenticatedError } from '../errors.js'

const BEARER = /^Bearer ([A-Za-z0-9_-]{43})$/
const cache = new WeakMap<FastifyRequest, Auth>()

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

/** The request's device, whose account must be an administrator; else `FORBIDDEN`. */
export async function requireAdmin(ctx: AppContext, req: FastifyRequest): Promise<Auth> {
  const auth = await requireAuth(ctx, req)
  await requireAdminAccount(ctx, auth)
  return auth
}
