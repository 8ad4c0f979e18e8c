import {
  type Conversation,
  getConversation as coreGetConversation,
  listConversations as coreListConversations,
  selfConversation as coreSelfConversation,
  groupsNamed,
  isAirlockError,
  logFingerprint,
  lookupAccount,
  openDirect,
  printable,
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
 * `--to`: nothing is myself; a 22-character id is that conversation; `#name` or a name that
 * matches one of my groups is that group; otherwise a colleague's username.
 */
export async function resolveTarget(s: Session, to: string | undefined): Promise<Conversation> {
  if (to === undefined || to === '' || to === 'me') return selfConversation(s)
  if (/^[A-Za-z0-9_-]{22}$/.test(to)) return getConversation(s, to)
  const group = await groupNamed(s, to, to.startsWith('#'))
  return group ?? directWith(s, to)
}

/**
 * My one group called `name` (a leading `#` is dropped); null if there is none, or `NOT_FOUND`
 * when `required`; `USAGE` if several groups have that name.
 */
export async function groupNamed(s: Session, name: string, required: boolean): Promise<Conversation | null> {
  const bare = name.startsWith('#') ? name.slice(1) : name
  const found = await findGroups(s, bare)
  if (found.length > 1)
    throw new CliError('USAGE', `${printable(bare)} names ${found.length} groups; give the group id`)
  if (found.length === 0 && required) throw new CliError('NOT_FOUND', `no group called ${printable(bare)}`)
  return found[0] ?? null
}

/** My groups whose verified name is `name`. */
export function findGroups(s: Session, name: string): Promise<Conversation[]> {
  return groupsNamed(s.client, s.directory, name)
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
