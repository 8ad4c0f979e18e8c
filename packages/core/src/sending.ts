import { API_PREFIX, type Conversation, type ReserveItemResponse } from './api.js'
import { callEndpoint } from './call-endpoint.js'
import type { Directory } from './directory.js'
import { BadResponseError, RecipientsChangedError } from './errors.js'
import type { VerifiedGroup } from './group-log.js'
import { type RecipientSet, resolveRecipients } from './manifest.js'
import { checkItemPolicy } from './policy.js'
import { isServerError, type Transport } from './transport.js'

/**
 * Sending an item, for every client: whom it is encrypted to (every active device of every
 * member, from verified logs only), the organisation's policy checked before a byte is
 * encrypted, the reservation, and the commit — refused when a device or member left while the
 * item was uploading, so nobody who should no longer get it does. Encrypting (core's `sealItem`)
 * and uploading (core's tus uploader) sit between reserve and commit; where the ciphertext waits
 * meanwhile (an outbox on disk, OPFS) is the client's.
 */

/** Who an item to one conversation goes to. */
export interface ItemRecipients {
  /** For core's `sealItem`. */
  sets: RecipientSet[]
  /** The device ids it is encrypted to, kept until commit to check they are all still recipients. */
  deviceIds: string[]
  /** Their age recipients, for sizing the ciphertext. */
  recipients: string[]
  /** For a group: the verified group log they come from, for core's `sealItem` (its head is signed). */
  group?: VerifiedGroup
}

/**
 * The recipients of a new item of `conversation`, from `directory`'s verified logs. Pass a directory
 * that syncs every log now (a removed device must not receive it).
 */
export async function itemRecipients(
  directory: Directory,
  conversation: Conversation,
): Promise<ItemRecipients> {
  const { sets, group } = await directory.sendingTo(conversation)
  const resolved = resolveRecipients(sets)
  return {
    sets,
    deviceIds: resolved.map((r) => r.device.id),
    recipients: resolved.map((r) => r.device.recipient),
    ...(group ? { group } : {}),
  }
}

/**
 * Checks an item against the organisation's policy before it is encrypted and returns the label
 * as the policy spells it (null without one). `PolicyError` for a label the policy does not know
 * or an item larger than it allows. The server enforces the same policy; checking here first
 * saves encrypting and uploading what it will refuse.
 */
export async function checkSendPolicy(
  t: Transport,
  item: { label?: string | null; ciphertextSize: number },
): Promise<string | null> {
  return checkItemPolicy(await callEndpoint(t, 'getPolicy', {}), item)
}

/**
 * Reserves an item of `ciphertextSize` bytes in a conversation. The server creates its tus
 * upload at once; its URL must be this server's `/api/v1/uploads/<itemId>` (`BadResponseError`
 * otherwise: a server must not redirect the upload, and the token, elsewhere).
 */
export async function reserveItem(
  t: Transport,
  conversationId: string,
  ciphertextSize: number,
  label?: string | null,
): Promise<ReserveItemResponse & { uploadPath: string }> {
  const res = await callEndpoint(t, 'reserveItem', {
    params: { cid: conversationId },
    body: label ? { ciphertextSize, sensitivity: label } : { ciphertextSize },
  })
  const uploadPath = `${API_PREFIX}/uploads/${res.itemId}`
  if (res.uploadUrl !== uploadPath && res.uploadUrl !== `${t.origin}${uploadPath}`)
    throw new BadResponseError('upload address')
  return { ...res, uploadPath }
}

/**
 * Throws `RecipientsChangedError` if a device the item was encrypted to (`deviceIds`) is no longer
 * a recipient of `conversation` in `directory`'s freshly synced logs: the device was removed, or
 * its account left the group. Call right before {@link commitItem}, and cancel the item then.
 */
export async function checkRecipientsUnchanged(
  directory: Directory,
  conversation: Conversation,
  deviceIds: readonly string[],
): Promise<void> {
  const now = new Set((await itemRecipients(directory, conversation)).deviceIds)
  if (deviceIds.some((id) => !now.has(id))) throw new RecipientsChangedError()
}

/**
 * Commits an item whose whole blob the server holds, with its sealed manifest: the item becomes
 * visible to its recipients. Returns its seq, or null when an earlier attempt already committed it
 * (a client killed before it could record that).
 */
export async function commitItem(
  t: Transport,
  itemId: string,
  sealedManifest: Uint8Array,
): Promise<number | null> {
  try {
    const r = await callEndpoint(t, 'commitItem', { params: { id: itemId }, body: sealedManifest })
    if (r.itemId !== itemId) throw new BadResponseError('commit answer (another item)')
    return r.seq
  } catch (e) {
    if (isServerError(e, 'ALREADY_COMMITTED')) return null
    throw e
  }
}

/** Cancels a reservation (or deletes a committed item for every device); gone already is fine. */
export async function deleteItem(t: Transport, itemId: string): Promise<void> {
  try {
    await callEndpoint(t, 'deleteItem', { params: { id: itemId } })
  } catch (e) {
    if (!isServerError(e, 'NOT_FOUND') && !isServerError(e, 'GONE')) throw e
  }
}
