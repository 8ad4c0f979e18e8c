import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { removeDir, tempDir } from '../../../test-support/harness.js'
import { collectGarbage } from '../src/gc.js'
import { LocalBlobStore } from '../src/storage/blob/local-blob-store.js'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { openSqliteStore } from '../src/storage/metadata/sqlite.js'

const HOUR = 3600_000

describe('garbage collection', () => {
  let dir: string
  let store: MetadataStore
  let blobs: LocalBlobStore
  let account: { id: string; device: string; conversation: string }

  beforeEach(async () => {
    dir = await tempDir()
    store = await openSqliteStore(':memory:')
    blobs = await LocalBlobStore.open(dir)
    const id = () => randomBytes(16).toString('base64url')
    await store.accounts.replaceSetupCode({ id: id(), codeHash: 'c', createdAt: 0, expiresAt: null })
    account = { id: id(), device: id(), conversation: id() }
    await store.accounts.createAccount({
      id: account.id,
      username: 'alice',
      codeHash: 'c',
      now: 0,
      quotaBytes: null,
      genesis: { seq: 0, prev: null, hash: 'h', entry: '{}', createdAt: 0 },
      device: { id: account.device, signKey: 'k' },
      selfConversationId: account.conversation,
    })
  })
  afterEach(async () => {
    await store.close()
    await removeDir(dir)
  })

  const reserve = async (expiresAt: number, bytes: number) => {
    const id = randomBytes(16).toString('base64url')
    await store.items.reserveItem(
      {
        id,
        conversationId: account.conversation,
        senderAccountId: account.id,
        senderDeviceId: account.device,
        ciphertextSize: 10,
        manifestSize: 0,
        idempotencyKey: null,
        createdAt: 0,
        expiresAt,
      },
      null,
    )
    await blobs.create(id, 10)
    await blobs.append(id, 0, Readable.from([Buffer.alloc(bytes)]))
    return id
  }

  it('deletes expired uncommitted uploads and their partial blobs, and nothing committed', async () => {
    const now = Date.now()
    const expired = await reserve(now - 1, 5)
    const fresh = await reserve(now + HOUR, 5)
    const done = await reserve(now - 1, 10)
    await blobs.commit(done)
    await store.items.commitItem(done, new Uint8Array([1]), now)

    const r = await collectGarbage({ store, blobs, now: () => now })
    expect(r.reservations).toBe(1)
    expect(await store.items.getItem(expired)).toBeNull()
    expect(await blobs.status(expired)).toBeNull()
    expect(await store.items.getItem(fresh)).not.toBeNull()
    expect(await blobs.status(fresh)).toEqual({ length: 10, size: 5, committed: false })
    expect((await store.items.getItem(done))!.state).toBe('committed')
    expect(await blobs.status(done)).toMatchObject({ committed: true })
  })

  it('deletes blobs no item owns once they are old enough', async () => {
    const orphan = randomBytes(16).toString('base64url')
    await blobs.create(orphan, 1)
    const young = await collectGarbage({ store, blobs, now: () => Date.now() })
    expect(young.orphans).toBe(0)
    const old = await collectGarbage({ store, blobs, now: () => Date.now() + 2 * HOUR })
    expect(old.orphans).toBe(1)
    expect(await blobs.status(orphan)).toBeNull()
  })

  it("deletes the blobs of expired share links, keeps live links' blobs (never as orphans)", async () => {
    const now = Date.now()
    const mk = async (expiresAt: number) => {
      const id = randomBytes(16).toString('base64url')
      const blob = randomBytes(16).toString('base64url')
      await store.shares.createShare(
        {
          id,
          accountId: account.id,
          deviceId: account.device,
          itemIds: [randomBytes(16).toString('base64url')],
          blobs: [{ id: blob, size: 3 }],
          createdAt: 0,
          expiresAt,
          uploadExpiresAt: expiresAt,
          maxDownloads: null,
        },
        null,
      )
      await blobs.create(blob, 3)
      await blobs.append(blob, 0, Readable.from([Buffer.alloc(3)]))
      await blobs.commit(blob)
      await store.shares.commitShare(id, new Uint8Array([1]))
      return { id, blob }
    }
    const expired = await mk(now - 1)
    const live = await mk(now + 100 * HOUR)
    const r = await collectGarbage({ store, blobs, now: () => now + 2 * HOUR })
    expect(r.shares).toBe(1)
    expect(r.orphans).toBe(0)
    expect(await blobs.status(expired.blob)).toBeNull()
    expect(await store.shares.getShare(expired.id)).toMatchObject({ state: 'expired', blobsDeleted: true })
    expect(await blobs.status(live.blob)).toMatchObject({ committed: true })
  })
})
