import {
  AUTH_SIGN_CONTEXT,
  appendEntry,
  appendLogResponseSchema,
  authSignedValue,
  challengeResponseSchema,
  createAccountResponseSchema,
  createGenesis,
  type DeviceRecord,
  type DeviceSecrets,
  entryValue,
  extendVerified,
  type FetchLogPage,
  ForkError,
  fetchVerifiedLog,
  findActiveDevice,
  generateDevice,
  headAt,
  logResponseSchema,
  meResponseSchema,
  type Pin,
  parseDeviceSecrets,
  randomBytes,
  serializeDeviceSecrets,
  sessionResponseSchema,
  signCanonical,
  syncVerifiedLog,
  toBase64Url,
  type VerifiedLog,
  verifyLog,
} from '@airlock/core'
import { isApiError, WebError } from '../errors.ts'
import { Api, badResponse } from './api.ts'
import * as opfs from './opfs.ts'
import * as store from './store.ts'

/**
 * This browser as a device of one account: its keys (store.ts), the verified device log pinned in
 * IndexedDB (never lowered, never forked), and a logged-in API client.
 */

export interface AccountInfo {
  origin: string
  accountId: string
  username: string
  deviceId: string
  selfConversationId: string
}

interface StoredLog {
  accountId: string
  pin: Pin
  entries: unknown[]
}

export class Account {
  readonly api: Api
  private constructor(
    readonly info: AccountInfo,
    readonly device: DeviceSecrets,
    public log: VerifiedLog,
  ) {
    this.api = new Api(info.origin)
    this.api.relogin = () => this.login().then(() => {})
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
    const accountId = toBase64Url(randomBytes(16))
    const genesis = createGenesis(accountId, device)
    const api = new Api(origin)
    const created = await api.json('POST', '/accounts', createAccountResponseSchema, {
      body: { code, username, genesis: entryValue(genesis) },
      anonymous: true,
    })
    if (created.accountId !== accountId || created.deviceId !== device.record.id)
      throw badResponse('account answer')
    const log = verifyLog(accountId, [entryValue(genesis)])
    return Account.enroll(origin, device, accountId, { seq: log.seq, head: log.head })
  }

  /**
   * After the account's first device or another device added this one: logs in, verifies the log
   * from genesis against the pin the adding device vouched for, checks this device is active in
   * it, and saves everything (keys first, account last: the account marks the browser set up).
   */
  static async enroll(origin: string, device: DeviceSecrets, accountId: string, pin: Pin): Promise<Account> {
    await assertNoDevice()
    const api = new Api(origin)
    const session = await login(api, device)
    if (session.accountId !== accountId) throw badResponse('login answer (another account)')
    const log = await fetchVerifiedLog(logPages(api, accountId), accountId, pin)
    if (!findActiveDevice(log, device.record.id)) throw badResponse('device log (this device is not in it)')
    const me = await api.json('GET', '/accounts/me', meResponseSchema)
    if (me.accountId !== accountId || me.deviceId !== device.record.id) throw badResponse('account answer')
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
    await account.saveLog(log)
    await store.put('account', info)
    return account
  }

  private expiresAt = 0

  /**
   * Logs in. A refusal does not delete the keys: only the verified log can prove this device was
   * removed (see `sync`); a server's word alone could otherwise destroy them.
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

  /** Brings the log up to the server's head (core `syncVerifiedLog`) and pins it. */
  async sync(): Promise<VerifiedLog> {
    await this.saveLog(await syncVerifiedLog(logPages(this.api, this.info.accountId), this.log))
    if (!findActiveDevice(this.log, this.device.record.id)) {
      await forget()
      throw new WebError('DEVICE_REMOVED', 'this browser was removed from your devices; its keys are deleted')
    }
    return this.log
  }

  /** Pins `v` unless the stored log is ahead of it (another tab); a disagreement is a fork. */
  async saveLog(v: VerifiedLog): Promise<void> {
    let fork = false
    const stored = await store.update<StoredLog>('log', (old) => {
      if (old && old.accountId === v.accountId) {
        if (old.pin.seq > v.seq) return old
        if (headAt(v, old.pin.seq) !== old.pin.head) {
          fork = true
          return old
        }
      }
      return { accountId: v.accountId, pin: { seq: v.seq, head: v.head }, entries: v.entries.map(entryValue) }
    })
    if (fork) throw new ForkError()
    if (stored && stored.pin.seq > v.seq) {
      const ahead = verifyLog(v.accountId, stored.entries, stored.pin)
      if (headAt(ahead, v.seq) !== v.head) throw new ForkError()
      this.log = ahead
    } else this.log = v
  }

  /** Signs and publishes an `add` or `remove` entry; the server must report exactly the new head. */
  async append(op: 'add' | 'remove', record: DeviceRecord): Promise<VerifiedLog> {
    await this.sync()
    const entry = appendEntry(this.log, this.device, op, record)
    const next = extendVerified(this.log, [entryValue(entry)])
    const res = await this.api.json('POST', `/accounts/${next.accountId}/log`, appendLogResponseSchema, {
      body: { entry: entryValue(entry) },
    })
    if (res.head.seq !== next.seq || res.head.hash !== next.head) throw badResponse('device-log head')
    await this.saveLog(next)
    return next
  }
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
    throw new WebError(
      'USAGE',
      'this browser already holds a device’s keys; choose “Forget this browser” first',
    )
}

async function login(api: Api, device: DeviceSecrets) {
  const deviceId = device.record.id
  const { challenge } = await api.json('POST', '/auth/challenge', challengeResponseSchema, {
    body: { deviceId },
    anonymous: true,
  })
  const origin = api.origin
  const signature = signCanonicalAuth(device, challenge, origin)
  try {
    const s = await api.json('POST', '/auth/session', sessionResponseSchema, {
      body: { deviceId, challenge, origin, signature },
      anonymous: true,
    })
    if (s.deviceId !== deviceId) throw badResponse('login answer (another device)')
    api.token = s.token
    return s
  } catch (e) {
    if (isApiError(e, 'BAD_SIGNATURE'))
      throw new WebError(
        'SERVER_REFUSED',
        'The server refuses this browser’s login. If you removed this device on another device, choose “Forget this browser”; if not, the server may be misbehaving. The keys are kept.',
      )
    throw e
  }
}

function signCanonicalAuth(device: DeviceSecrets, challenge: string, origin: string): string {
  return signCanonical(
    device,
    AUTH_SIGN_CONTEXT,
    authSignedValue({ challenge, deviceId: device.record.id, origin }),
  )
}

async function loadLog(accountId: string): Promise<VerifiedLog> {
  const stored = await store.get<StoredLog>('log')
  if (!stored || stored.accountId !== accountId)
    throw new WebError('NOT_SET_UP', 'the pinned device log is missing')
  return verifyLog(accountId, stored.entries, stored.pin)
}

function logPages(api: Api, accountId: string): FetchLogPage {
  return (since) => api.json('GET', `/accounts/${accountId}/log`, logResponseSchema, { query: { since } })
}
