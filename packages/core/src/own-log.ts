import {
  type DeviceLogEntry,
  entryValue,
  findActiveDevice,
  headAt,
  type Pin,
  type VerifiedLog,
  verifyLog,
} from './device-log.js'
import { prepareLogEntry, publishLogEntry } from './enrollment.js'
import { DeviceRemovedError, ForkError } from './errors.js'
import type { DeviceRecord, DeviceSecrets } from './identity.js'
import { syncVerifiedLog } from './log-sync.js'
import { logPagesOver } from './session.js'
import type { Transport } from './transport.js'

/**
 * This device's own account log as this device verified it, for every client: synced from the
 * server through core's `syncVerifiedLog` (rollback, fork and junk refused), pinned through a
 * {@link LogPinStore} the client brings (a file for the CLI, IndexedDB for the browser), never
 * lowered, and the one place that decides this device was removed.
 */

/** A pinned log as a client stores it: the pin and the entries that verify up to it. */
export interface StoredLog {
  accountId: string
  pin: Pin
  entries: unknown[]
}

/**
 * Where a client keeps its pinned log. `update` runs `decide` on what is stored now and stores
 * what it returns, atomically against every other process or tab of this device (a lock file,
 * an IndexedDB transaction); `decide` may throw, and then nothing is stored.
 */
export interface LogPinStore {
  update(decide: (stored: StoredLog | null) => StoredLog | null): Promise<void>
}

/**
 * What to pin when `v` was verified and `stored` is pinned already: never lower the pin. Returns
 * `v` (to be stored) when it is at or ahead of the stored pin and extends it, the stored log
 * (re-verified) when it is ahead and `v` is its prefix (another process synced further), and
 * throws `ForkError` when they disagree at a position both have.
 */
export function choosePinned(stored: StoredLog | null, v: VerifiedLog): VerifiedLog {
  if (!stored || stored.accountId !== v.accountId) return v
  if (stored.pin.seq > v.seq) {
    const ahead = verifyLog(v.accountId, stored.entries, stored.pin)
    if (headAt(ahead, v.seq) !== v.head) throw new ForkError()
    return ahead
  }
  if (headAt(v, stored.pin.seq) !== stored.pin.head) throw new ForkError()
  return v
}

/** `v` as a client stores it. */
export function storedLogOf(v: VerifiedLog): StoredLog {
  return { accountId: v.accountId, pin: { seq: v.seq, head: v.head }, entries: v.entries.map(entryValue) }
}

/**
 * Re-verifies a stored log against its own pin; `null` when it is missing, belongs to another
 * account or does not verify (the client decides how to say its storage is damaged).
 */
export function loadStoredLog(stored: StoredLog | null, accountId: string): VerifiedLog | null {
  if (!stored || stored.accountId !== accountId) return null
  try {
    const v = verifyLog(accountId, stored.entries, stored.pin)
    return v.seq === stored.pin.seq ? v : null
  } catch {
    return null
  }
}

/** One device added to or removed from my account since the last sync, for the client to show. */
export interface LogChange {
  op: 'add' | 'remove'
  device: DeviceRecord
  /** The name of the device that signed the change (its id when the log does not name it). */
  signerName: string
}

/** The adds and removals `after` has beyond `before`. */
export function logChanges(before: VerifiedLog, after: VerifiedLog): LogChange[] {
  const names = new Map<string, string>()
  for (const e of after.entries) names.set(e.device.id, e.device.name)
  return after.entries.slice(before.entries.length).map((e: DeviceLogEntry) => ({
    op: e.op === 'remove' ? 'remove' : 'add',
    device: e.device,
    signerName: names.get(e.signer) ?? e.signer,
  }))
}

/** The name of a device in `log` (removed ones included), or undefined. */
export function deviceNameIn(log: VerifiedLog, deviceId: string): string | undefined {
  for (let i = log.entries.length - 1; i >= 0; i--) {
    const e = log.entries[i]!
    if (e.device.id === deviceId) return e.device.name
  }
  return undefined
}

export class OwnLog {
  #log: VerifiedLog
  #syncing: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly transport: Transport,
    private readonly store: LogPinStore,
    private readonly device: DeviceSecrets,
    log: VerifiedLog,
    /** Told of every device added or removed, in order, once per change. */
    private readonly onChange: (changes: LogChange[]) => void = () => {},
  ) {
    this.#log = log
  }

  get current(): VerifiedLog {
    return this.#log
  }

  /** The log, synced first when it ends before `atLeast` (for core's `Directory` and `openManifest`). */
  async atLeast(atLeast?: { seq: number }): Promise<VerifiedLog> {
    if (atLeast && this.#log.seq < atLeast.seq) await this.sync()
    return this.#log
  }

  /**
   * Extends the pinned log to the server's head and pins it. Throws `DeviceRemovedError` when the
   * verified log shows this device removed, and the errors of `syncVerifiedLog`.
   */
  sync(): Promise<VerifiedLog> {
    // One sync at a time: two overlapping syncs answered out of order must not let the older
    // answer replace the newer one (a rollback the pin would then accept).
    const run = this.#syncing.then(() => this.#syncOnce())
    this.#syncing = run.catch(() => {})
    return run
  }

  async #syncOnce(): Promise<VerifiedLog> {
    const fetched = await syncVerifiedLog(logPagesOver(this.transport, this.#log.accountId), this.#log)
    if (fetched.seq > this.#log.seq) await this.adopt(fetched)
    if (!findActiveDevice(this.#log, this.device.record.id)) throw new DeviceRemovedError()
    return this.#log
  }

  /** Pins a log verified here (after a sync, or after appending an entry), never lowering the pin. */
  async adopt(v: VerifiedLog): Promise<void> {
    let chosen = v
    await this.store.update((stored) => {
      chosen = choosePinned(stored, v)
      const same = stored?.accountId === v.accountId && stored.pin.seq === v.seq
      return chosen === v && !same ? storedLogOf(v) : null
    })
    if (chosen.seq <= this.#log.seq) return
    const before = this.#log
    this.#log = chosen
    const changes = logChanges(before, chosen)
    if (changes.length > 0) this.onChange(changes)
  }

  /**
   * Signs and publishes an `add` or `remove` entry from the synced log; the server must report
   * exactly the new head. Returns the new log, pinned.
   */
  async append(op: 'add' | 'remove', record: DeviceRecord): Promise<VerifiedLog> {
    await this.sync()
    const next = await publishLogEntry(this.transport, prepareLogEntry(this.#log, this.device, op, record))
    await this.adopt(next)
    return this.#log
  }
}
