import { join } from 'node:path'
import { LocalBlobStore } from '../src/local-blob-store.js'
import { InProcessPushHub } from '../src/push.js'
import { openSqliteStore } from '../src/sqlite-store.js'
import { blobStoreConformance } from './blob-store.conformance.js'
import { removeDir, tempDir } from './harness.js'
import { metadataStoreConformance } from './metadata-store.conformance.js'
import { pushHubConformance } from './push-hub.conformance.js'

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

blobStoreConformance('local directory', async () => {
  const dir = await tempDir()
  return {
    store: await LocalBlobStore.open(dir),
    reopen: () => LocalBlobStore.open(dir),
    cleanup: () => removeDir(dir),
  }
})

pushHubConformance('in-process', async () => new InProcessPushHub())
