import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ALIGN, BlockReader, SequentialWriter } from './direct.js'

const dir = mkdtempSync(join(tmpdir(), 'airlock-direct-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const file = () => join(dir, `f${n++}`)
const MiB = 1024 * 1024

/** Pieces of awkward sizes: single bytes, one short of a block, one past it, several MiB. */
const SIZES = [1, ALIGN - 1, ALIGN + 1, 3 * MiB + 5, 17, 2 * MiB, 64 * 1024, 1, 5 * MiB - 3]

describe('SequentialWriter', () => {
  it('writes pieces of any size, whole blocks with direct I/O and the end through the page cache', async () => {
    const path = file()
    const w = await SequentialWriter.open(path, 'wx', 0)
    const pieces = SIZES.map((s) => randomBytes(s))
    for (const p of pieces) await w.write([p])
    await w.sync()
    const total = SIZES.reduce((a, b) => a + b, 0)
    expect(w.position).toBe(total)
    expect(w.written).toBe(total)
    // This suite runs on a file system with direct I/O (ext4 here and in CI); if it silently lost
    // it, the figures in the README would not be what users get.
    expect(w.directBytes).toBe(total - (total % ALIGN))
    await w.close()
    expect(readFileSync(path).equals(Buffer.concat(pieces))).toBe(true)
  })

  it('holds everything written after each flush, however often it is flushed', async () => {
    const path = file()
    const w = await SequentialWriter.open(path, 'w', 0)
    const pieces: Buffer[] = []
    for (const s of SIZES) {
      const p = randomBytes(s)
      pieces.push(p)
      await w.write([p, p.subarray(0, 3)])
      pieces.push(p.subarray(0, 3))
      await w.flush()
      expect(readFileSync(path).equals(Buffer.concat(pieces))).toBe(true)
    }
    await w.close()
  })

  it('resumes at an offset inside a block, keeping the bytes before it', async () => {
    const path = file()
    const head = randomBytes(ALIGN * 3 + 1234)
    writeFileSync(path, Buffer.concat([head, randomBytes(999)]))
    // As the server resumes an upload: the file is cut to what it trusts, then written from there.
    const w = await SequentialWriter.open(path, 'r+', head.length)
    const tail = randomBytes(3 * MiB + 7)
    await w.write([tail])
    await w.sync()
    await w.close()
    const got = readFileSync(path)
    expect(got.subarray(0, head.length).equals(head)).toBe(true)
    expect(got.subarray(head.length, head.length + tail.length).equals(tail)).toBe(true)
  })

  it('refuses to start past the end of the file', async () => {
    const path = file()
    writeFileSync(path, randomBytes(100))
    await expect(SequentialWriter.open(path, 'r+', 5000)).rejects.toThrow(/shorter/)
  })

  it('writes through the page cache where direct I/O is not possible', async () => {
    const w = await SequentialWriter.open('/dev/null', 'w', 0)
    await w.write([randomBytes(3 * MiB)])
    await w.flush()
    expect(w.directBytes).toBe(0)
    expect(w.written).toBe(3 * MiB)
    await w.close()
  })

  it('writes through the page cache while every aligned buffer is taken, and directly again after', async () => {
    // The slab has 32 slots; a writer takes two.
    const busy = await Promise.all(Array.from({ length: 16 }, () => SequentialWriter.open(file(), 'w', 0)))
    const data = randomBytes(3 * MiB)
    const path = file()
    const late = await SequentialWriter.open(path, 'w', 0)
    await late.write([data])
    await late.sync()
    expect(late.directBytes).toBe(0)
    await late.close()
    expect(readFileSync(path).equals(data)).toBe(true)
    for (const w of busy) await w.close()
    const again = await SequentialWriter.open(file(), 'w', 0)
    await again.write([data])
    await again.flush()
    expect(again.directBytes).toBe(data.length)
    await again.close()
  })

  it('reports what reached the file as it goes', async () => {
    const path = file()
    let calls = 0
    const w = await SequentialWriter.open(path, 'w', 0, () => calls++)
    await w.write([randomBytes(5 * MiB)])
    await w.flush()
    expect(calls).toBeGreaterThan(1)
    expect(w.written).toBe(5 * MiB)
    await w.close()
  })
})

describe('BlockReader', () => {
  it('reads any range, including bytes just written through the page cache', async () => {
    const path = file()
    const w = await SequentialWriter.open(path, 'w', 0)
    const data = randomBytes(3 * MiB + 777)
    await w.write([data])
    await w.flush()
    const r = await BlockReader.open(path)
    expect(r.isDirect).toBe(true)
    for (const [at, max] of [
      [0, 10],
      [1, ALIGN],
      [ALIGN - 1, 3],
      [5000, MiB],
      [3 * MiB, 1000],
      [data.length - 5, 100],
    ] as const) {
      const got = await r.read(at, max)
      expect(got.length).toBeGreaterThan(0)
      expect(got.length).toBeLessThanOrEqual(max)
      expect(got.equals(data.subarray(at, at + got.length))).toBe(true)
    }
    expect((await r.read(data.length, 10)).length).toBe(0)
    await r.close()
    await w.close()
  })

  it('follows a file as it grows, reading every byte once', async () => {
    const path = file()
    const w = await SequentialWriter.open(path, 'w', 0)
    const r = await BlockReader.open(path)
    const data = randomBytes(6 * MiB + 11)
    const seen: Buffer[] = []
    let pos = 0
    for (let off = 0; off < data.length; off += 700_001) {
      await w.write([data.subarray(off, off + 700_001)])
      if (off % 3 === 0) await w.flush()
      for (;;) {
        const got = await r.read(pos, data.length - pos)
        if (got.length === 0) break
        seen.push(Buffer.from(got))
        pos += got.length
      }
    }
    await w.flush()
    for (;;) {
      const got = await r.read(pos, data.length - pos)
      if (got.length === 0) break
      seen.push(Buffer.from(got))
      pos += got.length
    }
    expect(Buffer.concat(seen).equals(data)).toBe(true)
    await r.close()
    await w.close()
  })
})
