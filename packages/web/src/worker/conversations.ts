import {
  appendGroupEntry,
  appendLogResponseSchema,
  type Conversation,
  conversationSchema,
  createGroupEntry,
  Directory,
  type DirectoryServer,
  directoryServerOver,
  type GroupChange,
  type GroupRole,
  groupFingerprint,
  listConversationsResponseSchema,
  logFingerprint,
  lookupResponseSchema,
  printable,
  randomBytes,
  toBase64Url,
  type VerifiedGroup,
} from '@airlock/core'
import { describeError, type ErrorInfo, isApiError, WebError } from '../errors.ts'
import type { Account } from './account.ts'
import { badResponse } from './api.ts'
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

  async conversation(cid: string): Promise<Conversation> {
    const c = await this.account.api.json('GET', `/conversations/${cid}`, conversationSchema)
    if (c.conversationId !== cid || !c.members.includes(this.account.info.accountId))
      throw badResponse('conversation')
    return c
  }

  /** Every conversation: myself first, then the others by their newest item. */
  async list(): Promise<ConversationRow[]> {
    const res = await this.account.api.json('GET', '/conversations', listConversationsResponseSchema)
    const rows: ConversationRow[] = []
    for (const c of res.conversations) {
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

  /** Finds a colleague by username and returns (creating if needed) the direct conversation with them. */
  async openDirect(username: string): Promise<{ conversationId: string; colleague: ColleagueInfo }> {
    const found = await this.lookup(username)
    const c = await this.account.api.json('POST', '/conversations', conversationSchema, {
      body: { kind: 'direct', members: [found.accountId] },
    })
    if (c.kind !== 'direct') throw badResponse('conversation')
    if ((await this.directory.directPeer(c)) !== found.accountId) throw badResponse('conversation')
    return { conversationId: c.conversationId, colleague: await this.colleague(found.accountId) }
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
    const members = []
    for (const u of usernames) {
      const found = await this.lookup(u)
      if (found.accountId === this.account.info.accountId) continue
      // Pin each member's devices now (trust on first use), before anything is sent to the group.
      await this.directory.colleague(found.accountId)
      members.push({ account: found.accountId, role: 'member' as const })
    }
    const log = await this.account.sync()
    const group = toBase64Url(randomBytes(16))
    const entry = createGroupEntry({ group, name, members, signer: this.account.device, signerLog: log })
    const c = await this.account.api.json('POST', '/conversations', conversationSchema, {
      body: { kind: 'group', entry },
    })
    if (c.conversationId !== group || c.kind !== 'group') throw badResponse('conversation')
    await this.directory.group(group)
    return group
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
    const directory = this.fresh()
    const g = await directory.group(cid)
    let entry: GroupChange
    if (change.op === 'add') {
      const found = await this.lookup(change.username)
      entry = { op: 'add', account: found.accountId, role: 'member' }
    } else
      entry = {
        op: 'remove',
        account: change.op === 'leave' ? this.account.info.accountId : change.accountId,
      }
    const log = await this.account.sync()
    const signed = appendGroupEntry(g, entry, this.account.device, log)
    const res = await this.account.api.json('POST', `/conversations/${cid}/log`, appendLogResponseSchema, {
      body: { entry: signed },
    })
    if (res.head.seq !== g.seq + 1) throw badResponse('group log head')
    if (change.op === 'leave') return { ...(await this.groupInfo(g)), myRole: null }
    return this.group(cid)
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
    const wanted = username.trim()
    try {
      const found = await this.account.api.json('GET', '/accounts/lookup', lookupResponseSchema, {
        query: { username: wanted },
      })
      if (found.username !== wanted) throw badResponse('lookup answer')
      // A server that now says this name is another account than the one pinned under it is refused.
      await this.directory.checkUsername(found.username, found.accountId)
      await rememberUsername(found.accountId, found.username)
      return found
    } catch (e) {
      if (isApiError(e, 'NOT_FOUND'))
        throw new WebError('NOT_FOUND', `no one is called “${printable(wanted)}” on this server`)
      if (isApiError(e, 'BAD_REQUEST') || isApiError(e, 'INVALID_BODY'))
        throw new WebError('USAGE', 'that is not a valid username')
      throw e
    }
  }
}
