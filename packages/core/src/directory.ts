import type { Conversation, GroupLogResponse, LogResponse } from './api.js'
import { isVerifiedLog, type Pin, type VerifiedLog, verifyLog } from './device-log.js'
import {
  AirlockError,
  DeviceLogError,
  GroupLogError,
  ManifestError,
  NotAcceptedError,
  RollbackError,
  SignatureError,
} from './errors.js'
import {
  extendGroupLog,
  type GroupRole,
  groupMembersAt,
  groupSignerFromLogs,
  joinedMembers,
  type VerifiedGroup,
  verifyGroupLog,
} from './group-log.js'
import { fetchVerifiedLog, syncVerifiedLog } from './log-sync.js'
import type { GroupLogPosition, RecipientSet } from './manifest.js'

/**
 * What a client knows about other accounts, for every client (CLI and web app): the device logs
 * of colleagues pinned on first use (TOFU) and only ever extended by chain-valid entries, the
 * verified membership log of each group, and the one peer of each direct conversation. Senders
 * encrypt to these, never to device or member lists the server sends; a colleague whose log no
 * longer extends the pinned one (keys substituted, rolled back, forked) blocks sending with
 * `ColleagueKeysChangedError`.
 */

/** A pinned colleague: their verified log entries and pin, and what the person decided. */
export interface PinnedColleague {
  accountId: string
  username: string
  pin: Pin
  entries: unknown[]
  /** The person compared the safety fingerprint with the colleague and confirmed it. */
  verified: boolean
}

export interface PinnedGroup {
  conversationId: string
  pin: Pin
  entries: unknown[]
}

/** Where a client keeps its pins (a JSON file for the CLI, IndexedDB for the web app). */
export interface DirectoryStore {
  getColleague(accountId: string): Promise<PinnedColleague | null>
  putColleague(c: PinnedColleague): Promise<void>
  deleteColleague(accountId: string): Promise<void>
  listColleagues(): Promise<PinnedColleague[]>
  getGroup(conversationId: string): Promise<PinnedGroup | null>
  putGroup(g: PinnedGroup): Promise<void>
  /** The other account of a direct conversation, as first seen. */
  getDirectPeer(conversationId: string): Promise<string | null>
  putDirectPeer(conversationId: string, accountId: string): Promise<void>
}

/** The server calls the directory needs; answers are untrusted and verified here. */
export interface DirectoryServer {
  logPage(accountId: string, since: number | undefined): Promise<LogResponse>
  groupLogPage(conversationId: string, since: number | undefined): Promise<GroupLogResponse>
  /** The username the server gives for an account (shown, never trusted for keys). */
  username(accountId: string): Promise<string>
}

/** A colleague's device log no longer extends the one pinned: sending to them is blocked. */
export class ColleagueKeysChangedError extends AirlockError {
  constructor(
    readonly accountId: string,
    readonly username: string,
    cause: unknown,
  ) {
    super(
      'KEYS_CHANGED',
      `SECURITY WARNING: the keys of ${username} changed in a way their own devices did not sign (${(cause as Error)?.message ?? 'unknown'}); ` +
        'nothing is sent to them until you compare safety fingerprints again',
    )
  }
}

export class Directory {
  private readonly logs = new Map<string, VerifiedLog>()
  private readonly groups = new Map<string, VerifiedGroup>()

  constructor(
    private readonly store: DirectoryStore,
    private readonly server: DirectoryServer,
    /** This account's id and its own verified, synced log. */
    private readonly me: { accountId: string; log: (atLeast?: Pin) => Promise<VerifiedLog> },
  ) {}

  /**
   * The verified log of `accountId`, synced with the server. The first time, it is fetched from
   * genesis and pinned (trust on first use; `firstSeen` is true); later it must extend the pin,
   * else `ColleagueKeysChangedError`. With `atLeast`, a log that still ends before it is an error.
   */
  async colleague(
    accountId: string,
    atLeast?: Pin,
    /** Sync even if this directory synced it before (before sending: a removed device must not receive). */
    fresh = false,
  ): Promise<{ log: VerifiedLog; pinned: PinnedColleague; firstSeen: boolean }> {
    if (accountId === this.me.accountId) throw new DeviceLogError('that is your own account')
    const pinned = await this.store.getColleague(accountId)
    const cached = this.logs.get(accountId)
    if (!fresh && pinned && cached && (!atLeast || cached.seq >= atLeast.seq))
      return { log: cached, pinned, firstSeen: false }
    const pages = (since: number | undefined) => this.server.logPage(accountId, since)
    let log: VerifiedLog
    let firstSeen = false
    let entry: PinnedColleague
    if (pinned) {
      try {
        const base = cached ?? verifyLog(accountId, pinned.entries, pinned.pin)
        log = await syncVerifiedLog(pages, base)
      } catch (e) {
        // Anything that does not verify against the pin (a fork, a rollback, a bad signature, an
        // incomplete or oversized log) blocks them; only network failures pass through as they are.
        if (e instanceof AirlockError) throw new ColleagueKeysChangedError(accountId, pinned.username, e)
        throw e
      }
      entry = { ...pinned, pin: { seq: log.seq, head: log.head }, entries: [...log.entries] }
    } else {
      log = await fetchVerifiedLog(pages, accountId)
      firstSeen = true
      entry = {
        accountId,
        username: await this.server.username(accountId),
        pin: { seq: log.seq, head: log.head },
        entries: [...log.entries],
        verified: false,
      }
    }
    if (atLeast && log.seq < atLeast.seq)
      throw new RollbackError("the colleague's device log is older than the item")
    if (firstSeen || entry.pin.seq !== pinned?.pin.seq) await this.store.putColleague(entry)
    this.logs.set(accountId, log)
    return { log, pinned: entry, firstSeen }
  }

