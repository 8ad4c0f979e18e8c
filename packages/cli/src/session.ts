import {
  AUTH_SIGN_CONTEXT,
  authSignedValue,
  type Conversation,
  challengeResponseSchema,
  type DeviceSecrets,
  Directory,
  findActiveDevice,
  groupLogResponseSchema,
  logResponseSchema,
  lookupResponseSchema,
  type ResolveLog,
  type SessionResponse,
  sessionResponseSchema,
  signCanonical,
  type VerifiedLog,
} from '@airlock/core'
import { ApiClient } from './client.js'
import { type AccountConfig, type HomePaths, loadConfig, loadDevice } from './config.js'
import { getConversation, selfConversation } from './conversations.js'
import { CliError, isApiError } from './errors.js'
import type { Output } from './output.js'
import { PeersFile } from './peers.js'
import { loadLog, logChanges, saveLog, syncLog } from './sync.js'

/**
 * Logs a device in: the server's challenge, signed with the device key together with the origin
 * the device believes it talks to (so a look-alike server cannot relay the login). Throws
 * `LOGIN_FAILED` when the server refuses, e.g. because the device was removed.
 */
export async function login(client: ApiClient, device: DeviceSecrets): Promise<SessionResponse> {
  const deviceId = device.record.id
  const { challenge } = await client.json('POST', '/auth/challenge', challengeResponseSchema, {
    body: { deviceId },
    anonymous: true,
  })
  const origin = client.origin
  const signature = signCanonical(device, AUTH_SIGN_CONTEXT, authSignedValue({ challenge, deviceId, origin }))
  let s: SessionResponse
  try {
    s = await client.json('POST', '/auth/session', sessionResponseSchema, {
      body: { deviceId, challenge, origin, signature },
      anonymous: true,
    })
  } catch (e) {
    if (isApiError(e, 'BAD_SIGNATURE')) {
      throw new CliError(
        'LOGIN_FAILED',
        'the server refused this device: it is not (or no longer) an active device of an account there',
      )
    }
    if (isApiError(e, 'UNAUTHENTICATED')) {
      throw new CliError('LOGIN_FAILED', `the server refused the login: ${e.message}`)
    }
    throw e
  }
  if (s.deviceId !== deviceId) throw new CliError('BAD_RESPONSE', 'the server answered for another device')
  client.token = s.token
  return s
}

/** A set-up device talking to its server: config, keys, a logged-in client and the verified log. */
export class Session {
  readonly home: HomePaths
  readonly config: AccountConfig
  readonly device: DeviceSecrets
  readonly client: ApiClient
  readonly out: Output
  /** Colleagues and groups, pinned in `peers.json` and verified by core. */
  readonly directory: Directory
  #log: VerifiedLog
  #expiresAt = 0
  #syncing: Promise<unknown> = Promise.resolve()

  private constructor(
    home: HomePaths,
    config: AccountConfig,
    device: DeviceSecrets,
    log: VerifiedLog,
    out: Output,
  ) {
    this.home = home
    this.config = config
    this.device = device
    this.#log = log
    this.out = out
    this.client = new ApiClient(config.server)
    this.client.relogin = () => this.login()
    const client = this.client
    this.directory = new Directory(
      new PeersFile(home),
      {
        logPage: (id, since) =>
          client.json('GET', `/accounts/${encodeURIComponent(id)}/log`, logResponseSchema, {
            query: { since },
          }),
        groupLogPage: (cid, since) =>
          client.json('GET', `/conversations/${encodeURIComponent(cid)}/log`, groupLogResponseSchema, {
            query: { since },
          }),
        username: async (id) =>
          (await client.json('GET', '/accounts/lookup', lookupResponseSchema, { query: { accountId: id } }))
            .username,
      },
      { accountId: config.accountId, log: (atLeast) => this.ownLog(atLeast) },
    )
  }

  readonly #conversations = new Map<string, Promise<Conversation>>()

