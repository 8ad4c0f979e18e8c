import { sha256 } from '@noble/hashes/sha2.js'
import { z } from 'zod'
import { toBase64Url } from './bytes.js'
import { type Canonical, canonicalBytes } from './canonical.js'
import { accountIdSchema, headAt, isVerifiedLog, type Pin, type VerifiedLog } from './device-log.js'
import {
  DeviceLogError,
  ForkError,
  GroupLogError,
  LimitError,
  RollbackError,
  SignatureError,
} from './errors.js'
import { type DeviceSecrets, safetyNumber, signCanonical, verifyCanonical } from './identity.js'

/**
 * The membership of a group, as a hash-chained log of signed changes, so the server that stores
 * it cannot add a reader, drop a member or promote anyone unnoticed. Every entry is signed by a
 * device of a member allowed to make that change (owner, admin, or a member leaving), at a
 * position of that member's verified device log. Clients encrypt group items to the members of
 * the group log they verified, never to a member list the server sends.
 *
 * Being put into a group is an invitation, not a membership (consent, SECURITY.md): a member
 * added by a version-2 entry (`create` or `add`) is *invited* until one of their own devices
 * signs a `join` entry; until then nobody encrypts to them and they sign nothing but that `join`
 * or a `remove` of themselves (declining). Members added by version-1 entries — groups made
 * before invitations existed — count as joined, so those logs verify as they always did; a log
 * never goes back from version 2 to 1, and the server accepts only version-2 entries now, so no
 * one can put a person into a group without their consent by signing an old-style entry.
 */

export const GROUP_LOG_CONTEXT = 'airlock group log v1'
const HASH_CONTEXT = 'airlock group log hash v1'
const FINGERPRINT_CONTEXT = 'airlock group fingerprint v1'
export const MAX_GROUP_MEMBERS = 256
export const MAX_GROUP_LOG_ENTRIES = 16384
export const MAX_GROUP_NAME = 128

export type GroupRole = 'owner' | 'admin' | 'member'
/** The entry version this code signs: members it adds are invited until they `join`. */
export const GROUP_LOG_VERSION = 2

const hashSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/)
const groupIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
// Names are shown through `printable`; here they are bounded and free of control characters.
const nameSchema = z
  .string()
  .min(1)
  .max(MAX_GROUP_NAME)
  .regex(/^[^\x00-\x1f\x7f]+$/)
const roleSchema = z.enum(['admin', 'member'])

export const groupEntrySchema = z.strictObject({
  /** 1: members are in at once (groups from before invitations); 2: added members are invited. */
  v: z.union([z.literal(1), z.literal(2)]),
  context: z.literal(GROUP_LOG_CONTEXT),
  group: groupIdSchema,
  seq: z.number().int().nonnegative(),
  prev: z.union([z.literal(''), hashSchema]),
  op: z.enum(['create', 'add', 'remove', 'role', 'rename', 'join']),
  name: nameSchema.optional(),
  members: z
    .array(z.strictObject({ account: accountIdSchema, role: z.enum(['owner', 'admin', 'member']) }))
    .min(1)
    .max(MAX_GROUP_MEMBERS)
    .optional(),
  account: accountIdSchema.optional(),
  role: roleSchema.optional(),
  signer: z.strictObject({
    account: accountIdSchema,
    device: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
    logSeq: z.number().int().nonnegative(),
    logHead: hashSchema,
  }),
  sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/),
})
export type GroupEntry = z.infer<typeof groupEntrySchema>
export type GroupChange =
  | { op: 'add'; account: string; role: 'admin' | 'member' }
  | { op: 'remove'; account: string }
  | { op: 'role'; account: string; role: 'admin' | 'member' }
  | { op: 'rename'; name: string }
  /** The signer's own account accepts its invitation. */
  | { op: 'join' }

/** A group log that passed {@link verifyGroupLog} or {@link extendGroupLog}. */
export interface VerifiedGroup {
  readonly group: string
  readonly seq: number
  readonly head: string
  readonly name: string
  /** Everyone in the group, the invited included (see {@link joinedMembers}). */
  readonly members: ReadonlyMap<string, GroupRole>
  /** Members whose own device has not signed `join` yet: nothing is encrypted to them. */
  readonly invited: ReadonlySet<string>
  /** Every account that was ever a joined member (whose items the group may hold). */
  readonly everJoined: ReadonlySet<string>
  readonly entries: readonly GroupEntry[]
}

/**
 * The members who joined, with their roles: the accounts a group item is encrypted to and may
 * come from. Invited members are left out until their own device signs `join`.
 */
export function joinedMembers(v: VerifiedGroup): Map<string, GroupRole> {
  return new Map([...v.members].filter(([account]) => !v.invited.has(account)))
}

