import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromBase64Url, fromHex, toBase64Url, toHex } from '../src/bytes.js'
import { canonicalJson } from '../src/canonical.js'
import { isAirlockError } from '../src/errors.js'

describe('bytes', () => {
  it('base64url round-trips and has one encoding per value', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const s = toBase64Url(b)
        expect(fromBase64Url(s)).toEqual(b)
        expect(s).not.toMatch(/[=+/]/)
      }),
    )
    expect(() => fromBase64Url('AB')).toThrowError(/non-canonical/)
    expect(() => fromBase64Url('AA==')).toThrow()
    expect(() => fromBase64Url('A')).toThrow()
  })
  it('hex round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(fromHex(toHex(b))).toEqual(b)
      }),
    )
    expect(() => fromHex('abc')).toThrow()
  })
  it('canonical JSON sorts keys and refuses floats', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'] })).toBe('{"a":[true,null,"x"],"b":1}')
    try {
      canonicalJson({ a: 1.5 })
      expect.unreachable()
    } catch (e) {
      expect(isAirlockError(e, 'INVALID_INPUT')).toBe(true)
    }
  })
})