  /** For `openManifest`: this account's log or a colleague's, synced to at least `atLeast`. */
  readonly resolveLog = async (accountId: string, atLeast: Pin): Promise<VerifiedLog> => {
    if (accountId === this.me.accountId) return this.me.log(atLeast)
    return (await this.colleague(accountId, atLeast)).log
  }

  /**
   * Refuses a username the server now maps to another account than the colleague pinned under
   * that name (a server swapping who "bob" is). Call it with every lookup answer.
   */
  async checkUsername(username: string, accountId: string): Promise<void> {
    for (const c of await this.store.listColleagues()) {
      if (c.username === username && c.accountId !== accountId) {
        throw new ColleagueKeysChangedError(
          c.accountId,
          username,
          new DeviceLogError('the server now names another account with this username'),
        )
      }
    }
  }

  /**
   * Forgets a pinned colleague, so the next contact pins them afresh (trust on first use again):
   * for an account that was really re-created, after checking with the person.
   */
  async forget(accountId: string): Promise<void> {
    this.logs.delete(accountId)
    await this.store.deleteColleague(accountId)
  }

  /**
   * A username to show for an account without pinning it: the pinned colleague's, else what the
   * server says (shown only; keys never come from a name).
   */
  async shownUsername(accountId: string): Promise<string> {
    return (await this.store.getColleague(accountId))?.username ?? this.server.username(accountId)
  }

  /** Everyone pinned so far (as stored; `colleague()` syncs and verifies one). */
  listColleagues(): Promise<PinnedColleague[]> {
    return this.store.listColleagues()
  }

  /** Marks a colleague as compared in person (the fingerprint they read out matched). */
  async markVerified(accountId: string): Promise<void> {
    const c = await this.store.getColleague(accountId)
    if (!c) throw new DeviceLogError('not a pinned colleague')
    await this.store.putColleague({ ...c, verified: true })
  }

  /** The group's membership log, verified against its pin and every signer's verified log. */
  async group(conversationId: string): Promise<VerifiedGroup> {
    if (await this.store.getDirectPeer(conversationId)) {
      throw new GroupLogError('the server presents a direct conversation as a group')
    }
    const pinned = await this.store.getGroup(conversationId)
    const check = groupSignerFromLogs(this.resolveLog)
    let v = this.groups.get(conversationId)
    if (!v) {
      if (pinned) v = await verifyGroupLog(conversationId, pinned.entries, check, pinned.pin)
    }
    const fresh: unknown[] = []
    let since = v ? v.seq : undefined
    let head: GroupLogResponse['head']
    for (;;) {
      const page = await this.server.groupLogPage(conversationId, since)
      fresh.push(...page.entries)
      head = page.head
      if (!page.more || page.entries.length === 0) break
      since = (since ?? -1) + page.entries.length
      if (fresh.length > 16384) throw new GroupLogError('group log is too long')
    }
    const next = v
      ? await extendGroupLog(v, fresh, check)
      : await verifyGroupLog(conversationId, fresh, check)
    if (v && head.seq < v.seq) throw new RollbackError('the server sent an older group log')
    if (head.seq !== next.seq || head.hash !== next.head) {
      throw new GroupLogError('the server sent an incomplete group log')
    }
    if (!pinned || pinned.pin.seq !== next.seq) {
      await this.store.putGroup({
        conversationId,
        pin: { seq: next.seq, head: next.head },
        entries: [...next.entries],
      })
    }
    this.groups.set(conversationId, next)
    return next
  }

