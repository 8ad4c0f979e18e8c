import type { Readable } from 'node:stream'
import type pg from 'pg'
import { ConflictError, ServerError } from '../../errors.js'
import { currentSchema, type PgSettings, pgClient } from '../pg.js'
import type { BlobStore } from './blob-store.js'

/**
 * One writer per upload across every server instance. Blob stores already refuse a second
 * concurrent append within a process; with several instances the second writer could be another
 * process, so appends also take a PostgreSQL session advisory lock keyed by schema and blob id.
 * The lock lives on one dedicated connection per instance: if the instance dies (even by
 * `kill -9`) its connection closes and PostgreSQL releases the lock at once, so the upload can be
 * resumed through another instance.
 */
export class PgUploadLock {
  private client: pg.Client | null = null
  private connecting: Promise<pg.Client> | null = null

  private constructor(
    private readonly settings: PgSettings,
    private readonly schema: string,
  ) {}

  static async open(settings: PgSettings): Promise<PgUploadLock> {
    const client = await pgClient(settings)
    const lock = new PgUploadLock(settings, await currentSchema(client))
    lock.adopt(client)
    return lock
  }

  /** Takes the lock for `id`, or returns null if another session holds it. */
  async tryAcquire(id: string): Promise<(() => Promise<void>) | null> {
    const client = await this.connection()
    const key = `${this.schema}:${id}`
    const r = await client.query<{ ok: boolean }>(`select pg_try_advisory_lock(${KEY}) as ok`, [key])
    if (!r.rows[0]?.ok) return null
    return async () => {
      // A lost connection has released the lock already.
      if (this.client === client)
        await client.query(`select pg_advisory_unlock(${KEY})`, [key]).catch(() => {})
    }
  }

  async close(): Promise<void> {
    const c = this.client
    this.client = null
    await c?.end().catch(() => {})
  }

  private adopt(client: pg.Client): void {
    this.client = client
    const drop = () => {
      if (this.client === client) this.client = null
    }
    client.on('error', drop)
    client.on('end', drop)
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client
    this.connecting ??= pgClient(this.settings).then(
      (c) => {
        this.connecting = null
        this.adopt(c)
        return c
      },
      (e: unknown) => {
        this.connecting = null
        throw new ServerError('UNAVAILABLE', 'the upload lock database is not reachable', {}, e)
      },
    )
    return this.connecting
  }
}

/** A 64-bit advisory lock key from the first 16 hex digits of the text's MD5. */
const KEY = `('x' || substr(md5($1), 1, 16))::bit(64)::bigint`

/** `blobs` with every append taken under `lock` (a held lock answers `CONFLICT`: tus 409, retry). */
export function withUploadLock(blobs: BlobStore, lock: PgUploadLock): BlobStore {
  return {
    create: (id, length) => blobs.create(id, length),
    status: (id) => blobs.status(id),
    commit: (id) => blobs.commit(id),
    read: (id, range) => blobs.read(id, range),
    ...(blobs.follow ? { follow: blobs.follow.bind(blobs) } : {}),
    delete: (id) => blobs.delete(id),
    list: () => blobs.list(),
    async append(
      id: string,
      offset: number,
      data: Readable | AsyncIterable<Uint8Array>,
      signal?: AbortSignal,
    ) {
      const release = await lock.tryAcquire(id)
      if (!release) throw new ConflictError('an upload to this blob is in progress on another instance')
      try {
        return await blobs.append(id, offset, data, signal)
      } finally {
        await release()
      }
    },
  }
}
