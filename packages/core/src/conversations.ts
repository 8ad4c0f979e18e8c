import { type Conversation, usernameSchema } from './api.js'
import { randomBytes, toBase64Url } from './bytes.js'
import { callEndpoint } from './call-endpoint.js'
import type { VerifiedLog } from './device-log.js'
import type { Directory } from './directory.js'
import { BadResponseError, InvalidInputError, NotFoundError } from './errors.js'
import { printable } from './filename.js'
import { appendGroupEntry, createGroupEntry, type GroupChange, type VerifiedGroup } from './group-log.js'
import type { DeviceSecrets } from './identity.js'
import { isServerError, type Transport } from './transport.js'

/**
 * Conversations as every client reaches them: my own one, one with a colleague (found by
 * username), and groups. Who is in a conversation comes only from core's `Directory` (colleagues'
 * device logs pinned on first use, group logs verified entry by entry); what the server answers
 * here only says where to look, and each answer is checked against what was asked.
 */

/** What the flows here need from a signed-in client. */
export interface ConversationClient {
  readonly transport: Transport
  readonly directory: Directory
  readonly accountId: string
  readonly device: DeviceSecrets
  /** My own verified log, synced now (group entries are signed from it). */
  syncedLog(): Promise<VerifiedLog>
}

/** My own conversation, which the server is never asked about. */
export function selfConversation(accountId: string, selfConversationId: string): Conversation {
  return { conversationId: selfConversationId, kind: 'self', members: [accountId], lastSeq: 0, createdAt: 0 }
}

/** Every conversation the server lists for me. */
export async function listConversations(t: Transport): Promise<Conversation[]> {
  return (await callEndpoint(t, 'listConversations', {})).conversations
}

/**
 * One conversation as the server describes it: `NotFoundError` if it has none, `BadResponseError`
 * if it answers with another one or one I am not in.
 */
export async function getConversation(t: Transport, accountId: string, cid: string): Promise<Conversation> {
  let c: Conversation
  try {
    c = await callEndpoint(t, 'getConversation', { params: { cid } })
  } catch (e) {
    if (isServerError(e, 'NOT_FOUND')) throw new NotFoundError(`no conversation ${cid}`)
    throw e
  }
  if (c.conversationId !== cid || !c.members.includes(accountId)) throw new BadResponseError('conversation')
  return c
}

/**
 * The account the server names `username`: `NotFoundError` if nobody has it, `BadResponseError`
 * if it answers for another name, and `ColleagueKeysChangedError` if it now names another account
 * than the colleague pinned under that name (a server swapping who "bob" is).
 */
export async function lookupAccount(
  t: Transport,
  directory: Directory,
  username: string,
): Promise<{ accountId: string; username: string }> {
  const wanted = username.trim()
  let found: { accountId: string; username: string }
  try {
    found = await callEndpoint(t, 'lookupAccount', { query: { username: wanted } })
  } catch (e) {
    if (isServerError(e, 'NOT_FOUND') || isServerError(e, 'BAD_REQUEST'))
      throw new NotFoundError(`nobody is called ${printable(wanted)} on this server`)
    throw e
  }
  if (found.username !== wanted) throw new BadResponseError('lookup answer (another username)')
  await directory.checkUsername(found.username, found.accountId)
  return found
}

/**
 * The direct conversation with `accountId` (the server creates it on first use), checked to be
 * with exactly that account, which is pinned as its peer.
 */
export async function openDirect(c: ConversationClient, accountId: string): Promise<Conversation> {
  if (accountId === c.accountId) throw new InvalidInputError('that is you: send to your own devices instead')
  const conv = await callEndpoint(c.transport, 'createConversation', {
    body: { kind: 'direct', members: [accountId] },
  })
  if (conv.kind !== 'direct') throw new BadResponseError('conversation (not a direct one)')
  if ((await c.directory.directPeer(conv)) !== accountId)
    throw new BadResponseError('conversation (with someone else)')
  return conv
}

/**
 * Creates a group I own with these members (accounts, already looked up). Each member's devices
 * are pinned first (trust on first use), before anything can be sent to the group. Returns the
 * group's verified log.
 */
export async function createGroup(
  c: ConversationClient,
  name: string,
  accountIds: readonly string[],
): Promise<VerifiedGroup> {
  const members: { account: string; role: 'member' }[] = []
  for (const account of accountIds) {
    if (account === c.accountId || members.some((m) => m.account === account)) continue
    await c.directory.colleague(account)
    members.push({ account, role: 'member' })
  }
  // An id that could also be a username would be read as the username (see addressing.ts).
  let group = toBase64Url(randomBytes(16))
  while (usernameSchema.safeParse(group).success) group = toBase64Url(randomBytes(16))
  const entry = createGroupEntry({ group, name, members, signer: c.device, signerLog: await c.syncedLog() })
  const conv = await callEndpoint(c.transport, 'createConversation', { body: { kind: 'group', entry } })
  if (conv.conversationId !== group || conv.kind !== 'group') throw new BadResponseError('conversation')
  return c.directory.group(group)
}

/**
 * One signed membership change, built on the group's verified log and accepted by the server as
 * the next entry. A member being added is pinned first. When another member changed the group at
 * the same moment (`STALE_HEAD`), the change is built again on theirs (up to three times).
 * Returns the group's verified log after the change, or null when I left it.
 */
export async function changeGroup(
  c: ConversationClient,
  conversationId: string,
  change: GroupChange,
): Promise<VerifiedGroup | null> {
  if (change.op === 'add') await c.directory.colleague(change.account)
  for (let attempt = 0; ; attempt++) {
    const g = await c.directory.group(conversationId)
    const entry = appendGroupEntry(g, change, c.device, await c.syncedLog())
    try {
      const res = await callEndpoint(c.transport, 'appendGroupLog', {
        params: { cid: conversationId },
        body: { entry },
      })
      if (res.head.seq !== g.seq + 1) throw new BadResponseError('group log head')
      break
    } catch (e) {
      if (!isServerError(e, 'STALE_HEAD') || attempt >= 3) throw e
    }
  }
  if (change.op === 'remove' && change.account === c.accountId) return null
  return c.directory.group(conversationId)
}
