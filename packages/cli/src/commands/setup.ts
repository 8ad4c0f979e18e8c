import { open, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import {
  createAccount,
  type DeviceSecrets,
  deviceFingerprint,
  generateDevice,
  LoginRefusedError,
  login,
  prepareLogEntry,
  publishLogEntry,
  usernameSchema,
  type VerifiedLog,
} from '@airlock/core'
import { ApiClient } from '../client.js'
import { assertNotSetUp, isLoopback, serverOrigin } from '../config.js'
import type { Context } from '../context.js'
import { checkDeviceName, defaultDeviceName, saveEnrollment } from '../enrollment.js'
import { CliError, isApiError } from '../errors.js'
import { saveLog } from '../log-file.js'
import { readLine, readSecret } from '../prompt.js'
import { serializeRecovery } from '../recovery.js'

export interface SetupOptions {
  username?: string
  name?: string
  codeFile?: string
  recoveryOut?: string
}

/**
 * `airlock setup <server-url>`: creates the account with an invite or the admin setup code and
 * makes this the first device (the genesis of the device log), then adds a paper recovery key.
 */
export async function setup(ctx: Context, serverUrl: string, opts: SetupOptions): Promise<void> {
  const { home, out } = ctx
  const origin = serverOrigin(serverUrl)
  await assertNotSetUp(home)
  if (origin.startsWith('http:') && !isLoopback(origin)) {
    out.warn(
      'this server is reached over plain http: anyone on the network sees your traffic (still end-to-end encrypted)',
    )
  }
  const name = checkDeviceName(opts.name ?? defaultDeviceName())
  const code = await readSecret({
    env: 'AIRLOCK_CODE',
    file: opts.codeFile,
    question: 'Invite or setup code: ',
  })
  const username = opts.username ?? (await readLine('Username: '))
  if (!usernameSchema.safeParse(username).success) {
    throw new CliError('USAGE', 'a username has 1 to 32 of a-z 0-9 . _ - and starts with a letter or digit')
  }
  const recoveryOut = opts.recoveryOut ?? resolve(`airlock-recovery-${username}.txt`)
  await checkRecoveryOut(recoveryOut)

  const client = new ApiClient(origin)
  const device = await generateDevice({ name, kind: 'cli' })
  let created: Awaited<ReturnType<typeof createAccount>>
  try {
    created = await createAccount(client, device, { code, username })
  } catch (e) {
    if (isApiError(e, 'FORBIDDEN'))
      throw new LoginRefusedError('the code is unknown, already used or expired')
    if (isApiError(e, 'USERNAME_TAKEN')) throw new CliError('USAGE', `the username ${username} is taken`)
    throw e
  }
  let log = created.log
  const accountId = log.accountId
  await saveEnrollment(home, device, log, {
    v: 1,
    server: origin,
    accountId,
    username,
    deviceId: device.record.id,
    selfConversationId: created.selfConversationId,
  })

  await login(client, device)
  const { recovery, next } = await createRecoveryKey(ctx, client, log, device, recoveryOut)
  log = next
  await saveLog(home, log)

  out.result(
    {
      accountId,
      username,
      admin: created.admin,
      deviceId: device.record.id,
      fingerprint: deviceFingerprint(device.record),
      recoveryDeviceId: recovery.record.id,
      recoveryFile: recoveryOut === '-' ? null : recoveryOut,
    },
    [
      `Account ${username} created${created.admin ? ' (administrator)' : ''} on ${origin}.`,
      `This device: "${name}" ${device.record.id}`,
      `  fingerprint ${deviceFingerprint(device.record)}`,
      ...(recoveryOut === '-'
        ? []
        : [
            `Recovery key written to ${recoveryOut} (readable only by you).`,
            'Print it or copy it somewhere safe and offline, then delete the file: whoever holds it can',
            'add devices to your account. If you lose every device: airlock recover <server-url> <file>',
          ]),
    ],
  )
}

/**
 * Makes a paper recovery key: a new device of kind `recovery`, added to the log by `signer`. Its
 * text is written (0600, never overwriting, or to stdout for `-`) before the server learns of
 * it, so an added key is never lost; returns it and the extended log.
 */
export async function createRecoveryKey(
  ctx: Context,
  client: ApiClient,
  log: VerifiedLog,
  signer: DeviceSecrets,
  path: string,
): Promise<{ recovery: DeviceSecrets; next: VerifiedLog }> {
  const recovery = await generateDevice({ name: 'recovery key', kind: 'recovery' })
  const prepared = prepareLogEntry(log, signer, 'add', recovery.record)
  const pin = { seq: prepared.next.seq, head: prepared.next.head }
  const text = serializeRecovery({ server: client.origin, accountId: log.accountId, pin, device: recovery })
  await writeRecovery(ctx, path, text)
  await publishLogEntry(client, prepared)
  return { recovery, next: prepared.next }
}

/** Refuses a recovery-key path that exists (`-` is stdout). */
export async function checkRecoveryOut(path: string): Promise<void> {
  if (path !== '-' && (await stat(path).catch(() => null))) {
    throw new CliError('USAGE', `${path} exists; choose another place with --recovery-out`)
  }
}

/** Writes the recovery text to a new 0600 file, or to stdout with a warning for `-`. */
export async function writeRecovery(ctx: Context, path: string, text: string): Promise<void> {
  if (path === '-') {
    ctx.out.warn('the recovery key follows on stdout: it is shown once; store it safely and offline')
    process.stdout.write(text)
    return
  }
  const fh = await open(path, 'wx', 0o600)
  try {
    await fh.writeFile(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
}
