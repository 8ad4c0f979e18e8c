import {
  type Conversation,
  changeGroup as coreChangeGroup,
  createGroup as coreCreateGroup,
  type GroupChange,
  groupFingerprint,
  logFingerprint,
  NotFoundError,
  parseRecipient,
  printable,
  type VerifiedGroup,
} from '@airlock/core'
import type { Context } from '../context.js'
import {
  directWith,
  getConversation,
  groupNamed,
  listConversations,
  lookupColleague,
  pinColleague,
} from '../conversations.js'
import { CliError, describeError } from '../errors.js'
import { confirm } from '../prompt.js'
import { Session } from '../session.js'

/**
 * Colleagues and groups. A colleague's devices are pinned on first contact (trust on first use)
 * and compared in person with `colleagues verify`; a group is a signed membership log every member
 * verifies. Items to either go to the devices those verified logs name, never to a list the
 * server sends.
 */

/** `airlock colleagues`: everyone pinned, with their current safety fingerprint. */
export async function listColleagues(ctx: Context): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const rows = []
  for (const c of await s.directory.listColleagues()) {
    const r = await s.directory.colleague(c.accountId).then(
      ({ log, pinned }) => ({
        fingerprint: logFingerprint(log),
        devices: log.active.length,
        verified: pinned.verified,
      }),
      (e: unknown) => ({ fingerprint: null, devices: 0, verified: false, error: describeError(e).message }),
    )
    rows.push({ username: c.username, accountId: c.accountId, ...r })
  }
  ctx.out.result(
    { colleagues: rows },
    rows.length === 0
      ? ['(no colleagues yet: `airlock colleagues add <username>`)']
      : rows.map((r) =>
          r.fingerprint === null
            ? `${printable(r.username)}  SECURITY WARNING: ${'error' in r ? printable(String(r.error)) : ''}`
            : `${printable(r.username).padEnd(16)} ${r.verified ? 'verified  ' : 'UNVERIFIED'}  ${r.devices} device(s)  ${r.fingerprint}`,
        ),
  )
}

/** `airlock colleagues add <username>`: finds them, opens our direct conversation, pins their devices. */
export async function addColleague(ctx: Context, username: string): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const c = await directWith(s, username)
  const peer = await s.directory.directPeer(c)
  const { log, pinned } = await s.directory.colleague(peer)
  ctx.out.result(
    {
      username: pinned.username,
      accountId: peer,
      conversationId: c.conversationId,
      fingerprint: logFingerprint(log),
      verified: pinned.verified,
    },
    `${printable(pinned.username)}: ${log.active.length} device(s), safety fingerprint ${logFingerprint(log)}${pinned.verified ? ' (verified)' : ''}`,
  )
}

/**
 * `airlock colleagues verify <username> [--fingerprint digits]`: compares the colleague's safety
 * fingerprint (what their `airlock devices` shows) and records that it matched.
 */
export async function verifyColleague(
  ctx: Context,
  username: string,
  opts: { fingerprint?: string },
): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const accountId = await lookupColleague(s, username)
  const { log } = await s.directory.colleague(accountId)
  const mine = logFingerprint(log)
  if (opts.fingerprint !== undefined) {
    if (digits(opts.fingerprint) !== digits(mine)) {
      throw new CliError(
        'FINGERPRINT_MISMATCH',
        `the fingerprints differ: this device pinned ${mine} for ${printable(username)}. Do not send anything sensitive until you know why`,
      )
    }
  } else {
    if (!process.stdin.isTTY)
      throw new CliError('USAGE', 'give --fingerprint <digits> (or run this at a terminal)')
    ctx.out.info(`${printable(username)}'s safety fingerprint here: ${mine}`)
    if (!(await confirm(`Does ${printable(username)}'s \`airlock devices\` show exactly this?`))) {
      throw new CliError('FINGERPRINT_MISMATCH', 'not verified: the fingerprints were not confirmed equal')
    }
  }
  await s.directory.markVerified(accountId)
  ctx.out.result(
    { username, accountId, fingerprint: mine, verified: true },
    `${printable(username)} is verified`,
  )
}

/**
 * `airlock colleagues forget <username>`: drops the pin of a colleague (by the name it was pinned
 * under), so the next contact trusts their keys afresh. For an account that was really re-created;
 * compare fingerprints again afterwards.
 */
