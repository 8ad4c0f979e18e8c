import {
  AUTH_SIGN_CONTEXT,
  authSignedValue,
  type ChallengeResponse,
  challengeRequestSchema,
  type SessionResponse,
  sessionRequestSchema,
  verifyCanonical,
} from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import { requireAuth } from '../auth.js'
import type { AppContext } from '../context.js'
import { AccountDisabledError, ServerError, UnauthenticatedError } from '../errors.js'
import { LIMITS } from '../rate-limit.js'
import { hashSecret, randomSecret } from '../tokens.js'
import { parseInput } from '../validation.js'

const CHALLENGE_TTL_MS = 60_000

/**
 * Login without passwords: the device asks for a challenge, signs
 * `AUTH_SIGN_CONTEXT ‖ {challenge, deviceId, origin}` with its Ed25519 key, and gets a
 * short-lived bearer token. Every failure looks the same to the client, so nothing tells whether a
 * device id exists.
 */
export function authRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/auth/challenge', async (req) => {
    ctx.limiter.take(`auth:${req.ip}`, LIMITS.auth)
    const body = parseInput(challengeRequestSchema, req.body)
    const challenge = randomSecret()
    const expiresAt = ctx.now() + CHALLENGE_TTL_MS
    const device = await ctx.store.getDevice(body.deviceId)
    // Unknown or removed devices get a challenge too (never stored), so ids cannot be probed.
    if (device?.active) await ctx.store.putChallenge({ challenge, deviceId: device.id, expiresAt })
    const res: ChallengeResponse = { challenge, expiresAt }
    return res
  })

  app.post('/auth/session', async (req, reply) => {
    ctx.limiter.take(`auth:${req.ip}`, LIMITS.auth)
    const body = parseInput(sessionRequestSchema, req.body)
    const now = ctx.now()
    // Taken (deleted) before anything is checked: a challenge is good for one attempt only.
    const challenge = await ctx.store.takeChallenge(body.challenge)
    if (!ctx.origins().has(body.origin)) {
      throw new UnauthenticatedError('this server does not answer to that origin (see --public-url)')
    }
    const failed = new ServerError('BAD_SIGNATURE', 'login failed')
    if (!challenge || challenge.deviceId !== body.deviceId || challenge.expiresAt <= now) throw failed
    const device = await ctx.store.getDevice(body.deviceId)
    if (!device?.active) throw failed
    try {
      verifyCanonical(device.signKey, AUTH_SIGN_CONTEXT, authSignedValue(body), body.signature)
    } catch {
      throw failed
    }
    // Only after the signature verified, so this answer tells nothing to someone without the key.
    if (await ctx.store.isAccountDisabled(device.accountId)) throw new AccountDisabledError()
    const token = randomSecret()
    const expiresAt = now + ctx.config.sessionTtlSeconds * 1000
    await ctx.store.createSession({
      tokenHash: hashSecret(token),
      deviceId: device.id,
      accountId: device.accountId,
      expiresAt,
    })
    const res: SessionResponse = { token, expiresAt, accountId: device.accountId, deviceId: device.id }
    return reply.header('cache-control', 'no-store').send(res)
  })

  /** Logout: ends this session at once. */
  app.delete('/auth/session', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    await ctx.store.deleteSession(auth.tokenHash)
    return reply.code(204).send()
  })
}
