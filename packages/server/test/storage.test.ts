import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LocalBlobStore } from '../src/local-blob-store.js'
import { openPostgresStore } from '../src/pg-store.js'
import { InProcessPushHub } from '../src/push.js'
import { S3BlobStore } from '../src/s3-blob-store.js'
import { openSqliteStore } from '../src/sqlite-store.js'
import { blobStoreConformance } from './blob-store.conformance.js'
import { removeDir, tempDir } from './harness.js'
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
