import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { canonicalJson } from '../src/canonical.js'
import {
  appendEntry,
  createGenesis,
  type DeviceLogEntry,
  decodeLogEntry,
  encodeLogEntry,
  entryHash,
  entryValue,
  extendVerified,
  findActiveDevice,
  headAt,
  isVerifiedLog,
  logFingerprint,
  pinOf,
  type VerifiedLog,
  verifyLog,
} from '../src/device-log.js'
import { DeviceLogError, ForkError, RollbackError, SignatureError } from '../src/errors.js'
import { type DeviceSecrets, generateDevice, signCanonical } from '../src/identity.js'

const ACCOUNT = 'acct-alice'
let a: DeviceSecrets
let b: DeviceSecrets
let c: DeviceSecrets
let mallory: DeviceSecrets
let pool: DeviceSecrets[]

beforeAll(async () => {
  const device = (name: string) => generateDevice({ name, kind: 'cli', now: 1 })
  ;[a, b, c, mallory] = await Promise.all([device('A'), device('B'), device('C'), device('Mallory')])
  pool = await Promise.all(
    Array.from({ length: 8 }, (_, i) => generateDevice({ name: `d${i}`, kind: 'web', now: i })),
  )
})

/** Applies (signer, op, device) steps to a fresh log and returns every entry. */
function build(
  steps: [DeviceSecrets, 'add' | 'remove', DeviceSecrets][],
  account = ACCOUNT,
): DeviceLogEntry[] {
  const entries = [createGenesis(account, a)]
  let v = verifyLog(account, entries)
  for (const [signer, op, d] of steps) {
    const e = appendEntry(v, signer, op, d.record)
    entries.push(e)
    v = extendVerified(v, [e])
  }
  return entries
}

/** Re-signs an altered entry as `signer` (a device that may or may not be allowed to sign). */
function forge(e: Omit<DeviceLogEntry, 'sig'>, signer: DeviceSecrets): DeviceLogEntry {
  const { account, seq, prev, op, device } = e
  const body = { account, seq, prev, op, device: { ...device }, signer: e.signer }
  return { ...body, sig: signCanonical(signer, 'airlock device log entry v1', body) }
}

const wire = (es: readonly DeviceLogEntry[]) => JSON.parse(JSON.stringify(es)) as unknown[]

