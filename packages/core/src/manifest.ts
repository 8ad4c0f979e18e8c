import { z } from 'zod'
import { decryptStream, encryptBytes } from './age.js'
import { bytesStream, readAll } from './byte-streams.js'
import { bytesEqual, fromUtf8, utf8 } from './bytes.js'
import { type Canonical, canonicalJson } from './canonical.js'
import {
  accountIdSchema,
  findActiveDevice,
  headAt,
  isVerifiedLog,
  type Pin,
  type VerifiedLog,
} from './device-log.js'
import {
  DeviceLogError,
  ForkError,
  GroupLogError,
  IdMismatchError,
  InvalidInputError,
  ManifestError,
  NotRecipientError,
  RollbackError,
  SignatureError,
} from './errors.js'
import { isVerifiedGroup, type VerifiedGroup } from './group-log.js'
import { type DeviceRecord, type DeviceSecrets, signCanonical, verifyCanonical } from './identity.js'
import type { ChunkAead } from './stream.js'

/**
 * The manifest of an item: who sent it (device and the log state it saw), to which devices, and
 * the SHA-256 of the exact ciphertext, plus the file's metadata. It is signed by the sender
 * device and then age-encrypted, with its signature, to the same devices as the item, so the
 * server sees neither the name nor the signer and cannot swap, alter or re-address an item.
 */

export const MANIFEST_CONTEXT = 'airlock item manifest v1'
/** Bounds the buffered manifest (thousands of recipients fit). */
export const MAX_MANIFEST_SIZE = 1024 * 1024
export const MAX_RECIPIENTS = 2048

const idSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)
const deviceIdSchema = z.string().regex(/^[A-Za-z0-9_-]{22}$/)
const hashSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/)
const sizeSchema = z.number().int().nonnegative()

/** Metadata the sender chooses; validated before any byte is encrypted. */
export const itemMetaSchema = z.strictObject({
  itemId: idSchema,
  conversationId: idSchema,
  // Names are sanitised where files are written (filename.ts); here they are only bounded.
  filename: z.string().max(1024),
  type: z
    .string()
    .max(255)
    .regex(/^[\x20-\x7e]*$/),
  mtime: sizeSchema,
  created: sizeSchema,
  kind: z.enum(['file', 'note']),
  label: z.string().max(256).optional(),
})
export type ItemMeta = z.infer<typeof itemMetaSchema>

const senderSchema = z.strictObject({
  accountId: accountIdSchema,
  deviceId: deviceIdSchema,
  logSeq: sizeSchema,
  logHead: hashSchema,
})
const recipientSchema = z.strictObject({
  accountId: accountIdSchema,
  deviceId: deviceIdSchema,
  logHead: hashSchema,
})
/** The position of a group's membership log an item was encrypted under (groups only). */
const groupLogSchema = z.strictObject({ seq: sizeSchema, head: hashSchema })
export type GroupLogPosition = z.infer<typeof groupLogSchema>

/** Strict schema of a decoded manifest: no unknown fields, unique recipients, bounded sizes. */
export const manifestSchema = z
  .strictObject({
    ...itemMetaSchema.shape,
    v: z.literal(1),
    context: z.literal(MANIFEST_CONTEXT),
    sender: senderSchema,
    // Signed with the rest: receivers check the sender was a member at this position of the
    // group log they verified. Absent in self and direct conversations (and in older items).
    groupLog: groupLogSchema.optional(),
    recipients: z.array(recipientSchema).min(1).max(MAX_RECIPIENTS),
    ciphertextSha256: hashSchema,
    ciphertextSize: sizeSchema,
    plaintextSize: sizeSchema,
  })
  .refine(
    (m) => new Set(m.recipients.map((r) => r.deviceId)).size === m.recipients.length,
    'duplicate recipient',
  )
  .refine((m) => m.plaintextSize <= m.ciphertextSize, 'plaintext larger than ciphertext')
export type Manifest = z.infer<typeof manifestSchema>

/** A set of recipient devices of one account, taken from its verified log (all active by default). */
export interface RecipientSet {
  readonly log: VerifiedLog
  /** Device ids to address; each must be active in `log`. Omitted: every active device. */
  readonly devices?: readonly string[]
}

/** The sending device and its own account's verified log. */
export interface Sender {
  readonly device: DeviceSecrets
  readonly log: VerifiedLog
}