/**
 * Who added `account` to the group as it now stands (the signer of the `create` or `add` that
 * made them a member), or null if they are not a member. For showing an invitation: "alice
 * invited you to #team".
 */
export function invitedBy(v: VerifiedGroup, account: string): string | null {
  if (!v.members.has(account)) return null
  let by: string | null = null
  for (const e of v.entries) {
    if (e.op === 'create' && e.members?.some((m) => m.account === account)) by = e.signer.account
    if (e.op === 'add' && e.account === account) by = e.signer.account
  }
  return by
}

/**
 * Checks that `entry.signer` really signed `value`: the signer device must have been active at
 * the claimed position of its account's device log. Throws `SignatureError` otherwise.
 */
export type CheckGroupSigner = (entry: GroupEntry, value: Canonical) => Promise<void>

const verified = new WeakSet<VerifiedGroup>()

/** True if `v` came from {@link verifyGroupLog} or {@link extendGroupLog}. */
export function isVerifiedGroup(v: unknown): v is VerifiedGroup {
  return typeof v === 'object' && v !== null && verified.has(v as VerifiedGroup)
}

/** Decodes one entry. Total: returns a valid entry or throws `GroupLogError` naming the field. */
export function decodeGroupEntry(value: unknown): GroupEntry {
  const r = groupEntrySchema.safeParse(value)
  if (!r.success) {
    throw new GroupLogError(`malformed group log entry (${r.error.issues[0]?.path.join('.') || 'entry'})`)
  }
  const e = r.data
  const shape: Record<GroupEntry['op'], (keyof GroupEntry)[]> = {
    create: ['name', 'members'],
    add: ['account', 'role'],
    remove: ['account'],
    role: ['account', 'role'],
    rename: ['name'],
    join: [],
  }
  for (const k of ['name', 'members', 'account', 'role'] as const) {
    if ((e[k] !== undefined) !== shape[e.op].includes(k))
      throw new GroupLogError(`unexpected field ${k} for ${e.op}`)
  }
  return e
}

/** The signed part of an entry (everything but `sig`), canonical. */
export function groupSignedValue(e: Omit<GroupEntry, 'sig'>): Canonical {
  const { sig: _sig, ...rest } = e as GroupEntry
  return JSON.parse(JSON.stringify(rest)) as Canonical
}

/** base64url SHA-256 of an entry, signature included: what the next entry's `prev` names. */
export function groupEntryHash(e: GroupEntry): string {
  return toBase64Url(sha256(canonicalBytes(HASH_CONTEXT, JSON.parse(JSON.stringify(e)) as Canonical)))
}

interface State {
  group: string
  name: string
  members: Map<string, GroupRole>
  invited: Set<string>
  everJoined: Set<string>
  hashes: string[]
  entries: GroupEntry[]
}

function emptyState(group: string): State {
  return {
    group,
    name: '',
    members: new Map(),
    invited: new Set(),
    everJoined: new Set(),
    hashes: [],
    entries: [],
  }
}

/** A member added by this entry: joined at once in a version-1 log, invited in version 2. */
function admit(st: State, e: GroupEntry, account: string, role: GroupRole): void {
  st.members.set(account, role)
  if (e.v === 1 || account === e.signer.account) {
    st.invited.delete(account)
    st.everJoined.add(account)
  } else {
    st.invited.add(account)
  }
}

