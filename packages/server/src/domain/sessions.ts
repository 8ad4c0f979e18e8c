import {
  AUTH_SIGN_CONTEXT,
  authSignedValue,
  type ChallengeResponse,
  type SessionRequest,
  type SessionResponse,
  verifyCanonical,
} from '@airlock/core'
import type { AppContext } from '../context.js'
import { AccountDisabledError, ServerError, UnauthenticatedError } from '../errors.js'
import { hashSecret, randomSecret } from '../tokens.js'

/** Who a request comes from: an active device of an account, with a live session. */
export interface Auth {
  accountId: string
  deviceId: string
  tokenHash: string
  expiresAt: number
}

const CHALLENGE_TTL_MS = 60_000

/**
 * A login challenge for `deviceId`. Unknown or removed devices get one too (never stored), so
 * device ids cannot be probed.
 */
export async function issueChallenge(ctx: AppContext, deviceId: string): Promise<ChallengeResponse> {
  const challenge = randomSecret()
  const expiresAt = ctx.now() + CHALLENGE_TTL_MS
  const device = await ctx.store.logs.getDevice(deviceId)
  if (device?.active) await ctx.store.sessions.putChallenge({ challenge, deviceId: device.id, expiresAt })
  return { challenge, expiresAt }
}

/**
 * Login without passwords: the device signed `AUTH_SIGN_CONTEXT ‖ {challenge, deviceId, origin}`
 * with its Ed25519 key; a valid signature over a live challenge gets a short-lived bearer token.
 * Every failure looks the same (`BAD_SIGNATURE`), so nothing tells whether a device id exists;
 * `ACCOUNT_DISABLED` is said only after the signature verified.
 */
export async function openSession(ctx: AppContext, body: SessionRequest): Promise<SessionResponse> {
  const now = ctx.now()
  // Taken (deleted) before anything is checked: a challenge is good for one attempt only.
  const challenge = await ctx.store.sessions.takeChallenge(body.challenge)
  if (!ctx.origins().has(body.origin)) {
    throw new UnauthenticatedError('this server does not answer to that origin (see --public-url)')
  }
  const failed = new ServerError('BAD_SIGNATURE', 'login failed')
  if (!challenge || challenge.deviceId !== body.deviceId || challenge.expiresAt <= now) throw failed
  const device = await ctx.store.logs.getDevice(body.deviceId)
  if (!device?.active) throw failed
  try {
    verifyCanonical(device.signKey, AUTH_SIGN_CONTEXT, authSignedValue(body), body.signature)
  } catch {
    throw failed
  }
  // Only after the signature verified, so this answer tells nothing to someone without the key.
  if (await ctx.store.accounts.isAccountDisabled(device.accountId)) throw new AccountDisabledError()
  const token = randomSecret()
  const expiresAt = now + ctx.config.sessionTtlSeconds * 1000
  await ctx.store.sessions.createSession({
    tokenHash: hashSecret(token),
    deviceId: device.id,
    accountId: device.accountId,
    expiresAt,
  })
  return { token, expiresAt, accountId: device.accountId, deviceId: device.id }
}

/** Logout: ends this session at once. */
export async function endSession(ctx: AppContext, auth: Auth): Promise<void> {
  await ctx.store.sessions.deleteSession(auth.tokenHash)
}

/**
 * Resolves a session token to its device. Throws `UnauthenticatedError` if the token is
 * unknown or expired, or its device was removed (which also ends the session);
 * `AccountDisabledError` if an administrator disabled the account.
 */
export async function authenticateToken(ctx: AppContext, token: string): Promise<Auth> {
  const tokenHash = hashSecret(token)
  const session = await ctx.store.sessions.getSession(tokenHash)
  if (!session || session.expiresAt <= ctx.now()) throw new UnauthenticatedError('session expired or unknown')
  const device = await ctx.store.logs.getDevice(session.deviceId)
  if (!device?.active || device.accountId !== session.accountId) {
    await ctx.store.sessions.deleteSession(tokenHash)
    throw new UnauthenticatedError('session expired or unknown')
  }
  // Disabling deletes the sessions; this also covers a login that raced the disable.
  if (await ctx.store.accounts.isAccountDisabled(session.accountId)) {
    await ctx.store.sessions.deleteSession(tokenHash)
    throw new AccountDisabledError()
  }
  return { accountId: session.accountId, deviceId: session.deviceId, tokenHash, expiresAt: session.expiresAt }
}

/** True while an authenticated session (a push socket's) is unexpired, present, and its device active. */
export async function sessionStillValid(ctx: AppContext, auth: Auth): Promise<boolean> {
  if (auth.expiresAt <= ctx.now()) return false
  const session = await ctx.store.sessions.getSession(auth.tokenHash).catch(() => null)
  const device = await ctx.store.logs.getDevice(auth.deviceId).catch(() => null)
  return session !== null && device?.active === true
}
