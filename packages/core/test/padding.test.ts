import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { readAll } from '../src/byte-streams.js'
import { padmeLength, padStream, unpadStream } from '../src/padding.js'

const collect = (s: ReadableStream<Uint8Array>) => readAll(s)

function source(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(ch)
      c.close()
    },
  })
}

describe('Padmé', () => {
  it('matches the reference values', () => {
    // Values from the PURBs paper's table and hand computation.
    const table: [number, number][] = [
      [0, 0],
      [1, 1],
      [2, 2],
      [9, 10],
      [100, 104],
      [1000, 1024],
      [65535, 65536],
      [65537, 67584],
      [1_000_000, 1_015_808],
    ]
    for (const [n, p] of table) expect(padmeLength(n)).toBe(p)
  })
  it('is correct beyond 2^32 and never overshoots 12%', () => {
    const big = 2 ** 32 + 12345
    const p = padmeLength(big)
    expect(p).toBeGreaterThanOrEqual(big)
    expect((p - big) / big).toBeLessThan(0.12)
    // The low bits of the padded length are zero beyond the kept mantissa.
    expect(p % 2 ** 26).toBe(0)
    expect(padmeLength(2 ** 40)).toBe(2 ** 40)
    expect(padmeLength(2 ** 40 + 1)).toBe(2 ** 40 + 2 ** 34)
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 2 ** 52 }), (n) => {
        const q = padmeLength(n)
        expect(q).toBeGreaterThanOrEqual(n)
        expect(q - n).toBeLessThanOrEqual(n * 0.12 + 1)
        expect(padmeLength(q)).toBe(q)
      }),
    )
  })
  it('pads and unpads streams', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), async (chunks) => {
        const size = chunks.reduce((n, c) => n + c.length, 0)
        const padded = await collect(source(chunks).pipeThrough(padStream(size)))
        expect(padded.length).toBe(padmeLength(size))
        const back = await collect(source([padded]).pipeThrough(unpadStream(size)))
        expect(back).toEqual(new Uint8Array(chunks.flatMap((c) => [...c])))
      }),
    )
  })
  it('rejects wrong sizes and non-zero padding', async () => {
    await expect(collect(source([new Uint8Array(5)]).pipeThrough(padStream(4)))).rejects.toThrow(/longer/)
    await expect(collect(source([new Uint8Array(3)]).pipeThrough(padStream(4)))).rejects.toThrow(/shorter/)
    const bad = new Uint8Array(padmeLength(9)).fill(0)
    bad[9] = 1
    await expect(collect(source([bad]).pipeThrough(unpadStream(9)))).rejects.toThrow(/not zero/)
  })
})
