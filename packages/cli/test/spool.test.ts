import { randomBytes } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, tempDir } from '../../../test-support/harness.js'
import { isCliError } from '../src/errors.js'
import { AHEAD, KEEP_SENT, Spool } from '../src/outbox.js'

// The spool between the encrypter and the uploader: in memory while the upload keeps up, in a
// file once it fails or is long. Real files, real bytes; the limits are the module's own.

const MiB = 1024 * 1024
let dir: string

beforeAll(async () => {
  dir = await tempDir('airlock-spool-')
})
afterAll(async () => {
  if (dir) await removeDir(dir)
})

/** Reads a spool reader to its end; `each` runs after every chunk (the uploader's pace). */
async function drain(stream: ReadableStream<Uint8Array>, each?: () => Promise<void>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of stream as unknown as AsyncIterable<Uint8Array>) {
    parts.push(Buffer.from(c))
    await each?.()
  }
  return Buffer.concat(parts)
}

const settled = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))])

describe('Spool', () => {
  it('in memory: the uploader gets every byte in order and nothing is written to disk', async () => {
    const path = join(dir, 'mem.age')
    const data = randomBytes(80 * MiB)
    const spool = await Spool.create(path, data.length, { memory: true })
    const reading = drain(spool.reader(0))
    for (let i = 0; i < data.length; i += 64 * 1024) await spool.write(data.subarray(i, i + 64 * 1024))
    await spool.finish(false)
    expect((await reading).equals(data)).toBe(true)
    expect(spool.spooledFrom).toBeNull()
    await expect(stat(path)).rejects.toThrow(/ENOENT/)
  })

  it('hands out views of its ring that stay intact while the upload pipeline holds a few chunks', async () => {
    const data = randomBytes(120 * MiB)
    const spool = await Spool.create(join(dir, 'views.age'), data.length, { memory: true })
    // Like a stream pipeline ending in a socket: up to 8 chunks (8 MiB) queued before they are used.
    const queued: Uint8Array[] = []
    const parts: Buffer[] = []
    const reading = (async () => {
      for await (const c of spool.reader(0) as unknown as AsyncIterable<Uint8Array>) {
        queued.push(c)
        if (queued.length > 8) parts.push(Buffer.from(queued.shift()!))
        await new Promise((r) => setImmediate(r))
      }
      for (const c of queued) parts.push(Buffer.from(c))
    })()
    for (let i = 0; i < data.length; i += 64 * 1024) await spool.write(data.subarray(i, i + 64 * 1024))
    await spool.finish(false)
    await reading
    expect(Buffer.concat(parts).equals(data)).toBe(true)
  })

  it('holds the encrypter back while the uploader is more than AHEAD behind', async () => {
    const spool = await Spool.create(join(dir, 'ahead.age'), 64 * MiB, { memory: true })
    const chunk = randomBytes(MiB)
    let written = 0
    for (; written < AHEAD; written += MiB) await spool.write(chunk)
    const blocked = spool.write(chunk)
    expect(await settled(blocked, 300)).toBe(false)
    // The uploader takes one chunk: the encrypter goes on at once (not at its next poll).
    const reader = spool.reader(0).getReader()
    await reader.read()
    expect(await settled(blocked, 100)).toBe(true)
    await reader.cancel()
  })

  it('keeps the last KEEP_SENT bytes sent for a retry, refuses older offsets, and spills the rest to its file', async () => {
    const path = join(dir, 'spill.age')
    const data = randomBytes(KEEP_SENT + 48 * MiB)
    const spool = await Spool.create(path, data.length, { memory: true })
    const sentUpTo = KEEP_SENT + 24 * MiB
    // The uploader reads the first part; the encrypter stays within AHEAD of it.
    const reader = spool.reader(0).getReader()
    let read = 0
    const uploading = (async () => {
      while (read < sentUpTo) {
        const { value } = await reader.read()
        read += value!.length
      }
    })()
    let at = 0
    for (; at < sentUpTo + 8 * MiB; at += MiB) await spool.write(data.subarray(at, at + MiB))
    await uploading
    await reader.cancel()
    // What the server may still ask for is here; older bytes are gone.
    expect(spool.has(read - KEEP_SENT)).toBe(true)
    expect(spool.has(0)).toBe(false)
    const gap = await drain(spool.reader(0)).catch((e: unknown) => e)
    expect(isCliError(gap, 'SPOOL_GAP')).toBe(true)

    // The upload failed: the spool moves to its file, with everything still kept, and the rest follows.
    await spool.spill()
    const from = spool.spooledFrom!
    expect(from).toBeGreaterThan(0)
    expect(from).toBeLessThanOrEqual(read - KEEP_SENT)
    for (; at < data.length; at += MiB) await spool.write(data.subarray(at, at + MiB))
    await spool.finish(true)
    const file = await readFile(path)
    expect(file.length).toBe(data.length)
    expect(file.subarray(from).equals(data.subarray(from))).toBe(true)
    // A retry at the server's offset reads on from the file; so does a later process.
    expect((await drain(spool.reader(read - KEEP_SENT))).equals(data.subarray(read - KEEP_SENT))).toBe(true)
    const later = Spool.complete(path, data.length, from)
    expect((await drain(later.reader(from))).equals(data.subarray(from))).toBe(true)
    expect(later.has(from - 1)).toBe(false)
  })

  it('spills a spool that was already complete in memory (the upload failed near its end)', async () => {
    const path = join(dir, 'late.age')
    const data = randomBytes(5 * MiB)
    const spool = await Spool.create(path, data.length, { memory: true })
    const reading = drain(spool.reader(0))
    await spool.write(data)
    await spool.finish(true)
    await reading
    await spool.spill()
    expect(spool.spooledFrom).toBe(0)
    expect((await readFile(path)).equals(data)).toBe(true)
  })

  it('on disk from the start where the source cannot be read again (stdin, notes)', async () => {
    const path = join(dir, 'disk.age')
    const data = randomBytes(3 * MiB + 5)
    const spool = await Spool.create(path, data.length, { memory: false })
    expect(spool.spooledFrom).toBe(0)
    const reading = drain(spool.reader(0))
    for (let i = 0; i < data.length; i += 100_000) await spool.write(data.subarray(i, i + 100_000))
    await spool.finish(false)
    expect((await reading).equals(data)).toBe(true)
    expect((await readFile(path)).equals(data)).toBe(true)
  })

  it('an upload the server holds whole needs no bytes', async () => {
    const none = Spool.none(1000)
    expect(none.has(1000)).toBe(true)
    expect(none.has(999)).toBe(false)
  })

  it('a failed encrypter fails the reader, and a write after the failure throws', async () => {
    const spool = await Spool.create(join(dir, 'fail.age'), 10 * MiB, { memory: true })
    const reading = drain(spool.reader(0)).catch((e: unknown) => e)
    await spool.write(randomBytes(MiB))
    await spool.fail(new Error('the source changed'))
    expect(String(await reading)).toMatch(/the source changed/)
    await expect(spool.write(randomBytes(10))).rejects.toThrow(/the source changed/)
  })
})
