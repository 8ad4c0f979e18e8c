import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { decryptBytes, encryptBytes } from '../src/age.js'
import { fromBase64Url, toBase64Url, utf8 } from '../src/bytes.js'
import { KeyFormatError, SignatureError } from '../src/errors.js'
import {
  type DeviceSecrets,
  deviceFingerprint,
  deviceIdFor,
  deviceRecord,
  deviceRecordSchema,
  exportAgeIdentity,
  generateDevice,
  isValidDeviceName,
  parseDeviceSecrets,
  serializeDeviceSecrets,
  signCanonical,
  verifyCanonical,
} from '../src/identity.js'

let dev: DeviceSecrets
let other: DeviceSecrets
beforeAll(async () => {
  dev = await generateDevice({ name: 'Laptop', kind: 'cli', now: 1_700_000_000_000 })
  other = await generateDevice({ name: 'Phone', kind: 'web' })
})

describe('device generation', () => {
  it('derives a public record bound to the signing key', () => {
    const r = deviceRecord(dev)
    expect(r.id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(r.id).toBe(deviceIdFor(r.signKey))
    expect(r.recipient.startsWith('age1pq1')).toBe(true)
    expect(r.x25519Recipient).toMatch(/^age1[02-9ac-hj-np-z]{58}$/)
    expect(dev.ageIdentity.startsWith('AGE-SECRET-KEY-PQ-1')).toBe(true)
    expect(dev.x25519Identity.startsWith('AGE-SECRET-KEY-1')).toBe(true)
    expect(r).toMatchObject({ name: 'Laptop', kind: 'cli', created: 1_700_000_000_000 })
    expect(deviceRecordSchema.parse(JSON.parse(JSON.stringify(r)))).toEqual(r)
    expect(deviceIdFor(other.record.signKey)).not.toBe(r.id)
  })

  it('rejects names that could disguise a device', () => {
    for (const ok of ['Laptop', 'Büro-PC', '手机', 'a'.repeat(64), 'My 👩‍💻 box'])
      expect(isValidDeviceName(ok)).toBe(true)
    for (const bad of [
      '',
      ' lead',
      'trail ',
      'a'.repeat(65),
      'x\ny',
      'x\u202Eexe',
      'x\u0000',
      'a\u2066b',
      'a\u2028b',
    ]) {
      expect(isValidDeviceName(bad)).toBe(false)
    }
    return expect(generateDevice({ name: 'evil\u202E', kind: 'cli' })).rejects.toBeInstanceOf(KeyFormatError)
  })
})

describe('secret key text form', () => {
  it('round-trips', async () => {
    const text = serializeDeviceSecrets(dev)
    expect(text.split('\n')[0]).toBe('airlock-device-secrets v1')
    const back = await parseDeviceSecrets(text)
    expect(back.record).toEqual(dev.record)
    expect(back.ageIdentity).toBe(dev.ageIdentity)
    expect(back.x25519Identity).toBe(dev.x25519Identity)
    expect(serializeDeviceSecrets(back)).toBe(text)
  })

  it('round-trips any valid name and kind (property)', async () => {
    const name = fc.string({ minLength: 1, maxLength: 64 }).filter(isValidDeviceName)
    const kind = fc.constantFrom('cli' as const, 'web' as const, 'recovery' as const)
    await fc.assert(
      fc.asyncProperty(name, kind, fc.nat({ max: 2 ** 45 }), async (n, k, now) => {
        const d = await generateDevice({ name: n, kind: k, now })
        const back = await parseDeviceSecrets(serializeDeviceSecrets(d))
        expect(back.record).toEqual(d.record)
      }),
      { numRuns: 15 },
    )
  })

  it('rejects every deviation with KeyFormatError', async () => {
    const text = serializeDeviceSecrets(dev)
    const lines = text.split('\n')
    const swap = (i: number, v: string) => lines.map((l, j) => (j === i ? v : l)).join('\n')
    const signSecret = lines[4]!.slice(5)
    const bad = [
      '',
      text.replaceAll('\n', '\r\n'),
      text.slice(0, -1),
      `${text}\n`,
      swap(0, 'airlock-device-secrets v2'),
      swap(1, 'name "Lap\\u0074op"'),
      swap(1, 'name Laptop'),
      swap(1, 'name "bad\\u202e"'),
      swap(2, 'kind admin'),
      swap(3, 'created 01700000000000'),
      swap(3, 'created -1'),
      // Non-zero trailing bits: a second encoding of nearly the same key.
      swap(4, `sign ${signSecret.slice(0, -1)}${signSecret.endsWith('B') ? 'C' : 'B'}`),
      swap(4, `sign ${signSecret}=`),
      swap(5, `age ${dev.ageIdentity.toLowerCase()}`),
      swap(5, `age ${dev.ageIdentity.slice(0, -1)}${dev.ageIdentity.endsWith('Q') ? 'P' : 'Q'}`),
      swap(5, `age ${dev.x25519Identity}`),
      swap(6, `age-x25519 ${dev.ageIdentity}`),
      [lines[0], lines[2], lines[1], ...lines.slice(3)].join('\n'),
      `# comment\n${text}`,
    ]
    for (const t of bad) await expect(parseDeviceSecrets(t)).rejects.toBeInstanceOf(KeyFormatError)
  })

  it('never throws anything but KeyFormatError on garbage (fuzz)', async () => {
    const text = serializeDeviceSecrets(dev)
    const mutated = fc
      .tuple(fc.nat({ max: text.length - 1 }), fc.string({ maxLength: 3 }))
      .map(([i, s]) => text.slice(0, i) + s + text.slice(i + 1))
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), mutated), async (t) => {
        try {
          const back = await parseDeviceSecrets(t)
          expect(serializeDeviceSecrets(back)).toBe(t)
        } catch (e) {
          expect(e).toBeInstanceOf(KeyFormatError)
          expect((e as Error).message).not.toContain('AGE-SECRET')
        }
      }),
      { numRuns: 200 },
    )
  })
})