describe('device log', () => {
  it('verifies genesis, adds and removes, and round-trips through JSON', () => {
    const es = build([
      [a, 'add', b],
      [b, 'add', c],
      [c, 'remove', a],
    ])
    const v = verifyLog(ACCOUNT, wire(es))
    expect(v.seq).toBe(3)
    expect(v.head).toBe(entryHash(es[3]!))
    expect(v.active.map((d) => d.id)).toEqual([b.record.id, c.record.id])
    expect(es[0]!.prev).toBe('')
    expect(es[1]!.prev).toBe(entryHash(es[0]!))
    for (const e of es) {
      expect(encodeLogEntry(decodeLogEntry(JSON.parse(encodeLogEntry(e))))).toBe(encodeLogEntry(e))
    }
    expect(findActiveDevice(v, a.record.id)).toBeUndefined()
    expect(headAt(v, 1)).toBe(entryHash(es[1]!))
    expect(logFingerprint(v)).toMatch(/^\d{5}( \d{5}){5}$/)
    expect(logFingerprint(verifyLog(ACCOUNT, wire(es.slice(0, 3))))).not.toBe(logFingerprint(v))
  })

  it('agrees with a model for random histories (property)', () => {
    const step = fc.tuple(fc.boolean(), fc.nat(), fc.nat())
    fc.assert(
      fc.property(fc.array(step, { maxLength: 12 }), (plan) => {
        const active = [a]
        let next = 0
        const entries = [createGenesis(ACCOUNT, a)]
        let v = verifyLog(ACCOUNT, entries)
        for (const [add, s, t] of plan) {
          const signer = active[s % active.length]!
          if (add && next < pool.length) {
            const d = pool[next++]!
            entries.push(appendEntry(v, signer, 'add', d.record))
            active.push(d)
          } else if (!add && active.length > 1) {
            const d = active.splice(t % active.length, 1)[0]!
            entries.push(appendEntry(v, signer, 'remove', d.record))
          } else continue
          v = extendVerified(v, [entries.at(-1)])
        }
        const full = verifyLog(ACCOUNT, wire(entries))
        expect(full.active.map((d) => d.id).sort()).toEqual(active.map((d) => d.record.id).sort())
        expect(full.head).toBe(v.head)
      }),
      { numRuns: 25 },
    )
  })

  it('rejects structurally invalid histories with DeviceLogError', () => {
    const base = build([[a, 'add', b]])
    const v1 = verifyLog(ACCOUNT, base)
    const [g, e1] = base as [DeviceLogEntry, DeviceLogEntry]
    const next = (op: DeviceLogEntry['op'], device: DeviceSecrets['record']) =>
      forge({ account: ACCOUNT, seq: 2, prev: v1.head, op, device, signer: a.record.id }, a)
    const cases: [DeviceLogEntry[], RegExp][] = [
      [[], /empty/],
      [[g, forge({ ...e1, seq: 2 }, a)], /out of sequence/],
      [[g, forge({ ...e1, prev: entryHash(e1) }, a)], /hash chain/],
      [[g, forge({ ...e1, op: 'genesis' }, a)], /genesis/],
      [[forge({ ...g, seq: 1 }, a)], /out of sequence/],
      [[...base, next('add', b.record)], /already added/],
      [[...base, next('genesis', c.record)], /genesis/],
      [[g, forge({ ...e1, op: 'remove', device: a.record }, a)], /last active device/],
      [[g, forge({ ...e1, op: 'remove', device: b.record }, a)], /not active/],
      [[...base, next('remove', { ...b.record, name: 'B2' })], /not active/],
    ]
    for (const [es, why] of cases) {
      expect(() => verifyLog(ACCOUNT, wire(es))).toThrow(DeviceLogError)
      expect(() => verifyLog(ACCOUNT, wire(es))).toThrow(why)
    }
  })

  it('never re-adds a removed device', () => {
    const es = build([
      [a, 'add', b],
      [a, 'remove', b],
    ])
    const v = verifyLog(ACCOUNT, es)
    expect(() => appendEntry(v, a, 'add', b.record)).toThrow(DeviceLogError)
    const readd = forge(
      { account: ACCOUNT, seq: 3, prev: v.head, op: 'add', device: b.record, signer: a.record.id },
      a,
    )
    expect(() => verifyLog(ACCOUNT, wire([...es, readd]))).toThrow(DeviceLogError)
  })

  it('cannot be replayed into another account', () => {
    const es = build([[a, 'add', b]], 'acct-other')
    expect(() => verifyLog(ACCOUNT, wire(es))).toThrow(DeviceLogError)
    const mixed = [
      createGenesis(ACCOUNT, a),
      forge({ ...es[1]!, prev: entryHash(createGenesis(ACCOUNT, a)) }, a),
    ]
    expect(() => verifyLog(ACCOUNT, wire(mixed))).toThrow(DeviceLogError)
  })

  it('SECURITY-13: an inserted entry not signed by an active device is rejected', () => {
    const es = build([
      [a, 'add', b],
      [a, 'remove', b],
    ])
    const head = verifyLog(ACCOUNT, es).head
    const add = { account: ACCOUNT, seq: 3, prev: head, op: 'add' as const, device: mallory.record }
    // An outsider signing as itself, as an active device, or as a removed one.
    const inserted = [
      forge({ ...add, signer: mallory.record.id }, mallory),
      forge({ ...add, signer: a.record.id }, mallory),
      forge({ ...add, signer: b.record.id }, b),
    ]
    for (const e of inserted) expect(() => verifyLog(ACCOUNT, wire([...es, e]))).toThrow(SignatureError)
    // A flipped signature bit, and a genesis signed by another key.
    const good = forge({ ...add, signer: a.record.id }, a)
    const flipped = { ...good, sig: `${good.sig[0] === 'A' ? 'B' : 'A'}${good.sig.slice(1)}` }
    expect(() => verifyLog(ACCOUNT, wire([...es, flipped]))).toThrow(SignatureError)
    expect(() => verifyLog(ACCOUNT, wire([forge(createGenesis(ACCOUNT, a), mallory)]))).toThrow(
      SignatureError,
    )
    // A signer that is not active cannot produce an entry through the API either.
    expect(() => appendEntry(verifyLog(ACCOUNT, es), b, 'add', c.record)).toThrow(SignatureError)
  })

  it('SECURITY-14: replaying an older log (before a removal) is a RollbackError', () => {
    const es = build([
      [a, 'add', b],
      [a, 'remove', b],
    ])
    const pin = pinOf(verifyLog(ACCOUNT, es))
    expect(() => verifyLog(ACCOUNT, wire(es.slice(0, 2)), pin)).toThrow(RollbackError)
    expect(verifyLog(ACCOUNT, wire(es), pin).active.map((d) => d.id)).toEqual([a.record.id])
  })

  it('SECURITY-15: two different logs at the same seq are a ForkError', () => {
    const mine = build([[a, 'add', b]])
    const theirs = build([[a, 'add', c]])
    const pin = pinOf(verifyLog(ACCOUNT, mine))
    expect(() => verifyLog(ACCOUNT, wire(theirs), pin)).toThrow(ForkError)
    // Longer, but forked below the pin.
    const longer = build([
      [a, 'add', c],
      [c, 'add', b],
    ])
    expect(() => verifyLog(ACCOUNT, wire(longer), pin)).toThrow(ForkError)
    // Incrementally: a differing overlap, or a next entry that builds on another head.
    const v = verifyLog(ACCOUNT, mine)
    expect(() => extendVerified(v, wire(theirs.slice(1)))).toThrow(ForkError)
    expect(() => extendVerified(v, wire(longer.slice(2)))).toThrow(ForkError)
  })

  it('extends incrementally with overlap, and rejects gaps', () => {
    const es = build([
      [a, 'add', b],
      [b, 'add', c],
      [a, 'remove', b],
    ])
    const v1 = verifyLog(ACCOUNT, es.slice(0, 2))
    const v3 = extendVerified(v1, wire(es.slice(1)))
    expect(v3.head).toBe(verifyLog(ACCOUNT, es).head)
    expect(v3.active).toEqual(verifyLog(ACCOUNT, es).active)
    expect(extendVerified(v3, [])).toBe(v3)
    expect(() => extendVerified(v1, wire(es.slice(3)))).toThrow(DeviceLogError)
    expect(() => extendVerified(v1, wire([es[2]!, es[1]!]))).toThrow(DeviceLogError)
  })

  it('only trusts logs it verified itself', () => {
    const v = verifyLog(ACCOUNT, [createGenesis(ACCOUNT, a)])
    const fake: VerifiedLog = { ...v, active: [...v.active, mallory.record] }
    expect(isVerifiedLog(v)).toBe(true)
    expect(isVerifiedLog(fake)).toBe(false)
    expect(() => appendEntry(fake, mallory, 'add', b.record)).toThrow(DeviceLogError)
    expect(() => extendVerified(fake, [])).toThrow(DeviceLogError)
    expect(Object.isFrozen(v.entries[0]!.device)).toBe(true)
  })

  it('decodes any JSON to a typed error or a canonical entry (fuzz)', () => {
    const es = build([[a, 'add', b]])
    const valid = entryValue(es[1]!) as Record<string, unknown>
    const keys = Object.keys(valid)
    const mutated = fc
      .tuple(fc.constantFrom(...keys), fc.jsonValue())
      .map(([k, v]) => ({ ...valid, [k]: v }) as unknown)
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), mutated, fc.constant(valid as unknown)), (json) => {
        try {
          const e = decodeLogEntry(json)
          expect(encodeLogEntry(e)).toBe(canonicalJson(json as never))
        } catch (err) {
          expect(err).toBeInstanceOf(DeviceLogError)
        }
      }),
      { numRuns: 300 },
    )
  })
})
