import { readFile } from 'node:fs/promises'
import {
  DeviceRemovedError,
  deviceFingerprint,
  findActiveDevice,
  generateDevice,
  login,
  prepareLogEntry,
  publishLogEntry,
} from '@airlock/core'
import { ApiClient } from '../client.js'
import { assertNotSetUp, serverOrigin } from '../config.js'
import type { Context } from '../context.js'
import { checkDeviceName, completeEnrollment, defaultDeviceName } from '../enrollment.js'
import { CliError } from '../errors.js'
import { fetchLog } from '../log-file.js'
import { parseRecovery } from '../recovery.js'

/**
 * `airlock recover <server-url> <recovery-file>`: a fresh machine becomes a device of the
 * account using the paper recovery key, which signs the `add` entry. The device log is verified
 * against the position recorded in the key, so the server cannot show an older or another log.
 */
export async function recover(
  ctx: Context,
  serverUrl: string,
  file: string,
  opts: { name?: string },
): Promise<void> {
  const { home, out } = ctx
  const origin = serverOrigin(serverUrl)
  await assertNotSetUp(home)
  const name = checkDeviceName(opts.name ?? defaultDeviceName())
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8')
  const key = await parseRecovery(text)
  if (key.server !== origin) out.warn(`the recovery key was made for ${key.server}; using ${origin}`)

  const client = new ApiClient(origin)
  await login(client, key.device)
  const log = await fetchLog(client, key.accountId, key.pin)
  if (!findActiveDevice(log, key.device.record.id)) {
    throw new DeviceRemovedError('this recovery key was removed from the account')
  }
  const device = await generateDevice({ name, kind: 'cli' })
  const next = await publishLogEntry(client, prepareLogEntry(log, key.device, 'add', device.record))
  client.token = null
  const config = await completeEnrollment(home, client, device, key.accountId, {
    seq: next.seq,
    head: next.head,
  })
  out.result({ accountId: config.accountId, username: config.username, deviceId: device.record.id }, [
    `This machine is now device "${name}" ${device.record.id} of ${config.username} on ${origin}.`,
    `  fingerprint ${deviceFingerprint(device.record)}`,
    'The recovery key stays valid: keep it offline. Remove lost devices with `airlock devices remove <id>`.',
  ])
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = []
  let n = 0
  for await (const chunk of process.stdin) {
    n += (chunk as Buffer).length
    if (n > 64 * 1024) throw new CliError('USAGE', 'that is too long for a recovery key')
    parts.push(chunk as Buffer)
  }
  return Buffer.concat(parts).toString('utf8')
}
