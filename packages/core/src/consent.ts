import type { Contact, Conversation, ConversationConsent } from './api.js'
import { callEndpoint } from './call-endpoint.js'
import { type ConversationClient, changeGroup, listConversations } from './conversations.js'
import type { Directory } from './directory.js'
import { AirlockError, BadResponseError, InvalidInputError, NotAcceptedError } from './errors.js'
import { invitedBy, type VerifiedGroup } from './group-log.js'
import type { Transport } from './transport.js'

/**
 * Who may reach me (consent), decided once for every client, as in the messengers people know:
 *
 * - A first direct conversation from someone I never answered is a *request*: listed apart from
 *   my conversations, never notified or saved as an item, and nothing of it is downloaded until
 *   I accept. I accept, decline (their items are refused until I accept) or block (the server
 *   refuses their conversations, items and group invitations to me). Starting a conversation
 *   accepts it on my side. The server keeps these answers and enforces them; a server that lies
 *   about them can show me a stranger's items, but never unverified ones (SECURITY.md).
 * - Being put into a group is an *invitation*: my own device accepts it by signing a `join` entry
 *   in the group's log (core's `group-log.ts`) and declines it by signing my own `remove`. Until
 *   I join, members' clients do not encrypt to me and the server gives my devices nothing of the
 *   group. Whether I joined is read from the group log this device verified, never from the
 *   server's word.
 *
 * Clients show {@link Requests.requests} apart, with Accept / Decline / Block, and read, save and
 * notify only {@link Requests.accepted} conversations.
 */

/** Where I stand in a conversation: the server's answer for direct ones, the verified log for groups. */
export async function standingIn(
  directory: Directory,
  accountId: string,
  c: Conversation,
): Promise<ConversationConsent> {
  if (c.kind === 'self') return 'accepted'
  if (c.kind === 'direct') return c.consent === 'invited' ? 'request' : (c.consent ?? 'accepted')
  return invitationStanding(await directory.group(c.conversationId), accountId)
}

/** True for a conversation whose items I read, save and am notified of. */
export function receivesItems(standing: ConversationConsent): boolean {
  return standing === 'accepted'
}

/**
 * Throws `NotAcceptedError` unless I accepted `c` (joined, for a group): what every path that
 * lists, opens or downloads an item checks first, so nothing of a request or invitation is
 * verified, pinned or fetched.
 */
export async function requireAccepted(
  directory: Directory,
  accountId: string,
  c: Conversation,
): Promise<void> {
  const standing = await standingIn(directory, accountId, c)
  if (receivesItems(standing)) return
  throw new NotAcceptedError(NOT_ACCEPTED_SAYS[standing])
}

const NOT_ACCEPTED_SAYS = {
  accepted: '',
  request: 'this conversation is a request you have not accepted; accept it first',
  invited: 'you were invited to this group; accept the invitation first',
  declined: 'you declined this conversation; accept it to read it',
  blocked: 'you blocked this account; unblock it to read this conversation',
} as const satisfies Record<ConversationConsent, string>

/** A first contact or a group invitation, as shown apart from my conversations. */
export interface ConsentRequest {
  readonly kind: 'request' | 'invitation'
  readonly conversation: Conversation
  /** Who started the direct conversation, or who put me into the group (the verified log's signer). */
  readonly from: { readonly accountId: string; readonly username: string }
  /** Invitations: the group's verified name. */
  readonly groupName?: string
  /** Requests: how many items wait (the server's count; nothing of them is fetched). */
  readonly waiting: number
}

/** My conversations, split by where I stand. */
export interface Requests {
  /** Conversations I read, save and am notified of (groups whose log does not verify included, to show why). */
  readonly accepted: Conversation[]
  /** Requests and invitations I have not answered. */
  readonly requests: ConsentRequest[]
  /** Direct conversations I declined or whose other account I blocked. */
  readonly hidden: Conversation[]
}

/**
 * Every conversation the server lists for me, split by consent. A group is an invitation only if
 * the log this device verified says I was invited and have not joined; a group whose log does not
 * verify stays among the accepted ones, where reading its items fails with the reason.
 */
