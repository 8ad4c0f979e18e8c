import { randomBytes } from 'node:crypto'
import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { bootId } from '@airlock/core/node'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { removeDir, tempDir } from '../../../test-support/harness.js'
import { LocalBlobStore } from '../src/storage/blob/local-blob-store.js'

/**
 * SECURITY-TESTS 23, power loss: a staged upload's resumable size must not count bytes that
 * were never synced. A process crash keeps every written byte (the page cache survives); a power
 * cut (the boot id changed) keeps only the synced offset, and whatever lies beyond it is cut off
 * before the upload resumes, so the committed blob is exactly what the client sent.
 */
describe('staged uploads across a power loss (local directory)', () => {
  let dir: string
  let store: LocalBlobStore
  const id = 'AAAAAAAAAAAAAAAAAAAAAA'
  const data = randomBytes(3000)
  const staged = () => join(dir, 'blobs', 'staging', id)
  const synced = () => join(dir, 'blobs', 'staging', `${id}.synced`)
  const readAll = async () => {
    const chunks: Buffer[] = []
    for await (const c of await store.read(id)) chunks.push(c as Buffer)
    return Buffer.concat(chunks)
  }

  beforeEach(async () => {
    dir = await tempDir()
    store = await LocalBlobStore.open(join(dir, 'blobs'))
    await store.create(id, data.length)
    expect(await store.append(id, 0, Readable.from([data.subarray(0, 1000)]))).toBe(1000)
  })
  afterEach(() => removeDir(dir))

  it('records the synced offset with this boot', async () => {
    expect(await readFile(synced(), 'utf8')).toBe(`1000 ${await bootId()}`)
    expect(await bootId()).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('after a reboot, resumes from the synced offset and drops unsynced garbage', async () => {
    await appendFile(staged(), randomBytes(500))
    await writeFile(synced(), '1000 00000000-0000-0000-0000-000000000000')
    store = await LocalBlobStore.open(join(dir, 'blobs'))
    expect((await store.status(id))?.size).toBe(1000)
    expect(await store.append(id, 1000, Readable.from([data.subarray(1000)]))).toBe(3000)
    await store.commit(id)
    expect(await readAll()).toEqual(data)
  })

  it('after a process crash on the same boot, keeps the bytes written (no lost progress)', async () => {
    await appendFile(staged(), data.subarray(1000, 1500))
    store = await LocalBlobStore.open(join(dir, 'blobs'))
    expect((await store.status(id))?.size).toBe(1500)
    expect(await store.append(id, 1500, Readable.from([data.subarray(1500)]))).toBe(3000)
    await store.commit(id)
    expect(await readAll()).toEqual(data)
  })

  it('refuses to resume past the synced offset after a reboot, and a damaged record trusts nothing', async () => {
    await appendFile(staged(), randomBytes(500))
    await writeFile(synced(), '1000 another-boot')
    await expect(store.append(id, 1500, Readable.from([data.subarray(1500)]))).rejects.toMatchObject({
      code: 'CONFLICT',
    })
    await writeFile(synced(), 'garbage')
    expect((await store.status(id))?.size).toBe(0)
    expect(await store.append(id, 0, Readable.from([data]))).toBe(3000)
    await store.commit(id)
    expect(await readAll()).toEqual(data)
  })
})