/** Applies one decoded entry whose signature was checked; throws `GroupLogError` if the signer may not make it. */
function apply(st: State, e: GroupEntry): void {
  if (e.group !== st.group) throw new GroupLogError('entry belongs to another group')
  if (e.seq !== st.entries.length) throw new GroupLogError('entries are not consecutive')
  if (e.prev !== (st.hashes.at(-1) ?? '')) throw new ForkError('group log entry does not extend the head')
  if (e.v < (st.entries.at(-1)?.v ?? 1)) throw new GroupLogError('a group log never goes back to version 1')
  const by = e.signer.account
  const signerRole = st.members.get(by)
  if (e.op === 'create') {
    if (e.seq !== 0) throw new GroupLogError('create is only the first entry')
    const members = e.members!
    const accounts = new Set(members.map((m) => m.account))
    if (accounts.size !== members.length) throw new GroupLogError('duplicate member')
    const owners = members.filter((m) => m.role === 'owner')
    if (owners.length !== 1 || owners[0]!.account !== by)
      throw new GroupLogError('the creator is the one owner')
    st.name = e.name!
    for (const m of members) admit(st, e, m.account, m.role)
  } else {
    if (e.seq === 0) throw new GroupLogError('a group log starts with create')
    if (!signerRole) throw new GroupLogError('the signer is not a member')
    const invited = st.invited.has(by)
    if (e.op === 'join') {
      if (e.v === 1) throw new GroupLogError('join is a version-2 entry')
      if (!invited) throw new GroupLogError('only an invited member joins')
      st.invited.delete(by)
      st.everJoined.add(by)
      st.hashes.push(groupEntryHash(e))
      st.entries.push(e)
      return
    }
    // Until they join, the invited only decline (remove themselves); they change nothing else.
    if (invited && !(e.op === 'remove' && e.account === by))
      throw new GroupLogError('an invited member joins or declines before changing the group')
    const manager = signerRole === 'owner' || signerRole === 'admin'
    if (e.op === 'rename') {
      if (!manager) throw new GroupLogError('only the owner or an admin renames a group')
      st.name = e.name!
    } else if (e.op === 'add') {
      const target = e.account!
      if (!manager) throw new GroupLogError('only the owner or an admin adds members')
      if (e.role === 'admin' && signerRole !== 'owner') throw new GroupLogError('only the owner makes admins')
      if (st.members.has(target)) throw new GroupLogError('already a member')
      if (st.members.size >= MAX_GROUP_MEMBERS) throw new LimitError('too many group members')
      admit(st, e, target, e.role!)
    } else if (e.op === 'remove') {
      const target = e.account!
      const role = st.members.get(target)
      if (!role) throw new GroupLogError('not a member')
      if (role === 'owner') throw new GroupLogError('the owner cannot leave or be removed')
      const self = target === by
      if (!self && !manager) throw new GroupLogError('only the owner or an admin removes members')
      if (!self && role === 'admin' && signerRole !== 'owner')
        throw new GroupLogError('only the owner removes admins')
      st.members.delete(target)
      st.invited.delete(target)
    } else {
      const target = e.account!
      const role = st.members.get(target)
      if (signerRole !== 'owner') throw new GroupLogError('only the owner changes roles')
      if (!role || role === 'owner') throw new GroupLogError('not a member whose role can change')
      st.members.set(target, e.role!)
    }
  }
  st.hashes.push(groupEntryHash(e))
  st.entries.push(e)
}

function publish(st: State): VerifiedGroup {
  const v: VerifiedGroup = Object.freeze({
    group: st.group,
    seq: st.entries.length - 1,
    head: st.hashes.at(-1)!,
    name: st.name,
    members: new Map(st.members),
    invited: new Set(st.invited),
    everJoined: new Set(st.everJoined),
    entries: [...st.entries],
  })
  verified.add(v)
  return v
}

function replay(v: VerifiedGroup): State {
  const st = emptyState(v.group)
  for (const e of v.entries) apply(st, e)
  return st
}

async function applyChecked(st: State, raw: unknown, check: CheckGroupSigner): Promise<void> {
  const e = decodeGroupEntry(raw)
  await check(e, groupSignedValue(e))
  apply(st, e)
}

/**
 * Verifies a whole group log from its `create` entry, against `pin` when given. Throws
 * `GroupLogError`, `SignatureError` (from `check`), `ForkError`/`RollbackError` against the pin,
 * `LimitError` past {@link MAX_GROUP_LOG_ENTRIES}.
 */
export async function verifyGroupLog(
  group: string,
  entries: readonly unknown[],
  check: CheckGroupSigner,
  pin?: Pin,
): Promise<VerifiedGroup> {
  if (!Array.isArray(entries) || entries.length === 0) throw new GroupLogError('group log is empty')
  if (entries.length > MAX_GROUP_LOG_ENTRIES) throw new LimitError('group log is too long')
  if (pin && entries.length - 1 < pin.seq)
    throw new RollbackError('the group log is older than the one pinned')
  const st = emptyState(group)
  for (const raw of entries) await applyChecked(st, raw, check)
  if (pin && st.hashes[pin.seq] !== pin.head) throw new ForkError('the group log differs from the one pinned')
  return publish(st)
}

/**
 * Extends a verified group log with entries after it; entries that overlap must equal those
 * already verified (`ForkError` otherwise).
 */
export async function extendGroupLog(
  v: VerifiedGroup,
  entries: readonly unknown[],
  check: CheckGroupSigner,
): Promise<VerifiedGroup> {
  if (!isVerifiedGroup(v)) throw new GroupLogError('group log was not verified')
  if (!Array.isArray(entries)) throw new GroupLogError('group log is not a list')
  if (entries.length === 0) return v
  if (v.entries.length + entries.length > MAX_GROUP_LOG_ENTRIES * 2)
    throw new LimitError('group log is too long')
  const st = replay(v)
  for (const raw of entries) {
    const e = decodeGroupEntry(raw)
    if (e.seq < st.entries.length) {
      if (groupEntryHash(e) !== st.hashes[e.seq])
        throw new ForkError('the group log differs from the one pinned')
      continue
    }
    await applyChecked(st, raw, check)
  }
  if (st.entries.length > MAX_GROUP_LOG_ENTRIES) throw new LimitError('group log is too long')
  return st.entries.length === v.entries.length ? v : publish(st)
}

