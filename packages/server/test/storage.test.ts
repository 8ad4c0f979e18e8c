import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { verifyAccessLog } from '@airlock/core'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { removeDir, tempDir, until } from '../../../test-support/harness.js'
import { auditAccessLog, toWireAccess } from '../src/domain/access-log.js'
import { LocalBlobStore } from '../src/storage/blob/local-blob-store.js'
import { S3BlobStore } from '../src/storage/blob/s3-blob-store.js'
import { PgUploadLock } from '../src/storage/blob/upload-lock.js'
import { openPostgresStore } from '../src/storage/metadata/postgres.js'
import { openSqliteStore } from '../src/storage/metadata/sqlite.js'
import { PgPushHub } from '../src/storage/push/pg-push-hub.js'
import { type HubMessage, InProcessPushHub } from '../src/storage/push/push-hub.js'
import { blobStoreConformance } from './blob-store.conformance.js'
import { access } from './metadata-store.access-log.js'
import { metadataStoreConformance } from './metadata-store.conformance.js'
import { pushHubConformance } from './push-hub.conformance.js'
import { freshSchema, IN_CI, PG_BASE, pgUnavailable, skipPg, startS3Server } from './services.js'

// Every storage adapter against its interface's conformance suite.

metadataStoreConformance('SQLite in memory', () => openSqliteStore(':memory:'))

metadataStoreConformance('SQLite file (WAL)', async () => {
  const dir = await tempDir()
  const store = await openSqliteStore(join(dir, 'airlock.db'))
  const close = store.close.bind(store)
  store.close = async () => {
    await close()
    await removeDir(dir)
  }
  return store
})

describe.runIf(IN_CI)('PostgreSQL under CI', () => {
  it(`is reachable at ${PG_BASE} (CI never skips the PostgreSQL suites)`, () => {
    expect(pgUnavailable).toBeNull()
  })
})

