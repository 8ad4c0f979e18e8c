import { conversationSchema, policyResponseSchema } from '@airlock/core'
import type { Context } from '../context.js'
import { Session } from '../session.js'
import { formatDuration, parseDuration } from './admin.js'

/**
 * `airlock retention [<duration>|none]`: how long items in my own conversation are kept. Items
 * sent after a change are deleted that long after they are sent, from every device and from the
 * server; the organisation's server-wide lifetime and a label's maximum still apply when shorter.
 */
export async function retention(ctx: Context, value: string | undefined): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out, { sync: false })
  const path = `/conversations/${s.config.selfConversationId}`
  const c =
    value === undefined
      ? await s.client.json('GET', path, conversationSchema)
      : await s.client.json('PUT', `${path}/retention`, conversationSchema, {
          body: { retentionMs: /^(none|off)$/i.test(value) ? null : parseDuration(value) },
        })
  const policy = await s.client.json('GET', '/policy', policyResponseSchema)
  const own = c.retentionMs ?? null
  const server = policy.itemLifetimeMs
  ctx.out.result({ retentionMs: own, serverLifetimeMs: server }, [
    `items sent here are kept ${own === null ? 'until deleted' : `for ${formatDuration(own)}`}`,
    ...(server === null ? [] : [`the organisation deletes every item after ${formatDuration(server)}`]),
  ])
}
