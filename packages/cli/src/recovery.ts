import {
  accountIdSchema,
  type DeviceSecrets,
  KeyFormatError,
  type Pin,
  parseDeviceSecrets,
  serializeDeviceSecrets,
} from '@airlock/core'

/**
 * The paper recovery key: a device of kind `recovery` whose private keys exist only in this
 * text, plus what a fresh machine needs to use it — the server, the account and the device-log
 * position at which the key was added (so the log the server shows later must extend it).
 */

const VERSION = 'airlock-recovery v1'

const WARNING = [
  '# Airlock recovery key. KEEP IT SECRET AND OFFLINE (print it, then delete the file).',
  '# Whoever holds it can add devices to your account and read what is sent to it.',
  '# If every device is lost: airlock recover <server-url> <this file>',
]

export interface RecoveryKey {
  server: string
  accountId: string
  pin: Pin
  device: DeviceSecrets
}

export function serializeRecovery(r: RecoveryKey): string {
  return [
    ...WARNING,
    VERSION,
    `server ${r.server}`,
    `account ${r.accountId}`,
    `pin ${r.pin.seq} ${r.pin.head}`,
    serializeDeviceSecrets(r.device),
  ].join('\n')
}

/** Parses {@link serializeRecovery} output (comment lines ignored); throws `KeyFormatError`. */
export async function parseRecovery(text: string): Promise<RecoveryKey> {
  const lines = text.replace(/\r\n/g, '\n').split('\n')
  while (lines[0]?.startsWith('#')) lines.shift()
  const [version, server, account, pin, ...rest] = lines
  if (version !== VERSION) throw new KeyFormatError('not an Airlock recovery key (or an unsupported version)')
  const s = /^server (https?:\/\/\S+)$/.exec(server ?? '')
  const a = /^account (\S+)$/.exec(account ?? '')
  const p = /^pin (0|[1-9][0-9]{0,15}) ([A-Za-z0-9_-]{43})$/.exec(pin ?? '')
  if (!s || !a || !p || !accountIdSchema.safeParse(a[1]).success)
    throw new KeyFormatError('malformed recovery key')
  const device = await parseDeviceSecrets(rest.join('\n').replace(/\n*$/, '\n'))
  if (device.record.kind !== 'recovery') throw new KeyFormatError('this key is not a recovery key')
  return { server: s[1]!, accountId: a[1]!, pin: { seq: Number(p[1]), head: p[2]! }, device }
}
