import {
  BadResponseError,
  type Conversation,
  type ConversationClient,
  type DeviceSecrets,
  Directory,
  deviceNameIn,
  directoryServerOver,
  getConversation,
  type ItemReader,
  login,
  OwnLog,
  type ResolveLog,
  type SessionResponse,
  selfConversation,
  type VerifiedLog,
} from '@airlock/core'
import { nodeAead } from '@airlock/core/node'
import { ApiClient } from './client.js'
import { type AccountConfig, type HomePaths, loadConfig, loadDevice } from './config.js'
import { CliError } from './errors.js'
import { loadLog, logChangeLine, logFileStore } from './log-file.js'
import type { Output } from './output.js'
import { PeersFile } from './peers.js'

/**
 * A set-up device talking to its server: config, keys, a logged-in client and the verified log.
 * Core decides (login, log sync and pinning, the directory); this is the CLI's wiring of its
 * ports: `node:http`, files in the home directory, and lines on stderr.
 */
export class Session implements ItemReader, ConversationClient {
  readonly home: HomePaths
  readonly config: AccountConfig
  readonly device: DeviceSecrets
  readonly client: ApiClient
  readonly out: Output
  /** Colleagues and groups, pinned in `peers.json` and verified by core. */
  readonly directory: Directory
  readonly aead = nodeAead
  readonly #own: OwnLog
  #expiresAt = 0

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
    this.out = out
    this.client = new ApiClient(config.server)
    this.client.relogin = async () => {
      await this.login()
    }
    this.#own = new OwnLog(this.client, logFileStore(home), device, log, (changes) => {
      for (const c of changes) out.warn(logChangeLine(c))
    })
    this.directory = new Directory(new PeersFile(home), directoryServerOver(this.client), {
      accountId: config.accountId,
      log: (atLeast) => this.#own.atLeast(atLeast),
    })
  }

  get accountId(): string {
    return this.config.accountId
  }

  get transport(): ApiClient {
    return this.client
  }

  syncedLog(): Promise<VerifiedLog> {
    return this.syncLog()
  }

  readonly #conversations = new Map<string, Promise<Conversation>>()

  /** A conversation as the server describes it (my own one without asking), once per session. */
  conversation(cid: string): Promise<Conversation> {
    if (cid === this.config.selfConversationId)
      return Promise.resolve(selfConversation(this.config.accountId, cid))
    let c = this.#conversations.get(cid)
    if (!c) {
      c = getConversation(this.client, this.config.accountId, cid)
      c.catch(() => this.#conversations.delete(cid))
      this.#conversations.set(cid, c)
    }
    return c
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
    return this.#own.current
  }

  get deviceId(): string {
    return this.device.record.id
  }

  /** Logs in (again) with core's `login`; the token lives in memory only. */
  async login(): Promise<SessionResponse> {
    const s = await login(this.client, this.device)
    if (s.accountId !== this.config.accountId) throw new BadResponseError('login answer (another account)')
    this.#expiresAt = s.expiresAt
    return s
  }

  /** Logs in again if the session ends within `marginMs`. */
  async freshToken(marginMs = 60_000): Promise<string> {
    if (Date.now() + marginMs >= this.#expiresAt) await this.login()
    return this.client.token!
  }

  /**
   * Extends the pinned log to the server's head, prints every device added or removed since the
   * last sync, and refuses to go on if this device itself was removed (core's `OwnLog`).
   */
  syncLog(): Promise<VerifiedLog> {
    return this.#own.sync()
  }

  /** Signs and publishes a device-log entry (core's `OwnLog.append`). */
  appendLog(op: 'add' | 'remove', record: DeviceSecrets['record']): Promise<VerifiedLog> {
    return this.#own.append(op, record)
  }

  /** Records a log this session extended itself (after appending an entry). */
  adoptLog(v: VerifiedLog): Promise<void> {
    return this.#own.adopt(v)
  }

  /** My own log or a colleague's pinned one, synced to the sender's position (no membership check). */
  readonly resolveLog: ResolveLog = (accountId, atLeast) => this.directory.resolveLog(accountId, atLeast)

  /** The name of a device in the verified log (removed ones included), for display. */
  deviceName(id: string): string {
    return deviceNameIn(this.log, id) ?? id
  }

  /** "username/device" for a sender: my own devices by name, a colleague's with their username. */
  async senderName(accountId: string, deviceId: string): Promise<string> {
    if (accountId === this.config.accountId) return this.deviceName(deviceId)
    const c = await this.directory.colleague(accountId).catch(() => null)
    if (!c) return `${accountId}/${deviceId}`
    return `${c.pinned.username}/${deviceNameIn(c.log, deviceId) ?? deviceId}`
  }
}
