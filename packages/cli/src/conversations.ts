import {
  type Conversation,
  getConversation as coreGetConversation,
  listConversations as coreListConversations,
  selfConversation as coreSelfConversation,
  groupByName,
  isAirlockError,
  logFingerprint,
  lookupAccount,
  openDirect,
  parseRecipient,
  printable,
  resolveRecipient,
} from '@airlock/core'
import { CliError } from './errors.js'
import type { Session } from './session.js'

/**
 * Where an item goes: my own devices (`self`), a colleague (`direct`, found by username), or a
 * group (by name or id). Who receives it is decided by core's `Directory` from verified logs;
 * the server's member lists only say where to look.
 */

export function listConversations(s: Session): Promise<Conversation[]> {
  return coreListConversations(s.client)
}

export function getConversation(s: Session, cid: string): Promise<Conversation> {
  return coreGetConversation(s.client, s.config.accountId, cid)
}

/** The account of a colleague on this server (core's `lookupAccount`). */
export async function lookupColleague(s: Session, username: string): Promise<string> {
  return (await lookupAccount(s.client, s.directory, username)).accountId
}

/**
 * The direct conversation with a colleague (created on first use), with their device log pinned:
 * the first time, trust on first use and the safety fingerprint is printed for comparing in
 * person; afterwards any change their own devices did not sign is refused.
 */
export async function directWith(s: Session, username: string): Promise<Conversation> {
  const accountId = await lookupColleague(s, username)
  if (accountId === s.config.accountId)
    throw new CliError('USAGE', 'that is you: leave out --to to send to your own devices')
  const c = await openDirect(s, accountId)
  const { firstSeen, pinned } = await pinColleague(s, username, accountId)
  if (!firstSeen && !pinned.verified) {
    s.out.info(
      `${printable(username)} is not verified yet: \`airlock colleagues verify ${printable(username)}\``,
    )
  }
  return c
}

/**
 * A colleague's verified log, pinned on first use; the first time, the person is told to compare
 * the safety fingerprint with what the colleague's own devices show.
 */
export async function pinColleague(
  s: Session,
  username: string,
  accountId: string,
): ReturnType<Session['directory']['colleague']> {
  const r = await s.directory.colleague(accountId)
  if (r.firstSeen) {
    s.out.warn(
      `first contact with ${printable(username)}: their devices are now pinned. Compare this safety fingerprint with what ${printable(username)}'s \`airlock devices\` shows: ${logFingerprint(r.log)} (then run \`airlock colleagues verify ${printable(username)}\`)`,
    )
  }
  return r
}

/** My own conversation, as a `Conversation`. */
export function selfConversation(s: Session): Conversation {
  return coreSelfConversation(s.config.accountId, s.config.selfConversationId)
}

/**
 * `--to`, `--in`, `--from`: what core's `parseRecipient` says the text names. Nothing or `me` is
 * myself, `#name` a group, a conversation id that conversation, and any other name a colleague,
 * never a group (a stranger can name a group "bob" and put me in it).
 */
export async function resolveTarget(s: Session, to: string | undefined): Promise<Conversation> {
  const name = parseRecipient(to)
  if (name.kind === 'colleague') return directWith(s, name.username)
  return (
    await resolveRecipient(
      s,
      { selfConversationId: s.config.selfConversationId, username: s.config.username },
      to,
    )
  ).conversation
}

/**
 * My one group called `name` (a leading `#` is dropped): core's `groupByName`, which refuses a
 * name that several of my groups have, listing each with its owner and id.
 */
export function groupNamed(s: Session, name: string): Promise<Conversation> {
  return groupByName(s, name.startsWith('#') ? name.slice(1) : name, s.config.username)
}

/** Where an item went, for people: `me`, `@bob`, or `#team (id …)` (a group name is not unique). */
export async function destinationLabel(s: Session, c: Conversation): Promise<string> {
  const label = await conversationLabel(s, c)
  return c.kind === 'group' ? `${label} (id ${c.conversationId})` : label
}

/** How a conversation is shown: "me", "@username", "#group". */
export async function conversationLabel(s: Session, c: Conversation): Promise<string> {
  if (c.kind === 'self') return 'me'
  try {
    if (c.kind === 'direct') {
      const peer = await s.directory.directPeer(c)
      return `@${printable((await s.directory.colleague(peer)).pinned.username)}`
    }
    return `#${printable((await s.directory.group(c.conversationId)).name)}`
  } catch (e) {
    if (isAirlockError(e)) return `${c.kind} ${c.conversationId} (does not verify: ${e.code})`
    throw e
  }
}