  /**
   * The peer of a direct conversation: the other member as first seen, pinned. A server that
   * later names someone else is refused.
   */
  async directPeer(c: Conversation): Promise<string> {
    if (await this.store.getGroup(c.conversationId)) {
      throw new GroupLogError('the server presents a group as a direct conversation')
    }
    const others = c.members.filter((m) => m !== this.me.accountId)
    const pinned = await this.store.getDirectPeer(c.conversationId)
    if (pinned) {
      if (others.length !== 1 || others[0] !== pinned) {
        throw new GroupLogError('the server changed the other member of a direct conversation')
      }
      return pinned
    }
    if (others.length !== 1 || !c.members.includes(this.me.accountId)) {
      throw new GroupLogError('a direct conversation has exactly one other member')
    }
    await this.store.putDirectPeer(c.conversationId, others[0]!)
    return others[0]!
  }

  /**
   * The accounts an item of this conversation goes to, from verified sources only: myself; the
   * pinned peer; the members of the verified group log who joined — an invited member gets
   * nothing until their own device signs `join`. Refused if I am no longer a member
   * (`GroupLogError`) or have not joined myself (`NotAcceptedError`).
   */
  async members(c: Conversation): Promise<string[]> {
    if (c.kind === 'self') return [this.me.accountId]
    if (c.kind === 'direct') return [this.me.accountId, await this.directPeer(c)]
    return this.groupMembers(await this.group(c.conversationId))
  }

  private groupMembers(g: VerifiedGroup): string[] {
    if (!g.members.has(this.me.accountId)) throw new GroupLogError('you are not a member of this group')
    if (g.invited.has(this.me.accountId))
      throw new NotAcceptedError('you were invited to this group; accept the invitation first')
    return [...joinedMembers(g).keys()]
  }

  /**
   * Who may have sent an item of `c`, as this device verified it: in my self conversation, me;
   * in a direct one, me and the pinned peer; in a group, whoever was a joined member at the
   * position of the verified group log the item's manifest names (an item without one, from
   * before items named it, only from a current joined member; an invited member never sent). The rule refuses everyone else with `SignatureError`
   * before their device log is fetched or pinned, whatever the server lists.
   */
  async senders(c: Conversation): Promise<SenderRule> {
    if (c.kind !== 'group') {
      const allowed = new Set(
        c.kind === 'self' ? [this.me.accountId] : [this.me.accountId, await this.directPeer(c)],
      )
      return {
        admit: async (accountId, groupLog) => {
          if (groupLog) throw new ManifestError('an item outside a group names a group log position')
          if (!allowed.has(accountId)) throw new SignatureError(NOT_A_SENDER)
        },
      }
    }
    let g = await this.group(c.conversationId)
    const at = new Map<string, ReadonlyMap<string, GroupRole> | null>()
    return {
      admit: async (accountId, groupLog) => {
        if (!groupLog) {
          if (!joinedMembers(g).has(accountId)) throw new SignatureError(NOT_A_SENDER)
          return
        }
        // An item committed after this device synced the group log may name a newer position.
        if (groupLog.seq > g.seq) g = await this.group(c.conversationId)
        const key = `${groupLog.seq} ${groupLog.head}`
        if (!at.has(key)) at.set(key, groupMembersAt(g, groupLog))
        const members = at.get(key)
        if (!members) throw new SignatureError('the item names a position of the group log that is not in it')
        if (!members.has(accountId))
          throw new SignatureError('the item is signed by an account that was not a member of the group then')
      },
    }
  }

  /**
   * What sending to `c` needs: recipient sets for every active device of every member, from
   * verified logs synced now, and for a group the verified group log they come from (its head
   * goes into the manifest).
   */
  async sendingTo(c: Conversation): Promise<{ sets: RecipientSet[]; group?: VerifiedGroup }> {
    const group = c.kind === 'group' ? await this.group(c.conversationId) : undefined
    const accounts = group ? this.groupMembers(group) : await this.members(c)
    const sets: RecipientSet[] = []
    for (const account of accounts) {
      const log =
        account === this.me.accountId
          ? await this.me.log()
          : (await this.colleague(account, undefined, true)).log
      if (!isVerifiedLog(log)) throw new DeviceLogError('log was not verified')
      sets.push({ log })
    }
    return group ? { sets, group } : { sets }
  }

  /** Recipient sets for an item to `c`: every active device of every member, from verified logs synced now. */
  async recipients(c: Conversation): Promise<RecipientSet[]> {
    return (await this.sendingTo(c)).sets
  }
}

/** Who may have sent an item of one conversation (see {@link Directory.senders}). */
export interface SenderRule {
  /**
   * Resolves if `accountId` may have sent an item naming `groupLog` (from its manifest, before
   * the signature is checked); else `SignatureError` (`ManifestError` for a group log position in
   * an item outside a group).
   */
  admit(accountId: string, groupLog: GroupLogPosition | undefined): Promise<void>
}

const NOT_A_SENDER = 'the item is signed by an account that is not in this conversation'
