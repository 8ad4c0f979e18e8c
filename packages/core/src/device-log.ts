import { sha256 } from '@noble/hashes/sha2.js'
import { z } from 'zod'
import { toBase64Url } from './bytes.js'
import { type Canonical, canonicalBytes, canonicalJson } from './canonical.js'
import { DeviceLogError, ForkError, LimitError, RollbackError, SignatureError } from './errors.js'
import {
  type DeviceRecord,
  type DeviceSecrets,
  deviceRecordSchema,
  recordValue,
  safetyNumber,
  signCanonical,
  verifyCanonical,
} from './identity.js'

/**
 * The device log of an account: a hash chain of signed `genesis`/`add`/`remove` entries that
 * says which devices may send as the account and receive for it. The server stores and serves
 * it but cannot write it: every entry is signed by a device that was active before it, and
 * clients pin the highest `(seq, head)` they verified to detect rollback and forks.
 */

export type LogOp = 'genesis' | 'add' | 'remove'

export interface DeviceLogEntry {
  /** The account this log belongs to, inside the signature so logs cannot move between accounts. */
  readonly account: string
  /** 0 for genesis, then +1 per entry. */
  readonly seq: number
  /** {@link entryHash} of the previous entry; '' for genesis. */
  readonly prev: string
  readonly op: LogOp
  /** The device added (genesis, add) or removed (remove; its record exactly as added). */
  readonly device: DeviceRecord
  /** Device id of the signer: the device itself for genesis, an active device otherwise. */
  readonly signer: string
  /** Ed25519 signature, base64url, over {@link SIGN_CONTEXT} and every field above. */
  readonly sig: string
}

/** The highest log position a client has verified: later logs must extend it. */
export interface Pin {
  readonly seq: number
  readonly head: string
}

/** A log that passed {@link verifyLog} or {@link extendVerified}; only those functions make one. */
export interface VerifiedLog {
  readonly accountId: string
  readonly seq: number
  /** {@link entryHash} of the last entry. */
  readonly head: string
  /** Active devices, in the order they were added. */
  readonly active: readonly DeviceRecord[]
  readonly entries: readonly DeviceLogEntry[]
}

const SIGN_CONTEXT = 'airlock device log entry v1'
const HASH_CONTEXT = 'airlock device log hash v1'
const FINGERPRINT_CONTEXT = 'airlock device log fingerprint v1'
/** Bounds verification work for a hostile server; a real account changes devices far less. */
export const MAX_LOG_ENTRIES = 65536

/** Account ids are opaque to core: 1–64 base64url characters. */
export const accountIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
const hashSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/)
const pinSchema = z.strictObject({ seq: z.number().int().nonnegative(), head: hashSchema })

/** Wire schema of one entry; the server uses it to check shape. Signatures are checked by clients. */
export const deviceLogEntrySchema = z.strictObject({
  account: accountIdSchema,
  seq: z.number().int().nonnegative(),
  prev: z.union([z.literal(''), hashSchema]),
  op: z.enum(['genesis', 'add', 'remove']),
  device: deviceRecordSchema,
  signer: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/),
})

/**
 * Decodes one entry from its JSON value. Total: returns a valid entry or throws
 * `DeviceLogError` naming the offending field (never its value).
 */
export function decodeLogEntry(value: unknown): DeviceLogEntry {
  const r = deviceLogEntrySchema.safeParse(value)
  if (!r.success) {
    const path = r.error.issues[0]?.path.join('.') || 'entry'
    throw new DeviceLogError(`malformed device log entry (${path})`)
  }
  return deepFreeze(r.data)
}

function signedValue(e: Omit<DeviceLogEntry, 'sig'>): Canonical {
  return {
    account: e.account,
    seq: e.seq,
    prev: e.prev,
    op: e.op,
    device: recordValue(e.device),
    signer: e.signer,
  }
}

/** The JSON value of an entry, exactly the wire form (what {@link decodeLogEntry} accepts). */
export function entryValue(e: DeviceLogEntry): Canonical {
  return { ...(signedValue(e) as Record<string, Canonical>), sig: e.sig }
}

/** base64url SHA-256 of the canonical encoding of a whole entry, signature included. */
export function entryHash(e: DeviceLogEntry): string {
  return toBase64Url(sha256(canonicalBytes(HASH_CONTEXT, entryValue(e))))
}