  /** A conversation as the server describes it (my own one without asking), once per session. */
  conversation(cid: string): Promise<Conversation> {
    if (cid === this.config.selfConversationId) return Promise.resolve(selfConversation(this))
    let c = this.#conversations.get(cid)
    if (!c) {
      c = getConversation(this, cid)
      c.catch(() => this.#conversations.delete(cid))
      this.#conversations.set(cid, c)
    }
    return c
  }

  /** My own verified log, synced when it is behind `atLeast`. */
  async ownLog(atLeast?: { seq: number }): Promise<VerifiedLog> {
    if (atLeast && this.#log.seq < atLeast.seq) await this.syncLog()
    return this.#log
  }

  /** Loads this home's device and logs it in, then syncs the device log. */
  static async open(home: HomePaths, out: Output, opts: { sync?: boolean } = {}): Promise<Session> {
    const config = await loadConfig(home)
    const device = await loadDevice(home)
    if (device.record.id !== config.deviceId)
      throw new CliError('CONFIG', `${home.deviceKey} belongs to another device`)
    const s = new Session(home, config, device, await loadLog(home, config.accountId), out)
    await s.login()
    if (opts.sync ?? true) await s.syncLog()
    return s
  }

  get log(): VerifiedLog {
    return this.#log
  }

  get deviceId(): string {
    return this.device.record.id
  }

  /** Logs in (again); the token lives in memory only. */
  async login(): Promise<void> {
    const s = await login(this.client, this.device)
    if (s.accountId !== this.config.accountId)
      throw new CliError('BAD_RESPONSE', 'the server answered for another account')
    this.#expiresAt = s.expiresAt
  }

  /** Logs in again if the session ends within `marginMs`. */
  async freshToken(marginMs = 60_000): Promise<string> {
    if (Date.now() + marginMs >= this.#expiresAt) await this.login()
    return this.client.token!
  }

  /**
   * Extends the pinned log to the server's head, prints every device added or removed since the
   * last sync, and refuses to go on if this device itself was removed.
   */
  async syncLog(): Promise<VerifiedLog> {
    // One sync at a time: two overlapping syncs answered out of order must not let the older
    // answer replace the newer one (a rollback the pin would then accept).
    const run = this.#syncing.then(() => this.#syncOnce())
    this.#syncing = run.catch(() => {})
    return run
  }

  async #syncOnce(): Promise<VerifiedLog> {
    const before = this.#log
    const fetched = await syncLog(this.client, before)
    const after = fetched.seq > before.seq ? await saveLog(this.home, fetched) : before
    if (after.seq > before.seq) {
      for (const line of logChanges(before, after)) this.out.warn(line)
      this.#log = after
    }
    if (!findActiveDevice(this.#log, this.deviceId)) {
      throw new CliError('DEVICE_REMOVED', 'this device was removed from the account')
    }
    return this.#log
  }

  /** Records a log this session extended itself (after appending an entry). */
  async adoptLog(v: VerifiedLog): Promise<void> {
    const stored = await saveLog(this.home, v)
    if (stored.seq > this.#log.seq) this.#log = stored
  }

  /** For core's `openManifest`: my own log or a colleague's pinned one, synced to the sender's position. */
  readonly resolveLog: ResolveLog = (accountId, atLeast) => this.directory.resolveLog(accountId, atLeast)

  /** The name of a device in the verified log (removed ones included), for display. */
  deviceName(id: string): string {
    return nameIn(this.#log, id) ?? id
  }

  /** "username/device" for a sender: my own devices by name, a colleague's with their username. */
  async senderName(accountId: string, deviceId: string): Promise<string> {
    if (accountId === this.config.accountId) return this.deviceName(deviceId)
    const c = await this.directory.colleague(accountId).catch(() => null)
    if (!c) return `${accountId}/${deviceId}`
    return `${c.pinned.username}/${nameIn(c.log, deviceId) ?? deviceId}`
  }
}

function nameIn(log: VerifiedLog, id: string): string | undefined {
  for (let i = log.entries.length - 1; i >= 0; i--) {
    const e = log.entries[i]!
    if (e.device.id === id) return e.device.name
  }
  return undefined
}