describe.skipIf(skipPg)('PostgreSQL', () => {
  metadataStoreConformance('PostgreSQL (a schema per test)', async () => {
    const schema = await freshSchema()
    const store = await openPostgresStore({ url: schema.url })
    const close = store.close.bind(store)
    store.close = async () => {
      await close()
      await schema.drop()
    }
    return store
  })

  pushHubConformance('PostgreSQL LISTEN/NOTIFY (a schema per test)', async () => {
    const schema = await freshSchema()
    const hub = await PgPushHub.open({ url: schema.url })
    const close = hub.close.bind(hub)
    hub.close = async () => {
      await close()
      await schema.drop()
    }
    return hub
  })

  it('relays push between two hubs on one schema, and not to another schema', async () => {
    const [one, other] = [await freshSchema(), await freshSchema()]
    const a = await PgPushHub.open({ url: one.url })
    const b = await PgPushHub.open({ url: one.url })
    const c = await PgPushHub.open({ url: other.url })
    try {
      const got: { hub: string; m: HubMessage }[] = []
      b.subscribe({ accountId: 'A', deviceId: 'a1' }, (m) => got.push({ hub: 'b', m }))
      c.subscribe({ accountId: 'A', deviceId: 'a1' }, (m) => got.push({ hub: 'c', m }))
      for (let seq = 1; seq <= 20; seq++) await a.publish(['A'], { type: 'item', conversationId: 'c', seq })
      await a.revoke(['a1'])
      await until(() => got.length >= 21, 5000, 'notifications')
      await new Promise((r) => setTimeout(r, 100))
      expect(got.map((g) => g.hub).every((h) => h === 'b')).toBe(true)
      expect(got.map((g) => (g.m.type === 'item' ? g.m.seq : g.m.type))).toEqual([
        ...Array.from({ length: 20 }, (_, i) => i + 1),
        'revoked',
      ])
    } finally {
      for (const h of [a, b, c]) await h.close()
      await one.drop()
      await other.drop()
    }
  })

  it('after losing its LISTEN connection, tells subscribers to resync and relays again', async () => {
    const schema = await freshSchema()
    const hub = await PgPushHub.open({ url: schema.url })
    const admin = new pg.Client({ connectionString: PG_BASE })
    await admin.connect()
    try {
      const got: HubMessage[] = []
      hub.subscribe({ accountId: 'A', deviceId: 'a1' }, (m) => got.push(m))
      const channel = `airlock_push_${createHash('sha256').update(schema.schema).digest('hex').slice(0, 24)}`
      const r = await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where query = $1`, [
        `LISTEN ${channel}`,
      ])
      expect(r.rowCount).toBe(1)
      await until(() => got.some((m) => m.type === 'resync'), 10_000, 'resync')
      await hub.publish(['A'], { type: 'item', conversationId: 'c', seq: 1 })
      await until(() => got.some((m) => m.type === 'item'), 5000, 'relay after reconnect')
    } finally {
      await admin.end()
      await hub.close()
      await schema.drop()
    }
  })

  it('keeps one access chain when two store instances on one database append at once', async () => {
    const schema = await freshSchema()
    const a = await openPostgresStore({ url: schema.url })
    const b = await openPostgresStore({ url: schema.url })
    try {
      const items = ['item-a', 'item-b']
      const all = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? a : b).accessLog.appendAccess(access(items[Math.floor(i / 2) % 2]!, { at: i })),
        ),
      )
      expect(new Set(all.map((r) => r.seq)).size).toBe(40)
      for (const itemId of items) {
        const rows = await a.accessLog.listAccesses(itemId, 0, 100)
        expect(rows.map((r) => r.itemSeq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
        verifyAccessLog(itemId, rows.map(toWireAccess))
      }
      expect(await auditAccessLog(b)).toMatchObject({ ok: true, rows: 40, items: 2 })
    } finally {
      await a.close()
      await b.close()
      await schema.drop()
    }
  })

  it('lets one holder at a time take an upload lock, across connections, until released or gone', async () => {
    const schema = await freshSchema()
    const a = await PgUploadLock.open({ url: schema.url })
    const b = await PgUploadLock.open({ url: schema.url })
    try {
      const release = await a.tryAcquire('item-1')
      expect(release).not.toBeNull()
      expect(await b.tryAcquire('item-1')).toBeNull()
      const other = await b.tryAcquire('item-2')
      expect(other).not.toBeNull()
      await release!()
      const again = await b.tryAcquire('item-1')
      expect(again).not.toBeNull()
      // A holder whose connection goes away (a killed instance) releases everything it held.
      await b.close()
      expect(await a.tryAcquire('item-1')).not.toBeNull()
      expect(await a.tryAcquire('item-2')).not.toBeNull()
    } finally {
      await a.close()
      await b.close()
      await schema.drop()
    }
  })
})

blobStoreConformance('local directory', async () => {
  const dir = await tempDir()
  return {
    store: await LocalBlobStore.open(dir),
    reopen: () => LocalBlobStore.open(dir),
    cleanup: () => removeDir(dir),
  }
})

const s3server = await startS3Server()
afterAll(() => s3server.close())

for (const partSize of [undefined, 64 * 1024]) {
  // Small parts push the suite's blobs through multipart parts, tails and resumes across them.
  blobStoreConformance(`S3 (s3rver, a bucket per test, parts of ${partSize ?? 'default size'})`, async () => {
    const settings = { ...(await s3server.bucket()), ...(partSize ? { partSize } : {}) }
    const opened = [await S3BlobStore.open(settings)]
    return {
      store: opened[0]!,
      reopen: async () => {
        opened.push(await S3BlobStore.open(settings))
        return opened.at(-1)!
      },
      cleanup: async () => {
        for (const s of opened) await s.close()
      },
    }
  })
}

pushHubConformance('in-process', async () => new InProcessPushHub())