/** The first entry of a new group, signed by its creator (the owner). */
export function createGroupEntry(input: {
  group: string
  name: string
  members: readonly { account: string; role: 'admin' | 'member' }[]
  signer: DeviceSecrets
  signerLog: VerifiedLog
}): GroupEntry {
  const members = [
    { account: input.signerLog.accountId, role: 'owner' as const },
    ...input.members.filter((m) => m.account !== input.signerLog.accountId),
  ]
  const e = sign(input.signer, input.signerLog, {
    group: input.group,
    seq: 0,
    prev: '',
    op: 'create',
    name: input.name,
    members,
  })
  apply(emptyState(input.group), e)
  return e
}

/**
 * The next entry of `v`, signed by this device. It is checked with the same rules as
 * verification, so a client never publishes a change others would reject (`GroupLogError`).
 */
export function appendGroupEntry(
  v: VerifiedGroup,
  change: GroupChange,
  signer: DeviceSecrets,
  signerLog: VerifiedLog,
): GroupEntry {
  if (!isVerifiedGroup(v)) throw new GroupLogError('group log was not verified')
  const e = sign(signer, signerLog, { group: v.group, seq: v.seq + 1, prev: v.head, ...change })
  apply(replay(v), e)
  return e
}

function sign(
  signer: DeviceSecrets,
  log: VerifiedLog,
  fields: Omit<GroupEntry, 'v' | 'context' | 'signer' | 'sig'>,
): GroupEntry {
  if (!isVerifiedLog(log)) throw new DeviceLogError('log was not verified')
  const body = {
    v: GROUP_LOG_VERSION,
    context: GROUP_LOG_CONTEXT,
    ...fields,
    signer: { account: log.accountId, device: signer.record.id, logSeq: log.seq, logHead: log.head },
  }
  const parsed = groupEntrySchema.omit({ sig: true }).safeParse(body)
  if (!parsed.success)
    throw new GroupLogError(`invalid group change (${parsed.error.issues[0]?.path.join('.')})`)
  const sig = signCanonical(signer, GROUP_LOG_CONTEXT, groupSignedValue(parsed.data))
  return decodeGroupEntry({ ...parsed.data, sig })
}

/**
 * The signer check clients use: the signer's device log (from `resolveLog`, synced to at least
 * the position the signer saw) must contain that position, the device must have been active
 * there, and the signature must verify under its key.
 */
export function groupSignerFromLogs(
  resolveLog: (accountId: string, atLeast: Pin) => Promise<VerifiedLog>,
): CheckGroupSigner {
  return async (e, value) => {
    const { account, device, logSeq, logHead } = e.signer
    const log = await resolveLog(account, { seq: logSeq, head: logHead })
    if (!isVerifiedLog(log) || log.accountId !== account) throw new DeviceLogError('log was not verified')
    if (log.seq < logSeq) throw new RollbackError("device log is older than the signer's")
    if (headAt(log, logSeq) !== logHead) throw new ForkError()
    const record = deviceActiveAt(log, device, logSeq)
    if (!record) throw new SignatureError('group log entry signed by a device that was not active')
    verifyCanonical(record.signKey, GROUP_LOG_CONTEXT, value, e.sig)
  }
}

/** The device with this id if it was active at `seq` of `v` (added at or before, not removed by then). */
export function deviceActiveAt(v: VerifiedLog, deviceId: string, seq: number) {
  let found: VerifiedLog['active'][number] | undefined
  for (const e of v.entries) {
    if (e.seq > seq) break
    if (e.device.id !== deviceId) continue
    found = e.op === 'remove' ? undefined : e.device
  }
  return found
}

/**
 * The joined members of `v` right after its entry `seq` (invited ones left out), or null if `head`
 * is not the hash of that entry (a position that is not in this verified log). What receivers
 * check a group item's sender against: the position its manifest names.
 */
export function groupMembersAt(
  v: VerifiedGroup,
  position: { seq: number; head: string },
): ReadonlyMap<string, GroupRole> | null {
  if (!isVerifiedGroup(v)) throw new GroupLogError('group log was not verified')
  if (position.seq > v.seq) return null
  const st = emptyState(v.group)
  for (const e of v.entries.slice(0, position.seq + 1)) apply(st, e)
  if (st.hashes[position.seq] !== position.head) return null
  // An invited member who has not joined yet never had the group's key material: not a sender.
  return new Map([...st.members].filter(([account]) => !st.invited.has(account)))
}

/** Safety number of a group's membership position, equal on every member's device. */
export function groupFingerprint(v: VerifiedGroup): string {
  return safetyNumber(FINGERPRINT_CONTEXT, { group: v.group, seq: v.seq, head: v.head })
}
