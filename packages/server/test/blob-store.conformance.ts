import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isServerError } from '../src/errors.js'
import type { BlobStore } from '../src/storage/blob/blob-store.js'

/**
 * The contract every `BlobStore` adapter must meet. The factory returns a fresh, empty store and
 * a cleanup function: `blobStoreConformance('local', async () => ({ store, cleanup }))`.
 */
export function blobStoreConformance(
  name: string,
  factory: () => Promise<{
    store: BlobStore
    reopen: () => Promise<BlobStore>
    cleanup: () => Promise<void>
  }>,
): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let store: BlobStore
    let reopen: () => Promise<BlobStore>
    let cleanup: () => Promise<void>
    beforeEach(async () => {
      ;({ store, reopen, cleanup } = await factory())
    })
    afterEach(async () => {
      await cleanup()
    })

    const id = () => randomBytes(16).toString('base64url')

    it('stages, appends, commits and reads back the same bytes', async () => {
      const data = randomBytes(200_000)
      const b = id()
      await store.create(b, data.length)
      expect(await store.status(b)).toEqual({ length: data.length, size: 0, committed: false })
      expect(await store.append(b, 0, Readable.from([data.subarray(0, 70_000)]))).toBe(70_000)
      expect(await store.append(b, 70_000, chunks(data.subarray(70_000), 4096))).toBe(data.length)
      await store.commit(b)
      await store.commit(b)
      expect(await store.status(b)).toEqual({ length: data.length, size: data.length, committed: true })
      expect(sha(await buffer(await store.read(b)))).toBe(sha(data))
    })

    it('never reads a staged blob and never commits a short one', async () => {
      const b = id()
      await store.create(b, 10)
      await store.append(b, 0, Readable.from([Buffer.from('12345')]))
      await expectCode(store.read(b), 'NOT_FOUND')
      await expectCode(store.commit(b), 'UPLOAD_INCOMPLETE')
      await expectCode(store.read(id()), 'NOT_FOUND')
    })

    it('refuses an append at the wrong offset and bytes past the length', async () => {
      const b = id()
      await store.create(b, 8)
      await store.append(b, 0, Readable.from([Buffer.from('abcd')]))
      await expectCode(store.append(b, 0, Readable.from([Buffer.from('x')])), 'CONFLICT')
      await expectCode(store.append(b, 5, Readable.from([Buffer.from('x')])), 'CONFLICT')
      await expectCode(store.append(b, 4, Readable.from([Buffer.from('efghij')])), 'PAYLOAD_TOO_LARGE')
      const s = await store.status(b)
      expect(s!.size).toBeLessThanOrEqual(8)
      expect(s!.length).toBe(8)
    })

    it('keeps bytes written before a failing source, so the upload resumes', async () => {
      const b = id()
      await store.create(b, 100)
      const failing = (async function* () {
        yield Buffer.alloc(40, 1)
        throw new Error('connection reset')
      })()
      await expect(store.append(b, 0, failing)).rejects.toThrow('connection reset')
      expect((await store.status(b))!.size).toBe(40)
      expect(await store.append(b, 40, Readable.from([Buffer.alloc(60, 2)]))).toBe(100)
      await store.commit(b)
      const back = await buffer(await store.read(b))
      expect(back.subarray(0, 40).every((x) => x === 1)).toBe(true)
      expect(back.subarray(40).every((x) => x === 2)).toBe(true)
    })

    it('survives reopening: staged offsets and committed blobs persist', async () => {
      const staged = id()
      const done = id()
      await store.create(staged, 10)
      await store.append(staged, 0, Readable.from([Buffer.from('hello')]))
      await store.create(done, 3)
      await store.append(done, 0, Readable.from([Buffer.from('abc')]))
      await store.commit(done)
      const again = await reopen()
      expect(await again.status(staged)).toEqual({ length: 10, size: 5, committed: false })
      expect((await buffer(await again.read(done))).toString()).toBe('abc')
    })

    it('reads inclusive byte ranges and refuses ranges past the end', async () => {
      const b = id()
      const data = randomBytes(1000)
      await store.create(b, data.length)
      await store.append(b, 0, Readable.from([data]))
      await store.commit(b)
      expect(await buffer(await store.read(b, { start: 0, end: 0 }))).toEqual(data.subarray(0, 1))
      expect(await buffer(await store.read(b, { start: 100, end: 999 }))).toEqual(data.subarray(100))
      await expectCode(store.read(b, { start: 10, end: 1000 }), 'RANGE_NOT_SATISFIABLE')
      await expectCode(store.read(b, { start: 10, end: 9 }), 'RANGE_NOT_SATISFIABLE')
    })

    it('handles empty blobs', async () => {
      const b = id()
      await store.create(b, 0)
      expect(await store.status(b)).toEqual({ length: 0, size: 0, committed: false })
      await store.commit(b)
      expect((await buffer(await store.read(b))).length).toBe(0)
    })

    it('deletes staged and committed blobs, idempotently', async () => {
      const a = id()
      const b = id()
      await store.create(a, 1)
      await store.create(b, 1)
      await store.append(b, 0, Readable.from([Buffer.from('x')]))
      await store.commit(b)
      await store.delete(a)
      await store.delete(b)
      await store.delete(b)
      expect(await store.status(a)).toBeNull()
      expect(await store.status(b)).toBeNull()
      await expectCode(store.read(b), 'NOT_FOUND')
    })

    it('refuses duplicate ids and ids that are not random base64url', async () => {
      const b = id()
      await store.create(b, 1)
      await expectCode(store.create(b, 1), 'CONFLICT')
      for (const bad of ['../../etc/passwd', 'a/b', 'short', '', 'x'.repeat(65), 'abc.def.ghi.jkl.mno']) {
        await expectCode(store.create(bad, 1), 'BAD_REQUEST')
        await expectCode(store.read(bad), 'BAD_REQUEST')
      }
    })

    it('lists staged and committed blobs', async () => {
      const a = id()
      const b = id()
      await store.create(a, 5)
      await store.append(a, 0, Readable.from([Buffer.from('12')]))
      await store.create(b, 1)
      await store.append(b, 0, Readable.from([Buffer.from('x')]))
      await store.commit(b)
      const listed = []
      for await (const l of store.list()) listed.push(l)
      const byId = new Map(listed.map((l) => [l.id, l]))
      expect(byId.size).toBe(2)
      expect(byId.get(a)).toMatchObject({ size: 2, committed: false })
      expect(byId.get(b)).toMatchObject({ size: 1, committed: true })
      expect(typeof byId.get(b)!.modifiedAt).toBe('number')
    })
  })
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

async function* chunks(data: Uint8Array, n: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < data.length; i += n) yield data.subarray(i, i + n)
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  )
  expect(isServerError(e) ? e.code : e).toBe(code)
}
