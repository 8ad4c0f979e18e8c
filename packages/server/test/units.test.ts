import { describe, expect, it } from 'vitest'
import { loopbackOrigins, parseOrigins, parseQuota, parseSize } from '../src/config.js'
import { isServerError } from '../src/errors.js'
import { parseRange } from '../src/http/range.js'
import { RateLimiter } from '../src/rate-limit.js'
import { hashCode, newCode, normalizeCode, randomId } from '../src/tokens.js'

describe('Range header parsing', () => {
  const table: Array<[string | undefined, number, ReturnType<typeof parseRange>]> = [
    [undefined, 100, null],
    ['bytes=0-0', 100, { start: 0, end: 0 }],
    ['bytes=0-99', 100, { start: 0, end: 99 }],
    ['bytes=0-1000', 100, { start: 0, end: 99 }],
    ['bytes=50-', 100, { start: 50, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-1000', 100, { start: 0, end: 99 }],
    ['bytes=99-99', 100, { start: 99, end: 99 }],
    ['bytes=100-', 100, 'unsatisfiable'],
    ['bytes=100-200', 100, 'unsatisfiable'],
    ['bytes=-0', 100, 'unsatisfiable'],
    ['bytes=0-', 0, 'unsatisfiable'],
    ['bytes=5-2', 100, null],
    ['bytes=-', 100, null],
    ['bytes=0-1,3-4', 100, null],
    ['items=0-1', 100, null],
    ['bytes=a-b', 100, null],
    ['bytes=99999999999999999-', 100, null],
  ]
  it.each(table)('%s of %i bytes', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected)
  })
})

describe('configuration parsing', () => {
  it('parses sizes with binary units', () => {
    expect(parseSize('1024')).toBe(1024)
    expect(parseSize('8M')).toBe(8 * 1024 ** 2)
    expect(parseSize('16G')).toBe(16 * 1024 ** 3)
    expect(parseSize('1.5k')).toBe(1536)
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3)
    for (const bad of ['', 'x', '-1', '1Q', '1e9']) expect(() => parseSize(bad)).toThrow()
    expect(parseQuota('none')).toBeNull()
    expect(parseQuota('0')).toBeNull()
    expect(parseQuota('1G')).toBe(1024 ** 3)
  })

  it('parses public origins and refuses paths', () => {
    expect(parseOrigins('https://airlock.example, http://10.0.0.5:8465/')).toEqual([
      'https://airlock.example',
      'http://10.0.0.5:8465',
    ])
    expect(() => parseOrigins('https://airlock.example/app')).toThrow()
    expect(() => parseOrigins('ftp://x')).toThrow()
    expect(loopbackOrigins('http', 8465, '0.0.0.0')).toEqual([
      'http://127.0.0.1:8465',
      'http://localhost:8465',
      'http://[::1]:8465',
    ])
    expect(loopbackOrigins('https', 443, '192.168.1.2')).toContain('https://192.168.1.2')
  })
})

describe('random ids', () => {
  it('are 22 base64url characters that never start with -', () => {
    const ids = Array.from({ length: 20_000 }, randomId)
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/)
    expect(new Set(ids).size).toBe(ids.length)
    // Every other character is still drawn from all 64, the first from the other 63.
    expect(new Set(ids.map((id) => id[0])).size).toBe(63)
    expect(ids.some((id) => id.slice(1).includes('-'))).toBe(true)
  })
})

describe('codes', () => {
  it('are 100-bit Crockford base32, matched loosely', () => {
    const c = newCode()
    expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$/)
    expect(hashCode(c.toLowerCase().replaceAll('-', ' '))).toBe(hashCode(c))
    expect(normalizeCode('ol-IL')).toBe('0111')
    expect(new Set(Array.from({ length: 100 }, newCode)).size).toBe(100)
  })
})

describe('rate limiter', () => {
  it('allows the burst, then refills at the sustained rate', () => {
    let now = 0
    const rl = new RateLimiter(1000, () => now)
    const spec = { burst: 3, perMinute: 60 }
    for (let i = 0; i < 3; i++) rl.take('k', spec)
    let err: unknown
    try {
      rl.take('k', spec)
    } catch (e) {
      err = e
    }
    expect(isServerError(err, 'RATE_LIMITED')).toBe(true)
    expect((err as { headers: Record<string, string> }).headers['retry-after']).toBe('1')
    rl.take('other', spec)
    now += 1000
    rl.take('k', spec)
    expect(() => rl.take('k', spec)).toThrow()
  })

  it('keeps a bounded number of keys', () => {
    let now = 0
    const rl = new RateLimiter(100, () => now)
    for (let i = 0; i < 10_000; i++) {
      now += 1
      rl.take(`ip-${i}`, { burst: 1, perMinute: 1 })
    }
    expect((rl as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(100)
  })
})