/**
 * Finds a sender's verified log, synced to at least `atLeast` (the position the sender saw).
 * `claimed` is the decoded manifest, NOT yet verified: a resolver may refuse a sender from what
 * it claims (its conversation, the group log position it names) before fetching any log, and the
 * signature checked afterwards makes the claim the sender's own.
 */
export type ResolveLog = (accountId: string, atLeast: Pin, claimed?: Manifest) => Promise<VerifiedLog>

/**
 * The devices to encrypt to, from verified logs only, so a device the server slipped into a list
 * is never addressed. Throws `DeviceLogError` for an unverified log, `InvalidInputError` for a
 * named device that is not active or an empty or oversized set.
 */
export function resolveRecipients(
  sets: readonly RecipientSet[],
): { accountId: string; device: DeviceRecord; logHead: string }[] {
  const out = new Map<string, { accountId: string; device: DeviceRecord; logHead: string }>()
  for (const set of sets) {
    if (!isVerifiedLog(set.log)) throw new DeviceLogError('log was not verified')
    const devices = set.devices
      ? set.devices.map((id) => {
          const d = findActiveDevice(set.log, id)
          if (!d) throw new InvalidInputError('recipient device is not active in its verified log')
          return d
        })
      : set.log.active
    for (const device of devices)
      out.set(device.id, { accountId: set.log.accountId, device, logHead: set.log.head })
  }
  if (out.size === 0 || out.size > MAX_RECIPIENTS) throw new InvalidInputError('invalid number of recipients')
  return [...out.values()]
}

/** Checks the sender device is active in its verified log; throws `InvalidInputError` if not. */
export function checkSender(sender: Sender): void {
  if (!isVerifiedLog(sender.log)) throw new DeviceLogError('log was not verified')
  if (!findActiveDevice(sender.log, sender.device.record.id)) {
    throw new InvalidInputError('sender device is not active in its own device log')
  }
}

/**
 * The group log position a group item names: the head of the verified group log it is encrypted
 * under. Throws `GroupLogError` for a log that was not verified, belongs to another conversation,
 * or does not have the sender as a member (a client never sends what members would refuse).
 */
export function groupLogOf(group: VerifiedGroup, sender: Sender, conversationId: string): GroupLogPosition {
  if (!isVerifiedGroup(group)) throw new GroupLogError('group log was not verified')
  if (group.group !== conversationId) throw new GroupLogError('the group log is of another conversation')
  if (!group.members.has(sender.log.accountId)) throw new GroupLogError('you are not a member of this group')
  return { seq: group.seq, head: group.head }
}

/**
 * Builds, signs and age-encrypts the manifest of an item whose ciphertext is already known.
 * Returns the manifest and its sealed bytes (an age file to the same post-quantum recipients).
 * Throws `InvalidInputError` for invalid metadata or sizes, and the errors of
 * {@link resolveRecipients} and {@link checkSender}.
 */
export async function sealManifest(input: {
  sender: Sender
  recipients: readonly RecipientSet[]
  meta: ItemMeta
  /** The verified membership log of the group the item goes to (see {@link groupLogOf}). */
  group?: VerifiedGroup
  ciphertextSha256: string
  ciphertextSize: number
  plaintextSize: number
  aead?: ChunkAead
}): Promise<{ manifest: Manifest; sealed: Uint8Array }> {
  checkSender(input.sender)
  const recipients = resolveRecipients(input.recipients)
  const groupLog = input.group ? groupLogOf(input.group, input.sender, input.meta.conversationId) : undefined
  const { label, ...meta } = input.meta
  const parsed = manifestSchema.safeParse({
    ...meta,
    // An explicit `label: undefined` has no canonical encoding; absent and undefined mean the same.
    ...(label === undefined ? {} : { label }),
    v: 1,
    context: MANIFEST_CONTEXT,
    sender: {
      accountId: input.sender.log.accountId,
      deviceId: input.sender.device.record.id,
      logSeq: input.sender.log.seq,
      logHead: input.sender.log.head,
    },
    ...(groupLog ? { groupLog } : {}),
    recipients: recipients.map((r) => ({
      accountId: r.accountId,
      deviceId: r.device.id,
      logHead: r.logHead,
    })),
    ciphertextSha256: input.ciphertextSha256,
    ciphertextSize: input.ciphertextSize,
    plaintextSize: input.plaintextSize,
  })
  if (!parsed.success) throw new InvalidInputError(`invalid manifest (${issuePath(parsed.error)})`)
  const manifest = parsed.data
  const sig = signCanonical(input.sender.device, MANIFEST_CONTEXT, manifest as Canonical)
  const plain = utf8(canonicalJson({ manifest: manifest as Canonical, sig }))
  const sealed = await encryptBytes(
    recipients.map((r) => r.device.recipient),
    plain,
    { aead: input.aead },
  )
  return { manifest, sealed }
}

