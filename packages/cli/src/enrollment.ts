import { hostname } from 'node:os'
import {
  appendEntry,
  appendLogResponseSchema,
  type DeviceLogEntry,
  type DeviceRecord,
  type DeviceSecrets,
  entryValue,
  extendVerified,
  findActiveDevice,
  isValidDeviceName,
  meResponseSchema,
  type Pin,
  type VerifiedLog,
} from '@airlock/core'
import type { ApiClient } from './client.js'
import { type AccountConfig, ensureHome, type HomePaths, saveConfig, saveDevice } from './config.js'
import { CliError } from './errors.js'
import { login } from './session.js'
import { fetchLog, saveLog } from './sync.js'

/** Making this home a device of an account, and changing the account's device log. */

/** The machine's host name made into a valid device name. */
export function defaultDeviceName(): string {
  const name = hostname()
    .replace(/[\p{Cc}\u061C\u200E\u200F\u2028-\u202E\u2066-\u2069\uFEFF]/gu, '')
    .trim()
    .slice(0, 64)
    .trim()
  return isValidDeviceName(name) ? name : 'cli'
}

/** Checks a device name given by a person. */
export function checkDeviceName(name: string): string {
  if (!isValidDeviceName(name)) {
    throw new CliError(
      'USAGE',
      'a device name has 1 to 64 characters, no control characters or surrounding spaces',
    )
  }
  return name
}

/** Writes keys, verified log and config (in that order: config last marks the home as set up). */
export async function saveEnrollment(
  home: HomePaths,
  device: DeviceSecrets,
  log: VerifiedLog,
  config: AccountConfig,
) {
  await ensureHome(home)
  await saveDevice(home, device)
  await saveLog(home, log)
  await saveConfig(home, config)
}

/**
 * After another device added this one (linking or recovery): logs in, fetches the device log and
 * verifies it from genesis against the pin the adding device vouched for, checks this device is
 * active in it, and saves everything.
 */
export async function completeEnrollment(
  home: HomePaths,
  client: ApiClient,
  device: DeviceSecrets,
  accountId: string,
  pin: Pin,
): Promise<AccountConfig> {
  const session = await login(client, device)
  if (session.accountId !== accountId)
    throw new CliError('BAD_RESPONSE', 'the server enrolled this device elsewhere')
  const log = await fetchLog(client, accountId, pin)
  if (!findActiveDevice(log, device.record.id)) {
    throw new CliError('BAD_RESPONSE', 'this device is not in the verified device log')
  }
  const me = await client.json('GET', '/accounts/me', meResponseSchema)
  if (me.accountId !== accountId || me.deviceId !== device.record.id) {
    throw new CliError('BAD_RESPONSE', 'the server answered for another account')
  }
  const config: AccountConfig = {
    v: 1,
    server: client.origin,
    accountId,
    username: me.username,
    deviceId: device.record.id,
    selfConversationId: me.selfConversationId,
  }
  await saveEnrollment(home, device, log, config)
  return config
}

/**
 * Signs an `add` or `remove` entry with `signer`, appends it on the server and returns the log
 * extended by it (the server must confirm exactly that head).
 */
export async function appendToLog(
  client: ApiClient,
  log: VerifiedLog,
  signer: DeviceSecrets,
  op: 'add' | 'remove',
  record: DeviceRecord,
): Promise<VerifiedLog> {
  const prepared = prepareEntry(log, signer, op, record)
  await publishEntry(client, prepared)
  return prepared.next
}

export interface PreparedEntry {
  entry: DeviceLogEntry
  /** The verified log with the entry. */
  next: VerifiedLog
}

/** Signs the next entry locally (core checks it as any verifier would). */
export function prepareEntry(
  log: VerifiedLog,
  signer: DeviceSecrets,
  op: 'add' | 'remove',
  record: DeviceRecord,
): PreparedEntry {
  const entry = appendEntry(log, signer, op, record)
  return { entry, next: extendVerified(log, [entryValue(entry)]) }
}

/** Appends a prepared entry on the server; it must report exactly the new head. */
export async function publishEntry(client: ApiClient, p: PreparedEntry): Promise<void> {
  const res = await client.json('POST', `/accounts/${p.next.accountId}/log`, appendLogResponseSchema, {
    body: { entry: entryValue(p.entry) },
  })
  if (res.head.seq !== p.next.seq || res.head.hash !== p.next.head) {
    throw new CliError('BAD_RESPONSE', 'the server stored another device-log head')
  }
}
