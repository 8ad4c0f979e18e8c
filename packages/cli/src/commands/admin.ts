import { createInviteResponseSchema } from '@airlock/core'
import type { Context } from '../context.js'
import { CliError, isApiError } from '../errors.js'
import { formatTime } from '../output.js'
import { Session } from '../session.js'

/** `airlock invite`: an administrator makes a one-time invite code for a new account. */
export async function invite(ctx: Context, opts: { hours?: string }): Promise<void> {
  const hours = opts.hours === undefined ? undefined : Number(opts.hours)
  if (hours !== undefined && (!Number.isInteger(hours) || hours < 1 || hours > 720)) {
    throw new CliError('USAGE', '--hours is a whole number from 1 to 720')
  }
  const s = await Session.open(ctx.home, ctx.out, { sync: false })
  try {
    const r = await s.client.json('POST', '/invites', createInviteResponseSchema, {
      body: hours === undefined ? {} : { expiresInHours: hours },
    })
    ctx.out.result({ code: r.code, expiresAt: r.expiresAt }, [
      `Invite code: ${r.code}`,
      `Valid once, until ${formatTime(r.expiresAt)}. The new user runs: airlock setup ${s.config.server}`,
    ])
  } catch (e) {
    if (isApiError(e, 'FORBIDDEN')) throw new CliError('USAGE', 'only administrators can invite')
    throw e
  }
}
