import {
  acceptRequest,
  answerAccount,
  type Conversation,
  declineRequest,
  existingDirect,
  parseRecipient,
  printable,
  sortConversations,
} from '@airlock/core'
import type { Context } from '../context.js'
import { getConversation, groupNamed, lookupColleague } from '../conversations.js'
import { CliError } from '../errors.js'
import { Session } from '../session.js'

/**
 * Requests and invitations (core's `consent.ts`): a first direct conversation from someone I never
 * answered, and groups I was put into, wait here until I accept, decline or block. Nothing of
 * them is downloaded, shown in `inbox` or saved by `watch` before I accept.
 */

/** `airlock requests`: what waits for my answer. */
export async function listRequests(ctx: Context): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const { requests } = await sortConversations(s)
  const rows = requests.map((r) => ({
    kind: r.kind,
    conversationId: r.conversation.conversationId,
    fromAccount: r.from.accountId,
    fromName: r.from.username,
    group: r.groupName ?? null,
    waiting: r.waiting,
  }))
  ctx.out.result(
    { requests: rows },
    rows.length === 0
      ? ['(no requests or invitations)']
      : [
          ...rows.map((r) =>
            r.kind === 'request'
              ? `request from @${printable(r.fromName)}: ${r.waiting} item(s) waiting, nothing downloaded  (airlock accept ${printable(r.fromName)} | decline | block)`
              : `invitation to #${printable(r.group ?? '')} (id ${r.conversationId}) from @${printable(r.fromName)}  (airlock accept '#${printable(r.group ?? '')}' | decline)`,
          ),
        ],
  )
}

/**
 * `airlock accept|decline <user|#group|id>`: answers a request (direct) or an invitation (my
 * device signs `join`, or my own removal). Accepting someone who has not written yet is fine: their
 * first contact will not be a request.
 */
export async function answerRequest(ctx: Context, who: string, to: 'accept' | 'decline'): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const name = parseRecipient(who)
  let conv: Conversation | null
  let label: string
  if (name.kind === 'colleague') {
    const accountId = await lookupColleague(s, name.username)
    if (accountId === s.config.accountId) throw new CliError('USAGE', 'that is you')
    conv = await existingDirect(s, accountId)
    label = `@${printable(name.username)}`
    if (!conv) {
      await answerAccount(s.client, accountId, to)
      ctx.out.result(
        { account: accountId, consent: to === 'accept' ? 'accepted' : 'declined' },
        `${to === 'accept' ? 'accepted' : 'declined'} ${label} (no conversation yet)`,
      )
      return
    }
  } else if (name.kind === 'group') {
    conv = await groupNamed(s, name.name)
    label = `#${printable(name.name)}`
  } else if (name.kind === 'conversation') {
    conv = await getConversation(s, name.conversationId)
    label = conv.conversationId
  } else {
    throw new CliError('USAGE', 'your own devices need no answer')
  }
  if (to === 'accept') await acceptRequest(s, conv)
  else await declineRequest(s, conv)
  ctx.out.result(
    {
      conversationId: conv.conversationId,
      kind: conv.kind,
      consent: to === 'accept' ? 'accepted' : 'declined',
    },
    to === 'accept'
      ? `accepted ${label}${conv.kind === 'group' ? ' (joined: members encrypt to your devices from now on)' : ''}`
      : `declined ${label}${conv.kind === 'group' ? ' (you left the group)' : ''}`,
  )
}

/**
 * `airlock block|unblock <user>`: the server refuses (or again accepts) their direct
 * conversations, items and group invitations to me.
 */
export async function blockColleague(ctx: Context, username: string, block: boolean): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const named = parseRecipient(username)
  if (named.kind !== 'colleague') throw new CliError('USAGE', 'block a colleague by username')
  const accountId = await lookupColleague(s, named.username)
  if (accountId === s.config.accountId) throw new CliError('USAGE', 'that is you')
  const r = await answerAccount(s.client, accountId, block ? 'block' : 'unblock')
  ctx.out.result(
    { account: accountId, consent: r.consent },
    block
      ? `blocked @${printable(named.username)}: no conversations, items or group invitations from them`
      : `unblocked @${printable(named.username)}: their next item is a request again`,
  )
}
