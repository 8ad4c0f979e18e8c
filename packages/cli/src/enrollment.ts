import { hostname } from 'node:os'
import {
  type DeviceSecrets,
  enrollDevice,
  isValidDeviceName,
  type Pin,
  type VerifiedLog,
} from '@airlock/core'
import type { ApiClient } from './client.js'
import { type AccountConfig, ensureHome, type HomePaths, saveConfig, saveDevice } from './config.js'
import { CliError } from './errors.js'
import { saveLog } from './log-file.js'

/** Making this home a device of an account. */

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
 * After the account's first device or another device added this one (linking or recovery):
 * core's `enrollDevice` (logs in, verifies the log from genesis against the pin the adding device
 * vouched for, checks this device is active in it), then saves everything.
 */
export async function completeEnrollment(
  home: HomePaths,
  client: ApiClient,
  device: DeviceSecrets,
  accountId: string,
  pin: Pin,
): Promise<AccountConfig> {
  const { log, me } = await enrollDevice(client, device, accountId, pin)
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
