import type { Contact, ContactConsent, ConversationConsent, VerifiedGroup } from '@airlock/core'
import type { AppContext } from '../context.js'
import { InvalidBodyError, NotFoundError, ServerError } from '../errors.js'
import type { ContactAnswer } from '../storage/metadata/contacts.js'
import type { ConversationRecord } from '../storage/metadata/conversations.js'
import { currentPolicy } from './policy.js'

/**
 * Who may reach whom, as the server enforces it (core's `consent.ts` is the clients' side). Each
 * account answers another — accepted, declined, blocked, or not yet (a request) — and:
 *
 * - a direct conversation someone else started is a request until I accept it: its items are
 *   not listed, served or pushed to me (a `request` event says it is there), and I post nothing
 *   to it; whoever starts a conversation accepts it on their side by starting it;
 * - declined: the other's items to me are refused until I accept;
 * - blocked: no direct conversation, item or group invitation from the blocked account, and no
 *   item to it from me;
 * - a group member who has not signed `join` (invited) gets nothing of the group and posts nothing.
 *
 * The organisation's `colleagueRequests: false` makes a colleague's first contact accepted at once.
 */

/** `accountId`'s answer to `peerId`, with no answer read through the policy: requested or accepted. */
export async function answerOf(ctx: AppContext, accountId: string, peerId: string): Promise<ContactConsent> {
  const row = await ctx.store.contacts.getContact(accountId, peerId)
  if (row) return row.consent
  return (await currentPolicy(ctx)).colleagueRequests ? 'requested' : 'accepted'
}

/** Where `accountId` stands in `c` (the `consent` field of the conversation listing). */
export async function standingIn(
  ctx: AppContext,
  c: ConversationRecord,
  accountId: string,
): Promise<ConversationConsent> {
  if (c.kind === 'group') return c.invited?.includes(accountId) ? 'invited' : 'accepted'
  if (c.kind !== 'direct') return 'accepted'
  const answer = await answerOf(ctx, accountId, peerOf(c, accountId))
  return answer === 'requested' ? 'request' : answer
}

/**
 * `NOT_ACCEPTED` unless `accountId` accepted `c` (for a group: joined): what listing, fetching,
 * downloading and following its items need.
 */
export async function requireAccepted(
  ctx: AppContext,
  c: ConversationRecord,
  accountId: string,
): Promise<void> {
  const standing = await standingIn(ctx, c, accountId)
  if (standing === 'accepted') return
  throw new ServerError(
    'NOT_ACCEPTED',
    standing === 'invited'
      ? 'you were invited to this group; join it first'
      : 'this conversation is a request you have not accepted',
  )
}

/**
 * May `accountId` post an item to `c` (at reserve and again at commit)? `BLOCKED` if either side
 * of a direct conversation blocked the other; `NOT_ACCEPTED` if the other declined, or the caller
 * has not accepted (a request) or not joined (a group invitation).
 */
export async function checkMayPost(ctx: AppContext, c: ConversationRecord, accountId: string): Promise<void> {
  if (c.kind === 'group') {
    if (c.invited?.includes(accountId))
      throw new ServerError('NOT_ACCEPTED', 'you were invited to this group; join it first')
    return
  }
  if (c.kind !== 'direct') return
  const peer = peerOf(c, accountId)
  const mine = await answerOf(ctx, accountId, peer)
  const theirs = await answerOf(ctx, peer, accountId)
  if (theirs === 'blocked') throw new ServerError('BLOCKED', 'this account does not accept items from you')
  if (mine === 'blocked') throw new ServerError('BLOCKED', 'you blocked this account; unblock it first')
  if (theirs === 'declined') throw new ServerError('NOT_ACCEPTED', 'this account declined your request')
  if (mine !== 'accepted')
    throw new ServerError('NOT_ACCEPTED', 'this conversation is a request you have not accepted')
}

/**
 * The members of `c` an item event goes to (those who accepted or joined), and those who get a
 * `request` event instead (a direct conversation they have not answered).
 */
export async function audienceOf(
  ctx: AppContext,
  c: ConversationRecord,
): Promise<{ receivers: string[]; requested: string[] }> {
  const receivers: string[] = []
  const requested: string[] = []
  for (const m of c.members) {
    const standing = await standingIn(ctx, c, m)
    if (standing === 'accepted') receivers.push(m)
    else if (standing === 'request') requested.push(m)
  }
  return { receivers, requested }
}

/** The members who receive `c`'s item events (accepted or joined). */
export async function receiversOf(ctx: AppContext, c: ConversationRecord): Promise<string[]> {
  return (await audienceOf(ctx, c)).receivers
}

/**
 * Before a direct conversation is started by `accountId` with `peer`: `BLOCKED` if either blocked
 * the other. Starting it accepts it on the starter's side.
 */
export async function startDirect(ctx: AppContext, accountId: string, peer: string): Promise<void> {
  if ((await answerOf(ctx, peer, accountId)) === 'blocked')
    throw new ServerError('BLOCKED', 'this account does not accept conversations from you')
  if ((await answerOf(ctx, accountId, peer)) === 'blocked')
    throw new ServerError('BLOCKED', 'you blocked this account; unblock it first')
  await ctx.store.contacts.setContact({
    accountId,
    peerId: peer,
    consent: 'accepted',
    updatedAt: ctx.now(),
  })
}

/** Tells `c`'s members who have not answered it that it is there (never as an item). */
export async function announceRequest(ctx: AppContext, c: ConversationRecord): Promise<void> {
  const { requested } = await audienceOf(ctx, c)
  if (requested.length) await ctx.hub.publish(requested, { type: 'request', conversationId: c.id })
}

/**
 * `BLOCKED` if a group change by `signer` puts into the group anyone who blocked the signer
 * (members in `after` who were not in `before`).
 */
export async function checkInvitations(
  ctx: AppContext,
  signer: string,
  before: ReadonlySet<string>,
  after: VerifiedGroup,
): Promise<void> {
  for (const account of after.members.keys()) {
    if (before.has(account) || account === signer) continue
    if ((await answerOf(ctx, account, signer)) === 'blocked')
      throw new ServerError('BLOCKED', 'an account you would add does not accept invitations from you')
  }
}

/** The caller's answer to `peerId`: `accept`, `decline`, `block`, or `unblock` (no answer). */
export async function answer(
  ctx: AppContext,
  accountId: string,
  peerId: string,
  to: 'accept' | 'decline' | 'block' | 'unblock',
): Promise<Contact> {
  if (peerId === accountId) throw new InvalidBodyError('that is your own account')
  if (!(await ctx.store.accounts.getAccount(peerId))) throw new NotFoundError('no such account')
  if (to === 'unblock') {
    await ctx.store.contacts.clearContact(accountId, peerId)
  } else {
    const consent: ContactAnswer = to === 'accept' ? 'accepted' : to === 'decline' ? 'declined' : 'blocked'
    await ctx.store.contacts.setContact({ accountId, peerId, consent, updatedAt: ctx.now() })
  }
  return { accountId: peerId, consent: to === 'unblock' ? 'requested' : ANSWERED[to] }
}

/** Every answer the caller gave. */
export async function listContacts(ctx: AppContext, accountId: string): Promise<Contact[]> {
  return (await ctx.store.contacts.listContacts(accountId)).map((r) => ({
    accountId: r.peerId,
    consent: r.consent,
  }))
}

const ANSWERED = { accept: 'accepted', decline: 'declined', block: 'blocked' } as const

function peerOf(c: ConversationRecord, accountId: string): string {
  return c.members.find((m) => m !== accountId) ?? accountId
}
