import {
  type Conversation,
  type ConversationClient,
  changeGroup,
  createGroup,
  Directory,
  type DirectoryServer,
  directoryServerOver,
  type GroupChange,
  type GroupRole,
  getConversation,
  groupFingerprint,
  isAirlockError,
  listConversations,
  logFingerprint,
  lookupAccount,
  NotFoundError,
  parseRecipient,
  printable,
  type ResolvedRecipient,
  resolveRecipient,
  type VerifiedGroup,
} from '@airlock/core'
import { describeError, type ErrorInfo } from '../errors.ts'
import type { Account } from './account.ts'
import { directoryStore, knownUsername, rememberUsername } from './directory-store.ts'

/**
 * Conversations with myself, with one colleague, and in groups. Who gets an item comes only from
 * core's `Directory`: colleagues' device logs pinned on first use and only chain-validly extended,
 * group membership logs verified entry by entry. The server's member lists only say where to look.
 */

export interface ConversationRow {
  conversationId: string
  kind: Conversation['kind']
  title: string
  lastSeq: number
  /** Direct: the colleague; the person compared the safety fingerprint with them. */
  peer?: { accountId: string; username: string; verified: boolean }
  /** Set when the keys or the group log failed to verify: sending is blocked. */
  problem?: ErrorInfo
}

export interface ColleagueInfo {
  accountId: string
  username: string
  fingerprint: string
  verified: boolean
  firstSeen: boolean
}

export interface GroupInfo {
  conversationId: string
  name: string
  fingerprint: string
  seq: number
  myRole: GroupRole | null
  members: { accountId: string; username: string; role: GroupRole; me: boolean }[]
}

export class Conversations {
  /** Long-lived, for verifying items (a sender's log is synced whenever an item needs more of it). */
  readonly directory: Directory

  constructor(private readonly account: Account) {
    this.directory = this.fresh()
  }

  /** A directory with no cache: it re-reads the pins and syncs every log with the server (for sending). */
  fresh(): Directory {
    const a = this.account
    const over = directoryServerOver(a.api)
    const server: DirectoryServer = {
      ...over,
      // Shown only: keys come from the verified log, never from a name.
      username: async (accountId) => (await knownUsername(accountId)) ?? over.username(accountId),
    }
    return new Directory(directoryStore, server, {
      accountId: a.info.accountId,
      log: (atLeast) => a.ownLog(atLeast),
    })
  }

  conversation(cid: string): Promise<Conversation> {
    return getConversation(this.account.api, this.account.info.accountId, cid)
  }

  /** This account as core's conversation flows need it, with `directory` (the long-lived one by default). */
  private client(directory = this.directory): ConversationClient {
    const a = this.account
    return {
      transport: a.api,
      directory,
      accountId: a.info.accountId,
      device: a.device,
      syncedLog: () => a.sync(),
    }
  }

  /** Every conversation: myself first, then the others by their newest item. */
  async list(): Promise<ConversationRow[]> {
    const rows: ConversationRow[] = []
    for (const c of await listConversations(this.account.api)) {
      if (c.kind === 'self') {
        if (c.conversationId !== this.account.info.selfConversationId) continue
        rows.push({ conversationId: c.conversationId, kind: 'self', title: 'My devices', lastSeq: c.lastSeq })
        continue
      }
      const row: ConversationRow = {
        conversationId: c.conversationId,
        kind: c.kind,
        title: c.kind === 'group' ? 'Group' : 'Colleague',
        lastSeq: c.lastSeq,
      }
      try {
        if (c.kind === 'direct') {
          const peer = await this.directory.directPeer(c)
          // The name as pinned, shown even when their keys no longer verify.
          const known = await directoryStore.getColleague(peer)
          if (known) row.title = known.username
          const { pinned } = await this.directory.colleague(peer)
          row.title = pinned.username
          row.peer = { accountId: peer, username: pinned.username, verified: pinned.verified }
        } else {
          row.title = (await this.directory.group(c.conversationId)).name
        }
      } catch (e) {
        row.problem = describeError(e)
      }
      rows.push(row)
    }
    const self = rows.filter((r) => r.kind === 'self')
    const others = rows.filter((r) => r.kind !== 'self').sort((x, y) => y.lastSeq - x.lastSeq)
    return [...self, ...others]
  }