/** The canonical JSON text of an entry, for storage and transport. */
export function encodeLogEntry(e: DeviceLogEntry): string {
  return canonicalJson(entryValue(e))
}

interface State {
  accountId: string
  active: Map<string, DeviceRecord>
  /** Every device id ever added: a removed device can never come back. */
  seen: Set<string>
  hashes: string[]
  entries: DeviceLogEntry[]
}

// Only this module can mark a log verified, so a caller cannot pass a hand-built VerifiedLog.
const verified = new WeakMap<VerifiedLog, State>()

function apply(st: State, e: DeviceLogEntry): void {
  const seq = st.entries.length
  if (e.account !== st.accountId) throw new DeviceLogError('entry belongs to another account')
  if (e.seq !== seq) throw new DeviceLogError('entry out of sequence')
  if (e.prev !== (seq === 0 ? '' : st.hashes[seq - 1])) throw new DeviceLogError('broken hash chain')
  if ((seq === 0) !== (e.op === 'genesis'))
    throw new DeviceLogError('genesis must be exactly the first entry')
  const signer = seq === 0 ? (e.signer === e.device.id ? e.device : undefined) : st.active.get(e.signer)
  if (!signer) throw new SignatureError('entry is not signed by an active device')
  const { sig, ...body } = e
  verifyCanonical(signer.signKey, SIGN_CONTEXT, signedValue(body), sig)
  if (e.op === 'remove') {
    const current = st.active.get(e.device.id)
    if (!current || canonicalJson(recordValue(current)) !== canonicalJson(recordValue(e.device))) {
      throw new DeviceLogError('removed device is not active')
    }
    if (st.active.size === 1) throw new DeviceLogError('cannot remove the last active device')
    st.active.delete(e.device.id)
  } else {
    if (st.seen.has(e.device.id)) throw new DeviceLogError('device was already added')
    st.active.set(e.device.id, e.device)
    st.seen.add(e.device.id)
  }
  st.entries.push(e)
  st.hashes.push(entryHash(e))
}

function publish(st: State): VerifiedLog {
  const v: VerifiedLog = Object.freeze({
    accountId: st.accountId,
    seq: st.entries.length - 1,
    head: st.hashes.at(-1)!,
    active: Object.freeze([...st.active.values()]),
    entries: Object.freeze([...st.entries]),
  })
  verified.set(v, st)
  return v
}

function frozenState(v: VerifiedLog): State {
  const st = verified.get(v)
  if (!st) throw new DeviceLogError('log was not verified')
  return st
}

/** A copy of the state behind `v` that can be extended without touching `v`. */
function stateOf(v: VerifiedLog): State {
  const st = frozenState(v)
  return {
    accountId: st.accountId,
    active: new Map(st.active),
    seen: new Set(st.seen),
    hashes: [...st.hashes],
    entries: [...st.entries],
  }
}

/** True if `v` came from {@link verifyLog} or {@link extendVerified} (not built by hand). */
export function isVerifiedLog(v: unknown): v is VerifiedLog {
  return typeof v === 'object' && v !== null && verified.has(v as VerifiedLog)
}

/**
 * Verifies a whole log from genesis. Throws `DeviceLogError` (malformed entry, broken chain,
 * bad op, wrong account, re-added or non-active removed device, last device removed),
 * `SignatureError` (signer not active at the previous entry, or a bad signature),
 * `RollbackError` if the log ends before `pinned.seq`, `ForkError` if its entry at
 * `pinned.seq` is not `pinned.head`, `LimitError` past {@link MAX_LOG_ENTRIES}.
 */
export function verifyLog(accountId: string, entries: readonly unknown[], pinned?: Pin): VerifiedLog {
  if (!accountIdSchema.safeParse(accountId).success) throw new DeviceLogError('invalid account id')
  if (pinned !== undefined && !pinSchema.safeParse(pinned).success) throw new DeviceLogError('invalid pin')
  if (!Array.isArray(entries)) throw new DeviceLogError('device log is not a list')
  if (entries.length === 0) throw new DeviceLogError('device log is empty')
  if (entries.length > MAX_LOG_ENTRIES) throw new LimitError('device log is too long')
  // A shorter log is a rollback whatever its content.
  if (pinned && entries.length - 1 < pinned.seq) throw new RollbackError()
  const st: State = { accountId, active: new Map(), seen: new Set(), hashes: [], entries: [] }
  for (const raw of entries) apply(st, decodeLogEntry(raw))
  if (pinned && st.hashes[pinned.seq] !== pinned.head) throw new ForkError()
  return publish(st)
}

