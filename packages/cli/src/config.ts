import { randomBytes } from 'node:crypto'
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import {
  AlreadySetUpError,
  apiAccountIdSchema,
  conversationIdSchema,
  type DeviceSecrets,
  deviceIdSchema,
  NotSetUpError,
  parseDeviceSecrets,
  serializeDeviceSecrets,
  usernameSchema,
} from '@airlock/core'
import { z } from 'zod'
import { CliError } from './errors.js'

/**
 * The configuration directory of one device (`--home`, `$AIRLOCK_HOME`, or
 * `~/.config/airlock`), mode 0700:
 *
 *     config.json    server, account and device ids
 *     device.key     the device's private keys (0600)
 *     log.json       the device log this device verified, and its pin (seq, head)
 *     peers.json     colleagues' device logs and group logs this device pinned (peers.ts)
 *     state.json     sync cursors (watch)
 *     accesses.json  the access-log heads this device verified, per item (`airlock accesses`)
 *     outbox/        encrypted uploads not yet committed, for `airlock resume`
 *     downloads/     partial ciphertext downloads, resumed with HTTP Range
 */

export interface HomePaths {
  dir: string
  config: string
  deviceKey: string
  log: string
  peers: string
  state: string
  accesses: string
  outbox: string
  downloads: string
}

export function homePaths(dir: string): HomePaths {
  return {
    dir,
    config: join(dir, 'config.json'),
    deviceKey: join(dir, 'device.key'),
    log: join(dir, 'log.json'),
    peers: join(dir, 'peers.json'),
    state: join(dir, 'state.json'),
    accesses: join(dir, 'accesses.json'),
    outbox: join(dir, 'outbox'),
    downloads: join(dir, 'downloads'),
  }
}

/** `--home`, else `$AIRLOCK_HOME`, else `$XDG_CONFIG_HOME/airlock` or `~/.config/airlock`. */
export function resolveHome(option: string | undefined): HomePaths {
  const dir =
    option ??
    process.env.AIRLOCK_HOME ??
    join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'airlock')
  return homePaths(dir)
}

/** Creates the directory tree with mode 0700 (and tightens an existing one). */
export async function ensureHome(home: HomePaths): Promise<void> {
  for (const d of [home.dir, home.outbox, home.downloads]) {
    await mkdir(d, { recursive: true, mode: 0o700 })
    await chmod(d, 0o700)
  }
}

export const accountConfigSchema = z.strictObject({
  v: z.literal(1),
  /** The server origin, e.g. `https://airlock.example`. */
  server: z.string(),
  accountId: apiAccountIdSchema,
  username: usernameSchema,
  deviceId: deviceIdSchema,
  selfConversationId: conversationIdSchema,
})
export type AccountConfig = z.infer<typeof accountConfigSchema>

/** Throws `NOT_SET_UP` when this home has no device yet, `CONFIG` when its files are broken. */
export async function loadConfig(home: HomePaths): Promise<AccountConfig> {
  const value = await readJson(home.config, accountConfigSchema)
  if (value === null) {
    throw new NotSetUpError(
      `no Airlock device in ${home.dir}: run \`airlock setup\`, \`airlock link\` or \`airlock recover\` first`,
    )
  }
  return value
}

export async function saveConfig(home: HomePaths, config: AccountConfig): Promise<void> {
  await writeFileAtomic(home.config, `${JSON.stringify(config, null, 2)}\n`, 0o600)
}

export async function isSetUp(home: HomePaths): Promise<boolean> {
  return (await stat(home.config).catch(() => null)) !== null
}

/** Refuses to proceed if this home already holds a device. */
export async function assertNotSetUp(home: HomePaths): Promise<void> {
  if ((await isSetUp(home)) || (await stat(home.deviceKey).catch(() => null))) {
    throw new AlreadySetUpError(`${home.dir} already holds an Airlock device (use another --home)`)
  }
}

/** Reads the device's private keys, refusing a key file other users could read. */
export async function loadDevice(home: HomePaths): Promise<DeviceSecrets> {
  const st = await stat(home.deviceKey).catch(() => null)
  if (!st) throw new CliError('CONFIG', `${home.deviceKey} is missing`)
  if ((st.mode & 0o077) !== 0) {
    throw new CliError(
      'CONFIG',
      `${home.deviceKey} is readable by other users; run: chmod 600 ${home.deviceKey}`,
    )
  }
  return parseDeviceSecrets(await readFile(home.deviceKey, 'utf8'))
}

export async function saveDevice(home: HomePaths, device: DeviceSecrets): Promise<void> {
  await writeFileAtomic(home.deviceKey, serializeDeviceSecrets(device), 0o600)
}

/** Writes a file whole or not at all: temp file with `mode`, fsync, rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, path)
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}

/** A JSON file checked against `schema`; null if it does not exist. Throws `CONFIG` if invalid. */
export async function readJson<T>(path: string, schema: z.ZodType<T>): Promise<T | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw e
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new CliError('CONFIG', `${path} is not valid JSON`)
  }
  const r = schema.safeParse(value)
  if (!r.success) throw new CliError('CONFIG', `${path} is malformed`)
  return r.data
}

/** The origin of a server URL given by a person; throws `USAGE` for anything but http(s). */
export function serverOrigin(url: string): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new CliError('USAGE', `not a URL: ${url}`)
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw new CliError('USAGE', 'the server URL must start with https:// (or http:// on a trusted network)')
  }
  if (u.pathname !== '/' || u.search || u.hash) {
    throw new CliError('USAGE', 'give the server as an origin, e.g. https://airlock.example:8465')
  }
  return u.origin
}

/** True for loopback hosts, where plain http is fine. */
export function isLoopback(origin: string): boolean {
  const host = new URL(origin).hostname
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host)
}