export async function sortConversations(c: ConversationClient): Promise<Requests> {
  const accepted: Conversation[] = []
  const requests: ConsentRequest[] = []
  const hidden: Conversation[] = []
  for (const conv of await listConversations(c.transport)) {
    if (conv.kind === 'self') {
      accepted.push(conv)
    } else if (conv.kind === 'direct') {
      const standing = await standingIn(c.directory, c.accountId, conv)
      if (standing === 'accepted') accepted.push(conv)
      else if (standing !== 'request') hidden.push(conv)
      else {
        const peer = await c.directory.directPeer(conv)
        requests.push({
          kind: 'request',
          conversation: conv,
          from: { accountId: peer, username: await usernameOf(c.transport, peer) },
          waiting: conv.lastSeq,
        })
      }
    } else {
      let g: VerifiedGroup
      try {
        g = await c.directory.group(conv.conversationId)
      } catch (e) {
        if (!(e instanceof AirlockError)) throw e
        accepted.push(conv)
        continue
      }
      if (invitationStanding(g, c.accountId) !== 'invited') {
        accepted.push(conv)
        continue
      }
      const by = invitedBy(g, c.accountId) ?? c.accountId
      requests.push({
        kind: 'invitation',
        conversation: conv,
        from: { accountId: by, username: await usernameOf(c.transport, by) },
        groupName: g.name,
        waiting: 0,
      })
    }
  }
  return { accepted, requests, hidden }
}

/**
 * My direct conversation with `accountId` if one exists, without starting one (starting one
 * would accept it on my side): for answering a request by the requester's name.
 */
export async function existingDirect(c: ConversationClient, accountId: string): Promise<Conversation | null> {
  for (const conv of await listConversations(c.transport)) {
    if (conv.kind !== 'direct' || !conv.members.includes(accountId)) continue
    if ((await c.directory.directPeer(conv)) === accountId) return conv
  }
  return null
}

/**
 * Accepts a request or invitation: a direct conversation's items are then listed and served to
 * me; a group is joined by a `join` entry my device signs (members encrypt to me from then on).
 * Returns the group's verified log after joining, or null for a direct conversation.
 */
export async function acceptRequest(
  c: ConversationClient,
  conv: Conversation,
): Promise<VerifiedGroup | null> {
  if (conv.kind === 'self') throw new InvalidInputError('your own devices need no accepting')
  if (conv.kind === 'direct') {
    await answerAccount(c.transport, await c.directory.directPeer(conv), 'accept')
    return null
  }
  const g = await c.directory.group(conv.conversationId)
  if (!g.invited.has(c.accountId)) return g
  return changeGroup(c, conv.conversationId, { op: 'join' })
}

/**
 * Declines a request or invitation: the other account's items to me are refused until I accept
 * (direct), or my device signs my own removal from the group.
 */
export async function declineRequest(c: ConversationClient, conv: Conversation): Promise<void> {
  if (conv.kind === 'self') throw new InvalidInputError('you cannot decline your own devices')
  if (conv.kind === 'direct') {
    await answerAccount(c.transport, await c.directory.directPeer(conv), 'decline')
    return
  }
  await changeGroup(c, conv.conversationId, { op: 'remove', account: c.accountId })
}

/**
 * Blocks whoever sent a request or invitation: their account is blocked and, for an invitation,
 * I leave the group. Returns the account blocked.
 */
export async function blockRequest(c: ConversationClient, request: ConsentRequest): Promise<string> {
  await answerAccount(c.transport, request.from.accountId, 'block')
  if (request.kind === 'invitation') await declineRequest(c, request.conversation)
  return request.from.accountId
}

/**
 * My answer to an account, whether or not it has written to me yet: `accept` (its first contact
 * is no request), `decline`, `block` (no conversations, items or group invitations from it) or
 * `unblock` (back to no answer). The server's answer must be about that account.
 */
export async function answerAccount(
  t: Transport,
  accountId: string,
  answer: 'accept' | 'decline' | 'block' | 'unblock',
): Promise<Contact> {
  const endpoint = ANSWER_ENDPOINT[answer]
  const r = await callEndpoint(t, endpoint, { params: { id: accountId } })
  if (r.accountId !== accountId || r.consent !== ANSWER_STATE[answer])
    throw new BadResponseError('consent answer')
  return r
}

/** Every account I answered (accepted, declined, blocked), as the server keeps it. */
export async function listContacts(t: Transport): Promise<Contact[]> {
  return (await callEndpoint(t, 'listContacts', {})).contacts
}

const ANSWER_ENDPOINT = {
  accept: 'acceptContact',
  decline: 'declineContact',
  block: 'blockContact',
  unblock: 'unblockContact',
} as const
const ANSWER_STATE = {
  accept: 'accepted',
  decline: 'declined',
  block: 'blocked',
  unblock: 'requested',
} as const satisfies Record<keyof typeof ANSWER_ENDPOINT, Contact['consent']>

function invitationStanding(g: VerifiedGroup, accountId: string): ConversationConsent {
  return g.invited.has(accountId) ? 'invited' : 'accepted'
}

/** The username the server gives an account (shown only; never trusted for keys). */
async function usernameOf(t: Transport, accountId: string): Promise<string> {
  const r = await callEndpoint(t, 'lookupAccount', { query: { accountId } })
  if (r.accountId !== accountId) throw new BadResponseError('lookup answer (another account)')
  return r.username
}