/**
 * Extends a verified log with entries fetched during sync. `newEntries` must be consecutive;
 * they may start at or before `v.seq + 1`, and any that overlap must equal the entries already
 * verified. Throws `ForkError` if an overlapping entry differs or the first new entry does not
 * build on `v.head`, `DeviceLogError` for a gap, and the errors of {@link verifyLog}.
 */
export function extendVerified(v: VerifiedLog, newEntries: readonly unknown[]): VerifiedLog {
  const st = stateOf(v)
  if (!Array.isArray(newEntries)) throw new DeviceLogError('device log is not a list')
  if (newEntries.length === 0) return v
  if (newEntries.length > MAX_LOG_ENTRIES) throw new LimitError('device log is too long')
  const decoded = newEntries.map(decodeLogEntry)
  const first = decoded[0]!.seq
  decoded.forEach((e, i) => {
    if (e.seq !== first + i) throw new DeviceLogError('entries are not consecutive')
  })
  if (first > st.entries.length) throw new DeviceLogError('entries leave a gap after the verified log')
  for (const e of decoded) {
    if (e.seq < st.entries.length) {
      if (entryHash(e) !== st.hashes[e.seq]) throw new ForkError()
      continue
    }
    if (e.prev !== st.hashes.at(-1)) throw new ForkError('device log does not extend the pinned head')
    apply(st, e)
  }
  if (st.entries.length > MAX_LOG_ENTRIES) throw new LimitError('device log is too long')
  return st.entries.length === v.entries.length ? v : publish(st)
}

/**
 * The genesis entry of a new account, self-signed by its first device. Throws `DeviceLogError`
 * for an invalid account id.
 */
export function createGenesis(accountId: string, device: DeviceSecrets): DeviceLogEntry {
  if (!accountIdSchema.safeParse(accountId).success) throw new DeviceLogError('invalid account id')
  return sign(device, { account: accountId, seq: 0, prev: '', op: 'genesis', device: device.record })
}

/**
 * Builds and signs the next `add` or `remove` entry of `v`, signed by `signer`. The entry is
 * checked with the same rules as {@link verifyLog} before it is returned, so a client never
 * publishes an entry others would reject (`DeviceLogError`, `SignatureError` if `signer` is not
 * active in `v`).
 */
export function appendEntry(
  v: VerifiedLog,
  signer: DeviceSecrets,
  op: 'add' | 'remove',
  device: DeviceRecord,
): DeviceLogEntry {
  const st = stateOf(v)
  if (!deviceRecordSchema.safeParse(device).success) throw new DeviceLogError('invalid device record')
  const e = sign(signer, { account: v.accountId, seq: v.seq + 1, prev: v.head, op, device })
  apply(st, e)
  return e
}

function sign(signer: DeviceSecrets, e: Omit<DeviceLogEntry, 'sig' | 'signer'>): DeviceLogEntry {
  const body = { ...e, device: Object.freeze({ ...e.device }), signer: signer.record.id }
  return deepFreeze({ ...body, sig: signCanonical(signer, SIGN_CONTEXT, signedValue(body)) })
}

/** The pin to store after verifying `v`. */
export function pinOf(v: VerifiedLog): Pin {
  return { seq: v.seq, head: v.head }
}

/** The hash of the entry at `seq`, or `undefined` if the log is shorter. */
export function headAt(v: VerifiedLog, seq: number): string | undefined {
  return Number.isSafeInteger(seq) && seq >= 0 ? frozenState(v).hashes[seq] : undefined
}

/** The active device with this id, or `undefined` if there is none (never added, or removed). */
export function findActiveDevice(v: VerifiedLog, deviceId: string): DeviceRecord | undefined {
  return v.active.find((d) => d.id === deviceId)
}

/** Safety number of a log position, for people to compare across devices (six groups of five digits). */
export function logFingerprint(v: VerifiedLog): string {
  return safetyNumber(FINGERPRINT_CONTEXT, { account: v.accountId, seq: v.seq, head: v.head })
}

function deepFreeze<T extends object>(o: T): T {
  for (const x of Object.values(o)) if (typeof x === 'object' && x !== null) deepFreeze(x)
  return Object.freeze(o)
}