export async function forgetColleague(ctx: Context, username: string): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const pinned = (await s.directory.listColleagues()).filter((c) => c.username === username)
  if (pinned.length === 0) throw new NotFoundError(`no colleague called ${printable(username)} is pinned`)
  for (const c of pinned) await s.directory.forget(c.accountId)
  ctx.out.result(
    { username, forgotten: pinned.map((c) => c.accountId) },
    `forgot ${printable(username)}: the next contact pins their devices again; compare fingerprints then`,
  )
}

function digits(s: string): string {
  return s.replace(/[^0-9]/g, '')
}

/** `airlock groups`: the groups I am in, from their verified logs. */
export async function listGroups(ctx: Context): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const rows = []
  for (const c of await listConversations(s)) {
    if (c.kind !== 'group') continue
    const g = await s.directory.group(c.conversationId)
    rows.push({
      conversationId: c.conversationId,
      name: g.name,
      members: g.members.size,
      role: g.members.get(s.config.accountId) ?? null,
    })
  }
  ctx.out.result(
    { groups: rows },
    rows.length === 0
      ? ['(no groups yet: `airlock groups create <name> <usernames...>`)']
      : rows.map(
          (r) =>
            `${r.conversationId}  #${printable(r.name)}  ${r.members} member(s)  ${r.role ?? 'not a member'}`,
        ),
  )
}

/** `airlock groups create <name> <usernames...>`: I am the owner; the others are members. */
export async function createGroup(ctx: Context, name: string, usernames: string[]): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const members: string[] = []
  for (const u of usernames) {
    const account = await lookupColleague(s, u)
    if (account === s.config.accountId) continue
    // Pinned here first, so the first-contact fingerprint is shown for each.
    await pinColleague(s, u, account)
    members.push(account)
  }
  await showGroup(ctx, s, await coreCreateGroup(s, name, members), 'created')
}

/** `airlock groups show <group>`: members, roles and the group's safety fingerprint. */
export async function groupInfo(ctx: Context, group: string): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const c = await findGroup(s, group)
  await showGroup(ctx, s, await s.directory.group(c.conversationId))
}

/** `airlock groups add|remove|leave …`: one signed membership change. */
export async function changeGroup(
  ctx: Context,
  group: string,
  op: 'add' | 'remove' | 'leave',
  username: string | undefined,
  opts: { admin?: boolean } = {},
): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const c = await findGroup(s, group)
  let change: GroupChange
  if (op === 'leave') change = { op: 'remove', account: s.config.accountId }
  else {
    const account = await lookupColleague(s, username!)
    if (op === 'add') {
      await pinColleague(s, username!, account)
      change = { op: 'add', account, role: opts.admin ? 'admin' : 'member' }
    } else change = { op: 'remove', account }
  }
  const g = await coreChangeGroup(s, c.conversationId, change)
  if (!g) {
    ctx.out.result({ conversationId: c.conversationId, left: true }, 'you left the group')
    return
  }
  await showGroup(ctx, s, g, op === 'add' ? 'added' : 'removed')
}

/** A `groups` argument: a group id, or a group's name (`#team`; here, where only a group can be meant, also `team`). */
async function findGroup(s: Session, group: string): Promise<Conversation> {
  const named = parseRecipient(group)
  if (named.kind === 'conversation') {
    const c = await getConversation(s, named.conversationId)
    if (c.kind === 'group') return c
  }
  return groupNamed(s, group)
}

async function showGroup(ctx: Context, s: Session, g: VerifiedGroup, what?: string): Promise<void> {
  const members = []
  for (const [account, role] of g.members) {
    const username =
      account === s.config.accountId
        ? s.config.username
        : await s.directory.colleague(account).then(
            (c) => c.pinned.username,
            () => account,
          )
    members.push({ accountId: account, username, role })
  }
  ctx.out.result(
    { conversationId: g.group, name: g.name, seq: g.seq, fingerprint: groupFingerprint(g), members },
    [
      `${what ? `${what}: ` : ''}#${printable(g.name)} (${g.group})  group fingerprint ${groupFingerprint(g)}`,
      ...members.map((m) => `  ${printable(m.username).padEnd(16)} ${m.role}`),
    ],
  )
}
