import {
  createAccount,
  type DeviceRecord,
  DeviceRemovedError,
  type DeviceSecrets,
  enrollDevice,
  generateDevice,
  InvalidInputError,
  isAirlockError,
  type LogPinStore,
  loadStoredLog,
  login,
  NotSetUpError,
  OwnLog,
  type Pin,
  parseDeviceSecrets,
  type StoredLog,
  serializeDeviceSecrets,
  type VerifiedLog,
} from '@airlock/core'
import { Api } from './api.ts'
import * as opfs from './opfs.ts'
import * as store from './store.ts'

/**
 * This browser as a device of one account: its keys (store.ts), the verified device log pinned in
 * IndexedDB through core's `OwnLog` (never lowered, never forked), and a logged-in API client.
 */

export interface AccountInfo {
  origin: string
  accountId: string
  username: string
  deviceId: string
  selfConversationId: string
}

export class Account {
  readonly api: Api
  readonly #own: OwnLog
  private constructor(
    readonly info: AccountInfo,
    readonly device: DeviceSecrets,
    log: VerifiedLog,
  ) {
    this.api = new Api(info.origin)
    this.api.relogin = () => this.login().then(() => {})
    this.#own = new OwnLog(this.api, logStore, device, log)
  }

  get log(): VerifiedLog {
    return this.#own.current
  }

  /** The device set up in this browser, or null. Re-verifies the pinned log. */
  static async load(origin: string): Promise<Account | null> {
    const info = await store.get<AccountInfo>('account')
    const box = await store.get<{ iv: Uint8Array; data: ArrayBuffer }>('device')
    if (!info || !box || info.origin !== origin) return null
    const device = await parseDeviceSecrets(await store.unseal(box))
    return new Account(info, device, await loadLog(info.accountId))
  }

  /** A new account with this browser as its first device (setup code or invite code). */
  static async create(origin: string, code: string, username: string, deviceName: string): Promise<Account> {
    await assertNoDevice()
    const device = await generateDevice({ name: deviceName, kind: 'web' })
    const { log } = await createAccount(new Api(origin), device, { code, username })
    return Account.enroll(origin, device, log.accountId, { seq: log.seq, head: log.head })
  }

  /**
   * After the account's first device or another device added this one: core's `enrollDevice`
   * (login, the log verified from genesis against the pin the adding device vouched for, this
   * device active in it), then everything is saved (keys first, account last: the account marks
   * the browser set up).
   */
  static async enroll(origin: string, device: DeviceSecrets, accountId: string, pin: Pin): Promise<Account> {
    await assertNoDevice()
    const api = new Api(origin)
    const { log, me } = await enrollDevice(api, device, accountId, pin)
    const info: AccountInfo = {
      origin,
      accountId,
      username: me.username,
      deviceId: device.record.id,
      selfConversationId: me.selfConversationId,
    }
    await store.put('device', await store.seal(serializeDeviceSecrets(device)))
    const account = new Account(info, device, log)
    account.api.token = api.token
    await account.#own.adopt(log)
    await store.put('account', info)
    return account
  }

  private expiresAt = 0

  /**
   * Logs in (core's `login`). A refusal does not delete the keys: only the verified log can prove
   * this device was removed (see `sync`); a server's word alone could otherwise destroy them.
   */
  async login(): Promise<string> {
    const s = await login(this.api, this.device)
    this.expiresAt = s.expiresAt
    return s.token
  }

  /** A session token valid for at least two more minutes (for the page's uploads and the push socket). */
  async freshToken(): Promise<string> {
    if (this.api.token && this.expiresAt - Date.now() > 120_000) return this.api.token
    return this.login()
  }

  /**
   * Brings the log up to the server's head and pins it (core's `OwnLog`); when the verified log
   * shows this browser removed, its keys and files are deleted.
   */
  async sync(): Promise<VerifiedLog> {
    try {
      return await this.#own.sync()
    } catch (e) {
      if (isAirlockError(e, 'DEVICE_REMOVED')) {
        await forget()
        throw new DeviceRemovedError('this browser was removed from your devices; its keys are deleted')
      }
      throw e
    }
  }

  /** My own verified log, synced first when it ends before `atLeast` (always, without one). */
  ownLog(atLeast?: Pin): Promise<VerifiedLog> {
    return atLeast ? this.#own.atLeast(atLeast) : this.sync()
  }

  /** Signs and publishes an `add` or `remove` entry (core's `OwnLog.append`). */
  append(op: 'add' | 'remove', record: DeviceRecord): Promise<VerifiedLog> {
    return this.#own.append(op, record)
  }
}

/** The pinned log in IndexedDB, updated in one transaction (another tab may sync at the same time). */
const logStore: LogPinStore = {
  update: async (decide) => {
    await store.update<StoredLog>('log', (old) => decide(old ?? null) ?? old)
  },
}

/** A new device's keys, before it belongs to an account (linking). */
export function newDevice(name: string): Promise<DeviceSecrets> {
  return generateDevice({ name, kind: 'web' })
}

/** Deletes this device's keys, state and every file in the app's private storage. */
export async function forget(): Promise<void> {
  await store.clearAll()
  await opfs.removeAll('')
}

/** Keys are never overwritten: an existing device must be forgotten first, on purpose. */
async function assertNoDevice(): Promise<void> {
  if (await store.get('device'))
    throw new InvalidInputError(
      'this browser already holds a device’s keys; choose “Forget this browser” first',
    )
}

async function loadLog(accountId: string): Promise<VerifiedLog> {
  const log = loadStoredLog((await store.get<StoredLog>('log')) ?? null, accountId)
  if (!log) throw new NotSetUpError('the pinned device log is missing or does not verify')
  return log
}