  /**
   * Opens what a typed name means, as core's `resolveRecipient` decides for every client: a
   * colleague's username (or `@name`) is the direct conversation with them (created if needed),
   * never a group; `#name` is my one group of that name; an id is that conversation.
   */
  async openDirect(text: string): Promise<{ conversationId: string; colleague?: ColleagueInfo }> {
    const a = this.account.info
    let r: ResolvedRecipient
    try {
      r = await resolveRecipient(
        this.client(),
        { selfConversationId: a.selfConversationId, username: a.username },
        text,
      )
    } catch (e) {
      const named = parseRecipient(text)
      if (named.kind === 'colleague' && isAirlockError(e, 'NOT_FOUND'))
        throw new NotFoundError(`no one is called “${printable(named.username)}” on this server`)
      throw e
    }
    if (!r.colleague) return { conversationId: r.conversation.conversationId }
    await rememberUsername(r.colleague.accountId, r.colleague.username)
    return {
      conversationId: r.conversation.conversationId,
      colleague: await this.colleague(r.colleague.accountId),
    }
  }

  /** A colleague's pinned, synced device log and its safety fingerprint. */
  async colleague(accountId: string): Promise<ColleagueInfo> {
    const { log, pinned, firstSeen } = await this.fresh().colleague(accountId)
    return {
      accountId,
      username: pinned.username,
      fingerprint: logFingerprint(log),
      verified: pinned.verified,
      firstSeen,
    }
  }

  async markVerified(accountId: string): Promise<ColleagueInfo> {
    // Only the log whose fingerprint was shown and still verifies can be marked.
    await this.colleague(accountId)
    await this.directory.markVerified(accountId)
    return this.colleague(accountId)
  }

  async createGroup(name: string, usernames: string[]): Promise<string> {
    const members: string[] = []
    for (const u of usernames) members.push((await this.lookup(u)).accountId)
    return (await createGroup(this.client(), name, members)).group
  }

  async group(cid: string): Promise<GroupInfo> {
    const g = await this.fresh().group(cid)
    return this.groupInfo(g)
  }

  /** Adds (by username) or removes a member, or leaves: a signed entry the server must accept as the next one. */
  async changeGroup(
    cid: string,
    change: { op: 'add'; username: string } | { op: 'remove'; accountId: string } | { op: 'leave' },
  ): Promise<GroupInfo> {
    let entry: GroupChange
    if (change.op === 'add') {
      const found = await this.lookup(change.username)
      entry = { op: 'add', account: found.accountId, role: 'member' }
    } else
      entry = {
        op: 'remove',
        account: change.op === 'leave' ? this.account.info.accountId : change.accountId,
      }
    const before = await this.fresh().group(cid)
    const after = await changeGroup(this.client(this.fresh()), cid, entry)
    return after ? this.groupInfo(after) : { ...(await this.groupInfo(before)), myRole: null }
  }

  private async groupInfo(g: VerifiedGroup): Promise<GroupInfo> {
    const me = this.account.info.accountId
    const members: GroupInfo['members'] = []
    for (const [accountId, role] of g.members) {
      let username = this.account.info.username
      if (accountId !== me) {
        const pinned = await directoryStore.getColleague(accountId)
        username = pinned?.username ?? (await knownUsername(accountId)) ?? `account ${accountId.slice(0, 8)}`
      }
      members.push({ accountId, username, role, me: accountId === me })
    }
    return {
      conversationId: g.group,
      name: g.name,
      fingerprint: groupFingerprint(g),
      seq: g.seq,
      myRole: g.members.get(me) ?? null,
      members,
    }
  }

  private async lookup(username: string): Promise<{ accountId: string; username: string }> {
    try {
      const found = await lookupAccount(this.account.api, this.directory, username)
      await rememberUsername(found.accountId, found.username)
      return found
    } catch (e) {
      if (isAirlockError(e, 'NOT_FOUND'))
        throw new NotFoundError(`no one is called “${printable(username.trim())}” on this server`)
      throw e
    }
  }
}
