import { describe, expect, it } from 'vitest'
import { checkVector, loadVectors } from './cctv.js'

// SECURITY-TESTS 1: every cctv-age vector through the buffered, streamed and byte-by-byte paths.
const vectors = await loadVectors()

describe('cctv-age vectors', () => {
  it('has all 143 vectors', () => {
    expect(vectors.length).toBe(143)
  })
  for (const path of ['buffer', 'stream', 'byte-by-byte'] as const) {
    describe(path, () => {
      for (const v of vectors) {
        it(`${v.name} (${v.expect})`, async () => {
          await checkVector(v, path)
        })
      }
    })
  }
})
