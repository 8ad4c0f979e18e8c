import { join } from 'node:path'
import type { ServerConfig } from '../config.js'
import type { BlobStore } from './blob/blob-store.js'
import { LocalBlobStore } from './blob/local-blob-store.js'
import type { MetadataStore } from './metadata/metadata-store.js'
import { openSqliteStore } from './metadata/sqlite.js'
import { InProcessPushHub, type PushHub } from './push/push-hub.js'

/** The three stores a server runs on, chosen by its settings. */
export interface Storage {
  store: MetadataStore
  blobs: BlobStore
  hub: PushHub
  /** True when other instances may share these stores (PostgreSQL). */
  shared: boolean
  close(): Promise<void>
}

/**
 * Opens the stores the configuration names. The embedded default is SQLite at
 * `<dataDir>/airlock.db`, blobs under `<dataDir>/blobs` and an in-process push hub. A database
 * URL selects PostgreSQL for metadata, push (LISTEN/NOTIFY) and upload locks (advisory locks), so
 * any number of instances can share it; S3 settings select an S3-compatible bucket for blobs.
 * The PostgreSQL and S3 adapters are imported only when chosen: loading `pg` and the AWS SDK
 * took about half of the embedded default's start-up time.
 */
export async function openStorage(config: ServerConfig): Promise<Storage> {
  const closers: (() => Promise<void>)[] = []
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch(() => {})
  }
  try {
    const pg = config.databaseUrl ? { url: config.databaseUrl } : null
    const store = pg
      ? await (await import('./metadata/postgres.js')).openPostgresStore(pg)
      : await openSqliteStore(join(config.dataDir, 'airlock.db'))
    closers.push(() => store.close())
    let blobs: BlobStore
    if (config.s3) {
      const { S3BlobStore } = await import('./blob/s3-blob-store.js')
      const s3 = await S3BlobStore.open(config.s3)
      closers.push(() => s3.close())
      blobs = s3
    } else {
      blobs = await LocalBlobStore.open(join(config.dataDir, 'blobs'))
    }
    let hub: PushHub
    if (pg) {
      const [{ PgPushHub }, { PgUploadLock, withUploadLock }] = await Promise.all([
        import('./push/pg-push-hub.js'),
        import('./blob/upload-lock.js'),
      ])
      const pgHub = await PgPushHub.open(pg)
      closers.push(() => pgHub.close())
      hub = pgHub
      const lock = await PgUploadLock.open(pg)
      closers.push(() => lock.close())
      blobs = withUploadLock(blobs, lock)
    } else {
      hub = new InProcessPushHub()
      closers.push(() => hub.close())
    }
    return { store, blobs, hub, shared: pg !== null, close: closeAll }
  } catch (e) {
    await closeAll()
    throw e
  }
}