/**
 * Decodes the decrypted manifest payload strictly: UTF-8 canonical JSON `{manifest, sig}`, every
 * field checked, and re-encoding must give the same bytes. Total: returns or throws
 * `ManifestError`, or `SignatureError` if the signature is missing or malformed.
 */
export function decodeSignedManifest(bytes: Uint8Array): { manifest: Manifest; sig: string } {
  let value: unknown
  try {
    value = JSON.parse(fromUtf8(bytes))
  } catch {
    throw new ManifestError('manifest is not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !('manifest' in value)) {
    throw new ManifestError('not a manifest')
  }
  const keys = Object.keys(value)
  const sig = (value as { sig?: unknown }).sig
  if (typeof sig !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(sig))
    throw new SignatureError('manifest is not signed')
  if (keys.length !== 2) throw new ManifestError('unexpected field in sealed manifest')
  const parsed = manifestSchema.safeParse((value as { manifest: unknown }).manifest)
  if (!parsed.success) throw new ManifestError(`malformed manifest (${issuePath(parsed.error)})`)
  let canonical: Uint8Array
  try {
    canonical = utf8(canonicalJson({ manifest: parsed.data as Canonical, sig }))
  } catch {
    throw new ManifestError('manifest is not canonical')
  }
  if (!bytesEqual(canonical, bytes)) throw new ManifestError('manifest is not canonical')
  return { manifest: parsed.data, sig }
}

/**
 * Opens a sealed manifest addressed to `device`, in this order: age-decrypt (post-quantum
 * stanzas only; age-layer errors such as `NoMatchError`, `HeaderMacError`, `DowngradeError` pass
 * through) → decode strictly (`ManifestError`) → find the signer among the ACTIVE devices of the
 * sender account's verified log and verify the signature (`SignatureError`) → check the sender's
 * claimed log position against that log (`RollbackError` if the log is behind it, `ForkError`
 * if it differs) → check `device` (and `accountId`, if given) is a recipient
 * (`NotRecipientError`) → check the ids the caller expects (`IdMismatchError`).
 * Also `LimitError` past {@link MAX_MANIFEST_SIZE}, `DeviceLogError` if `resolveLog` returns a
 * log that was not verified or belongs to another account. `resolveLog` gets the decoded manifest
 * too, so it can refuse a sender (or the group log position it names) before any log is fetched;
 * whatever it throws passes through. Returns only a manifest that passed every check.
 */
export async function openManifest(input: {
  sealed: Uint8Array
  device: DeviceSecrets
  expect: { itemId: string; conversationId: string }
  resolveLog: ResolveLog
  accountId?: string
  aead?: ChunkAead
}): Promise<Manifest> {
  const plain = await readAll(
    await decryptStream([input.device.ageIdentity], bytesStream(input.sealed), {
      aead: input.aead,
      policy: 'pq',
    }),
    MAX_MANIFEST_SIZE,
  )
  const { manifest, sig } = decodeSignedManifest(plain)
  const { sender } = manifest
  const log = await input.resolveLog(sender.accountId, { seq: sender.logSeq, head: sender.logHead }, manifest)
  if (!isVerifiedLog(log)) throw new DeviceLogError('log was not verified')
  if (log.accountId !== sender.accountId) throw new DeviceLogError('resolved log belongs to another account')
  const signer = findActiveDevice(log, sender.deviceId)
  if (!signer) throw new SignatureError('manifest signer is not an active device of the sender')
  verifyCanonical(signer.signKey, MANIFEST_CONTEXT, manifest as Canonical, sig)
  // Authenticated now: the sender vouches for this position of its own log.
  if (log.seq < sender.logSeq) throw new RollbackError("device log is older than the sender's")
  if (headAt(log, sender.logSeq) !== sender.logHead) throw new ForkError()
  const me = input.device.record.id
  const mine = manifest.recipients.some(
    (r) => r.deviceId === me && (input.accountId === undefined || r.accountId === input.accountId),
  )
  if (!mine) throw new NotRecipientError()
  if (manifest.itemId !== input.expect.itemId || manifest.conversationId !== input.expect.conversationId) {
    throw new IdMismatchError()
  }
  return manifest
}

function issuePath(error: z.ZodError): string {
  return error.issues[0]?.path.join('.') || 'value'
}