describe('age identity export', () => {
  it('gives an identity file that decrypts files to the X25519 recipient, without the PQ key', async () => {
    const file = exportAgeIdentity(dev)
    expect(file).toContain(dev.x25519Identity)
    expect(file).not.toContain('AGE-SECRET-KEY-PQ-')
    expect(file).toContain(`# public key: ${dev.record.x25519Recipient}`)
    expect(file).toMatch(/^# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m)
    const ids = file.split('\n').filter((l) => l !== '' && !l.startsWith('#'))
    const ct = await encryptBytes([dev.record.x25519Recipient], utf8('export'))
    expect(await decryptBytes(ids, ct)).toEqual(utf8('export'))
  })

  it('adds the hybrid identity on request', () => {
    const ids = exportAgeIdentity(dev, { includePq: true })
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
    expect(ids).toEqual([dev.ageIdentity, dev.x25519Identity])
  })
})

/** The signature with one bit changed: always a different signature (unlike rewriting its tail). */
function flipBit(sig: string): string {
  const b = fromBase64Url(sig)
  b[10]! ^= 1
  return toBase64Url(b)
}

describe('signatures', () => {
  const ctx = 'airlock test message v1'
  it('verify only for the same key, context and value', () => {
    const sig = signCanonical(dev, ctx, { a: 1, b: ['x'] })
    verifyCanonical(dev.record.signKey, ctx, { b: ['x'], a: 1 }, sig)
    const fails: [string, string, unknown, string][] = [
      [other.record.signKey, ctx, { a: 1, b: ['x'] }, sig],
      [dev.record.signKey, 'airlock other message v1', { a: 1, b: ['x'] }, sig],
      [dev.record.signKey, ctx, { a: 2, b: ['x'] }, sig],
      [dev.record.signKey, ctx, { a: 1, b: ['x'] }, flipBit(sig)],
      [dev.record.signKey, ctx, { a: 1, b: ['x'] }, sig.slice(1)],
      ['not a key', ctx, { a: 1, b: ['x'] }, sig],
      [toBase64Url(new Uint8Array(32)), ctx, { a: 1, b: ['x'] }, sig],
    ]
    for (const [key, c, v, s] of fails) {
      expect(() => verifyCanonical(key, c, v as never, s)).toThrow(SignatureError)
    }
  })

  it('refuse contexts outside the airlock namespace', () => {
    expect(() => signCanonical(dev, 'other v1', 1)).toThrow(KeyFormatError)
    expect(() => signCanonical(dev, 'airlock x v1\n{', 1)).toThrow(KeyFormatError)
  })
})

describe('record schema', () => {
  it('binds the id to the key and checks every key', () => {
    const r = dev.record
    const parse = (v: object) => deviceRecordSchema.safeParse({ ...r, ...v }).success
    expect(parse({})).toBe(true)
    expect(parse({ id: other.record.id })).toBe(false)
    expect(parse({ signKey: other.record.signKey })).toBe(false)
    // The identity point (small order): never a valid device key.
    const weak = toBase64Url(Uint8Array.from([1, ...new Array(31).fill(0)]))
    expect(parse({ signKey: weak, id: deviceIdFor(weak) })).toBe(false)
    expect(parse({ recipient: r.x25519Recipient })).toBe(false)
    expect(parse({ x25519Recipient: r.recipient })).toBe(false)
    expect(parse({ kind: 'admin' })).toBe(false)
    expect(parse({ created: 1.5 })).toBe(false)
    expect(parse({ extra: 1 })).toBe(false)
  })
})

describe('fingerprints', () => {
  it('are six groups of five digits, stable, and cover every field', () => {
    const f = deviceFingerprint(dev.record)
    expect(f).toMatch(/^\d{5}( \d{5}){5}$/)
    expect(deviceFingerprint({ ...dev.record })).toBe(f)
    expect(deviceFingerprint({ ...dev.record, name: 'Laptop2' })).not.toBe(f)
    expect(deviceFingerprint(other.record)).not.toBe(f)
  })
})
