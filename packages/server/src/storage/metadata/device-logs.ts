import type { Selectable } from 'kysely'
import { ConflictError, NotFoundError, ServerError } from '../../errors.js'
import type { SqlDialect } from './dialect.js'
import type { Db } from './rows.js'
import type { Database } from './schema.js'

/**
 * Each account's device log, stored as given (entries are signed JSON the server checked), and
 * the devices it derives: appending is a compare-and-swap on the log's head.
 */
export interface DeviceLogStore {
  getLogHead(accountId: string): Promise<LogHead | null>
  /** Entries with `seq > since`, ascending, at most `limit`. */
  getLog(accountId: string, since: number, limit: number): Promise<LogEntryRecord[]>
  /**
   * Appends `entry` if it extends the head (`entry.seq === head.seq + 1` and `entry.prev ===
   * head.hash`), else throws `STALE_HEAD`; applies `change` to the devices (`CONFLICT` for an
   * enrolled device added again, or a device removed that is not active). Removing a device
   * deletes its sessions and challenges in the same transaction.
   */
  appendLogEntry(accountId: string, entry: NewLogEntry, change: DeviceChange): Promise<void>
  getDevice(deviceId: string): Promise<DeviceRecord | null>
  listDevices(accountId: string): Promise<DeviceRecord[]>
}

export interface LogHead {
  seq: number
  hash: string
}

export interface NewLogEntry {
  seq: number
  /** The previous entry's hash, or null for the genesis entry. */
  prev: string | null
  hash: string
  /** The entry as received, serialized JSON. */
  entry: string
  createdAt: number
}

export interface LogEntryRecord extends NewLogEntry {
  accountId: string
}

export type DeviceChange =
  | { op: 'add'; deviceId: string; signKey: string }
  | { op: 'remove'; deviceId: string }

export interface DeviceRecord {
  id: string
  accountId: string
  signKey: string
  active: boolean
  addedSeq: number
  removedSeq: number | null
}

export class SqlDeviceLogStore implements DeviceLogStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: SqlDialect,
  ) {}

  async getLogHead(accountId: string): Promise<LogHead | null> {
    return logHead(this.db, accountId)
  }

  async getLog(accountId: string, since: number, limit: number): Promise<LogEntryRecord[]> {
    const rows = await this.db
      .selectFrom('device_log')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('seq', '>', since)
      .orderBy('seq')
      .limit(limit)
      .execute()
    return rows.map((r) => ({
      accountId: r.account_id,
      seq: Number(r.seq),
      prev: r.prev,
      hash: r.hash,
      entry: r.entry,
      createdAt: Number(r.created_at),
    }))
  }

  async appendLogEntry(accountId: string, entry: NewLogEntry, change: DeviceChange): Promise<void> {
    try {
      await this.append(accountId, entry, change)
    } catch (e) {
      // Another writer appended at this seq, or enrolled this device, first.
      if (this.dialect.uniqueViolation(e, 'device_log')) {
        throw new ServerError('STALE_HEAD', 'the entry does not extend the current head of the log')
      }
      if (this.dialect.uniqueViolation(e)) throw new ConflictError('this device is already enrolled')
      throw e
    }
  }

  private async append(accountId: string, entry: NewLogEntry, change: DeviceChange): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.dialect.lockRow(trx, 'accounts', accountId)
      const head = await logHead(trx, accountId)
      if (!head) throw new NotFoundError('no such account')
      if (entry.seq !== head.seq + 1 || entry.prev !== head.hash) {
        throw new ServerError('STALE_HEAD', 'the entry does not extend the current head of the log')
      }
      const device = await trx
        .selectFrom('devices')
        .selectAll()
        .where('id', '=', change.deviceId)
        .executeTakeFirst()
      if (change.op === 'add') {
        if (device) throw new ConflictError('this device is already enrolled')
        await trx
          .insertInto('devices')
          .values({
            id: change.deviceId,
            account_id: accountId,
            sign_key: change.signKey,
            active: 1,
            added_seq: entry.seq,
            removed_seq: null,
          })
          .execute()
      } else {
        if (!device || device.account_id !== accountId || device.active !== 1) {
          throw new ConflictError('this device is not an active device of the account')
        }
        await trx
          .updateTable('devices')
          .set({ active: 0, removed_seq: entry.seq })
          .where('id', '=', change.deviceId)
          .execute()
        await trx.deleteFrom('sessions').where('device_id', '=', change.deviceId).execute()
        await trx.deleteFrom('challenges').where('device_id', '=', change.deviceId).execute()
      }
      await trx.insertInto('device_log').values(logRow(accountId, entry)).execute()
    })
  }

  async getDevice(deviceId: string): Promise<DeviceRecord | null> {
    const r = await this.db.selectFrom('devices').selectAll().where('id', '=', deviceId).executeTakeFirst()
    return r ? deviceRecord(r) : null
  }

  async listDevices(accountId: string): Promise<DeviceRecord[]> {
    const rows = await this.db
      .selectFrom('devices')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('added_seq')
      .execute()
    return rows.map(deviceRecord)
  }
}

/** A device log row (also the genesis entry `accounts.ts` writes). */
export function logRow(accountId: string, e: NewLogEntry) {
  return {
    account_id: accountId,
    seq: e.seq,
    prev: e.prev,
    hash: e.hash,
    entry: e.entry,
    created_at: e.createdAt,
  }
}

async function logHead(db: Db, accountId: string): Promise<LogHead | null> {
  const r = await db
    .selectFrom('device_log')
    .select(['seq', 'hash'])
    .where('account_id', '=', accountId)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst()
  return r ? { seq: Number(r.seq), hash: r.hash } : null
}

function deviceRecord(r: Selectable<Database['devices']>): DeviceRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    signKey: r.sign_key,
    active: r.active === 1,
    addedSeq: Number(r.added_seq),
    removedSeq: r.removed_seq === null ? null : Number(r.removed_seq),
  }
}
