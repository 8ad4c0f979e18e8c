import { type Conversation, usernameSchema } from './api.js'
import {
  type ConversationClient,
  getConversation,
  listConversations,
  lookupAccount,
  openDirect,
  selfConversation,
} from './conversations.js'
import { AirlockError, NotFoundError } from './errors.js'
import { printable } from './filename.js'

/**
 * Whom a name means, decided once for every client (SECURITY-TESTS 27). Names mean one thing:
 *
 * - nothing, or `me`: my own devices;
 * - `#name`: my group whose verified name is `name`; two such groups are refused, listed with
 *   their owners and ids, never guessed between;
 * - `@name`, or a bare name: the colleague with that username, never a group, so no one can
 *   capture "bob" by creating a group called "bob" with me in it;
 * - 22 characters of base64url that are not also a possible username: that conversation.
 *
 * A text that could be both a username and an id is a username: group ids are chosen by their
 * creator's device, so a stranger could otherwise give a group the id a colleague's name spells.
 */

/** What a recipient text names, before anything is looked up. */
export type RecipientName =
  | { readonly kind: 'self' }
  | { readonly kind: 'colleague'; readonly username: string }
  | { readonly kind: 'group'; readonly name: string }
  | { readonly kind: 'conversation'; readonly conversationId: string }

const ID = /^[A-Za-z0-9_-]{22}$/

/** True if `text` can be a username (then it never names a conversation id). */
export function isUsernameShaped(text: string): boolean {
  return usernameSchema.safeParse(text).success
}

/**
 * What `text` names (see the module comment). Pure; never throws: a name nobody has is found
 * out when it is resolved.
 */
export function parseRecipient(text: string | undefined): RecipientName {
  const t = (text ?? '').trim()
  if (t === '' || t === 'me') return { kind: 'self' }
  if (t.startsWith('#')) return { kind: 'group', name: t.slice(1) }
  if (t.startsWith('@')) return { kind: 'colleague', username: t.slice(1).trim() }
  if (ID.test(t) && !isUsernameShaped(t)) return { kind: 'conversation', conversationId: t }
  return { kind: 'colleague', username: t }
}

/** One group among several with the same name, as shown to pick one. */
export interface NamedGroup {
  readonly conversationId: string
  readonly owner: { readonly accountId: string; readonly username: string }
}

/**
 * Several of my groups have the name asked for: each is listed with its owner and id, and the
 * person gives the id. (Anyone can create a group with any name and put me in it.)
 */
export class AmbiguousGroupNameError extends AirlockError {
  constructor(
    readonly groupName: string,
    readonly groups: readonly NamedGroup[],
  ) {
    super(
      'INVALID_INPUT',
      `${groups.length} of your groups are called #${printable(groupName)}: ${groups
        .map(
          (g) => `#${printable(groupName)} owned by @${printable(g.owner.username)} (id ${g.conversationId})`,
        )
        .join(', ')}; give the id of the one you mean`,
    )
  }
}

/**
 * My one group whose verified name is `name`: `NotFoundError` if none, `AmbiguousGroupNameError`
 * (listing owners and ids) if several. A group whose log does not verify has no name that can be
 * trusted and is passed over; if no group matched, the first such failure is thrown instead, so
 * a tampered group log is reported rather than called missing.
 */
export async function groupByName(
  c: Pick<ConversationClient, 'transport' | 'directory' | 'accountId'>,
  name: string,
  ownUsername = 'you',
): Promise<Conversation> {
  const found: { conv: Conversation; owner: string }[] = []
  let failure: unknown = null
  for (const conv of await listConversations(c.transport)) {
    if (conv.kind !== 'group') continue
    try {
      const g = await c.directory.group(conv.conversationId)
      if (g.name !== name) continue
      const owner = [...g.members].find(([, role]) => role === 'owner')?.[0] ?? ''
      found.push({ conv, owner })
    } catch (e) {
      if (!(e instanceof AirlockError)) throw e
      failure ??= e
    }
  }
  if (found.length === 1) return found[0]!.conv
  if (found.length === 0) {
    if (failure) throw failure
    throw new NotFoundError(`you are in no group called #${printable(name)}`)
  }
  const groups: NamedGroup[] = []
  for (const f of found) {
    const username = f.owner === c.accountId ? ownUsername : await c.directory.shownUsername(f.owner)
    groups.push({ conversationId: f.conv.conversationId, owner: { accountId: f.owner, username } })
  }
  throw new AmbiguousGroupNameError(name, groups)
}

/** Where a recipient text leads: the conversation, and the colleague when it named one. */
export interface ResolvedRecipient {
  readonly name: RecipientName
  readonly conversation: Conversation
  /** Set when the text named a colleague (looked up by username, direct conversation opened). */
  readonly colleague?: { readonly accountId: string; readonly username: string }
}

/**
 * Resolves a recipient text (see {@link parseRecipient}) to a conversation I am in: my own, the
 * direct one with a colleague (opened on first use, its peer pinned; `NotFoundError` for a name
 * nobody has, `InvalidInputError` for my own name), my one group of that name
 * ({@link groupByName}), or the conversation with that id (`NotFoundError` if I am in none).
 */
export async function resolveRecipient(
  c: ConversationClient,
  me: { selfConversationId: string; username?: string },
  text: string | undefined,
): Promise<ResolvedRecipient> {
  const name = parseRecipient(text)
  switch (name.kind) {
    case 'self':
      return { name, conversation: selfConversation(c.accountId, me.selfConversationId) }
    case 'conversation':
      if (name.conversationId === me.selfConversationId)
        return { name, conversation: selfConversation(c.accountId, me.selfConversationId) }
      return { name, conversation: await getConversation(c.transport, c.accountId, name.conversationId) }
    case 'group':
      return { name, conversation: await groupByName(c, name.name, me.username) }
    case 'colleague': {
      const colleague = await lookupAccount(c.transport, c.directory, name.username)
      return { name, conversation: await openDirect(c, colleague.accountId), colleague }
    }
  }
}
