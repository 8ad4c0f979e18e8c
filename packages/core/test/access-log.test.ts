import { describe, expect, it } from 'vitest'
import {
  type AccessEntry,
  accessEntryHash,
  accessEntrySchema,
  accessGenesis,
  chainAccess,
  verifyAccessLog,
} from '../src/access-log.js'
import { AccessLogError } from '../src/errors.js'

const ITEM = 'AAAAAAAAAAAAAAAAAAAAAA'
const OTHER = 'BBBBBBBBBBBBBBBBBBBBBB'

function chain(itemId: string, n: number): AccessEntry[] {
  const out: AccessEntry[] = []
  for (let i = 0; i < n; i++) {
    const fields =
      i % 3 === 2
        ? { at: 1000 + i, accountId: null, deviceId: null, shareId: `share${i}`, address: '198.51.100.7' }
        : { at: 1000 + i, accountId: 'acct', deviceId: `dev${i % 2}`, shareId: null, address: `10.0.0.${i}` }
    out.push(chainAccess(itemId, out.at(-1) ?? null, fields))
  }
  return out
}

function tampered(f: () => unknown, match: RegExp): void {
  expect(f).toThrow(AccessLogError)
  try {
    f()
  } catch (e) {
    expect((e as AccessLogError).code).toBe('ACCESS_LOG_TAMPERED')
    expect((e as Error).message).toMatch(match)
  }
}

describe('access log chain', () => {
  it('verifies an empty and a long chain, starting from the item-bound genesis', () => {
    expect(verifyAccessLog(ITEM, [])).toEqual({ seq: 0, hash: '' })
    const c = chain(ITEM, 7)
    expect(c[0]!.prev).toBe(accessGenesis(ITEM))
    expect(accessGenesis(ITEM)).not.toBe(accessGenesis(OTHER))
    for (const e of c) expect(accessEntrySchema.parse(e)).toEqual(e)
    expect(verifyAccessLog(ITEM, c)).toEqual({ seq: 7, hash: c[6]!.hash })
  })

  it('detects an edited field of any entry, even with its hash recomputed', () => {
    const c = chain(ITEM, 5)
    for (const field of ['at', 'accountId', 'deviceId', 'shareId', 'address'] as const) {
      const edited = c.map((e) => ({ ...e }))
      const v = edited[2]!
      ;(v as Record<string, unknown>)[field] = field === 'at' ? 1 : 'x'
      tampered(() => verifyAccessLog(ITEM, edited), /access 3 was altered/)
      // Recomputing the edited entry's hash breaks the link of the next one instead.
      v.hash = accessEntryHash(ITEM, v)
      tampered(() => verifyAccessLog(ITEM, edited), /access 4 does not follow/)
    }
  })

  it('detects a deleted entry (middle) and, against a pin, a deleted newest entry', () => {
    const c = chain(ITEM, 5)
    tampered(() => verifyAccessLog(ITEM, [...c.slice(0, 2), ...c.slice(3)]), /access 3 is missing/)
    const head = verifyAccessLog(ITEM, c)
    tampered(() => verifyAccessLog(ITEM, c.slice(0, 4), head), /shown before are gone/)
    // More accesses since the pin are fine.
    const longer = [...c, chainAccess(ITEM, c[4]!, { ...c[0]!, at: 9 })]
    expect(verifyAccessLog(ITEM, longer, head).seq).toBe(6)
  })

  it('detects reordered entries, renumbered or not', () => {
    const c = chain(ITEM, 4)
    tampered(() => verifyAccessLog(ITEM, [c[0]!, c[2]!, c[1]!, c[3]!]), /access 2 is missing or out of order/)
    const renumbered = [c[0]!, { ...c[2]!, seq: 2 }, { ...c[1]!, seq: 3 }, c[3]!]
    tampered(() => verifyAccessLog(ITEM, renumbered), /access 2 does not follow/)
  })

  it("refuses another item's chain and a consistently rewritten history against a pin", () => {
    const c = chain(ITEM, 3)
    tampered(() => verifyAccessLog(OTHER, c), /access 1 does not follow/)
    const pin = verifyAccessLog(ITEM, c)
    // A server rewriting every hash after an edit passes alone, but not against the pin.
    const rewritten: AccessEntry[] = []
    for (const e of c)
      rewritten.push(chainAccess(ITEM, rewritten.at(-1) ?? null, { ...e, address: '0.0.0.0' }))
    expect(verifyAccessLog(ITEM, rewritten).seq).toBe(3)
    tampered(() => verifyAccessLog(ITEM, rewritten, pin), /access 3 differs/)
  })
})
