import type { MeResponse } from './api.js'
import { randomBytes, toBase64Url } from './bytes.js'
import { callEndpoint } from './call-endpoint.js'
import {
  appendEntry,
  createGenesis,
  type DeviceLogEntry,
  entryValue,
  extendVerified,
  findActiveDevice,
  type Pin,
  type VerifiedLog,
  verifyLog,
} from './device-log.js'
import { BadResponseError } from './errors.js'
import type { DeviceRecord, DeviceSecrets } from './identity.js'
import { fetchVerifiedLog } from './log-sync.js'
import { login, logPagesOver } from './session.js'
import type { Transport } from './transport.js'

/** Making a device part of an account, and publishing entries of an account's device log. */

/**
 * Creates an account with `device` as its first device: a fresh random account id, the device's
 * self-signed genesis entry, and the server's answer checked to be for exactly that account and
 * device. Returns the verified one-entry log and what the server told (my own conversation, and
 * whether this account administers the server). `ServerError` `FORBIDDEN` for an unknown, used or
 * expired code and `USERNAME_TAKEN` pass through for the client to word.
 */
export async function createAccount(
  t: Transport,
  device: DeviceSecrets,
  input: { code: string; username: string },
): Promise<{ log: VerifiedLog; selfConversationId: string; admin: boolean }> {
  const accountId = toBase64Url(randomBytes(16))
  const genesis = createGenesis(accountId, device)
  const created = await callEndpoint(t, 'createAccount', {
    body: { code: input.code, username: input.username, genesis },
  })
  if (created.accountId !== accountId || created.deviceId !== device.record.id)
    throw new BadResponseError('account answer (another account)')
  return {
    log: verifyLog(accountId, [entryValue(genesis)]),
    selfConversationId: created.selfConversationId,
    admin: created.admin,
  }
}

/**
 * After an account's first device or another device added `device` (linking, a recovery key):
 * logs in, verifies the log from genesis against the pin the adding device vouched for, checks
 * this device is active in it and that the server answers for this account and device. Nothing is
 * stored here: the client saves keys, log and account, in that order.
 */
export async function enrollDevice(
  t: Transport,
  device: DeviceSecrets,
  accountId: string,
  pin: Pin,
): Promise<{ log: VerifiedLog; me: MeResponse }> {
  const session = await login(t, device)
  if (session.accountId !== accountId) throw new BadResponseError('login answer (another account)')
  const log = await fetchVerifiedLog(logPagesOver(t, accountId), accountId, pin)
  if (!findActiveDevice(log, device.record.id))
    throw new BadResponseError('device log (this device is not in it)')
  const me = await callEndpoint(t, 'me', {})
  if (me.accountId !== accountId || me.deviceId !== device.record.id)
    throw new BadResponseError('account answer (another account)')
  return { log, me }
}

/** A device-log entry signed here, and the verified log it makes. */
export interface PreparedEntry {
  entry: DeviceLogEntry
  next: VerifiedLog
}

/** Signs the next entry of `log` with `signer` (checked as any verifier would check it). */
export function prepareLogEntry(
  log: VerifiedLog,
  signer: DeviceSecrets,
  op: 'add' | 'remove',
  record: DeviceRecord,
): PreparedEntry {
  const entry = appendEntry(log, signer, op, record)
  return { entry, next: extendVerified(log, [entryValue(entry)]) }
}

/**
 * Appends a prepared entry on the server, which must report exactly the new head
 * (`BadResponseError` otherwise); `ServerError` `STALE_HEAD` when another device appended first.
 */
export async function publishLogEntry(t: Transport, p: PreparedEntry): Promise<VerifiedLog> {
  const res = await callEndpoint(t, 'appendDeviceLog', {
    params: { id: p.next.accountId },
    body: { entry: p.entry },
  })
  if (res.head.seq !== p.next.seq || res.head.hash !== p.next.head)
    throw new BadResponseError('device-log head')
  return p.next
}
