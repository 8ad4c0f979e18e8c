import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromBase64Url, toBase64Url, utf8 } from '../src/bytes.js'
import { InvalidInputError, LinkExpiredError, LinkInvalidError, PakeError } from '../src/errors.js'
import {
  acceptLinkOffer,
  completeLinkOffer,
  createLinkOffer,
  encodeLinkPayload,
  formatLinkCode,
  generateLinkCode,
  type LinkPayload,
  MAX_LINK_LIFETIME_MS,
  parseLinkCode,
  parseLinkPayload,
} from '../src/link.js'
import { openLinkMessage, sealLinkMessage } from '../src/pake.js'

const NOW = 1_750_000_000_000
const ORIGIN = 'https://airlock.example'

function offer(mailbox = 'mb_01-xyz', expires = NOW + 600_000) {
  return createLinkOffer({ origin: ORIGIN, mailbox, expires })
}

/** Accepts only the typed errors a parser may throw. */
function expectTyped(f: () => unknown, ...allowed: (new (...a: never[]) => Error)[]): void {
  try {
    f()
  } catch (e) {
    if (!allowed.some((c) => e instanceof c)) throw e
  }
}

describe('short linking codes', () => {
  it('generates 4 + 8 digits and formats them as MMMM-SSSS-SSSS', () => {
    const code = generateLinkCode('0042')
    expect(code.mailbox).toBe('0042')
    expect(code.secret).toMatch(/^[0-9]{8}$/)
    expect(formatLinkCode(code)).toMatch(/^0042-[0-9]{4}-[0-9]{4}$/)
    expect(generateLinkCode().mailbox).toMatch(/^[0-9]{4}$/)
    expect(() => generateLinkCode('12345')).toThrow(InvalidInputError)
    expect(() => generateLinkCode('12a4')).toThrow(InvalidInputError)
  })
  it('secret digits look uniform', () => {
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < 500; i++) for (const d of generateLinkCode().secret) counts[Number(d)]!++
    for (const c of counts) expect(c).toBeGreaterThan(300) // expected 400 each
  })
  it('parses what it formats, whatever the separators', () => {
    const sep = fc.constantFrom('', ' ', '-', '  ', ' - ', '\u2013', '\u2212', '\t', '\u00a0')
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9]{12}$/),
        fc.array(sep, { minLength: 13, maxLength: 13 }),
        (d, s) => {
          const typed = [...d].map((c, i) => s[i] + c).join('') + s[12]
          expect(parseLinkCode(typed)).toEqual({ mailbox: d.slice(0, 4), secret: d.slice(4) })
        },
      ),
    )
    const code = generateLinkCode()
    expect(parseLinkCode(formatLinkCode(code))).toEqual(code)
    expect(parseLinkCode('１２３４－５６７８－９０１２')).toEqual({ mailbox: '1234', secret: '56789012' })
  })
  it('rejects malformed codes with LinkInvalidError', () => {
    for (const bad of [
      '',
      '1234-5678-901',
      '1234-5678-90123',
      '1234-5678-901a',
      '1234_5678_9012',
      '٠١٢٣٤٥٦٧٨٩٠١',
    ]) {
      expect(() => parseLinkCode(bad)).toThrow(LinkInvalidError)
    }
    expect(() => parseLinkCode(`1234-5678-9012${' '.repeat(60)}`)).toThrow(LinkInvalidError)
    expect(() => parseLinkCode(undefined as unknown as string)).toThrow(LinkInvalidError)
  })
  it('the parser is total', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[0-9 -]{0,20}$/)),
        (s) => expectTyped(() => parseLinkCode(s), LinkInvalidError),
      ),
      { numRuns: 500 },
    )
  })
})

describe('link payload', () => {
  it('encodes as an https URL with the secret in the fragment', () => {
    const { link, payload } = offer()
    expect(link).toMatch(/^https:\/\/airlock\.example\/link#[A-Za-z0-9_-]+$/)
    expect(parseLinkPayload(link, NOW)).toEqual(payload)
    expect(parseLinkPayload(`  ${link}\n`, NOW)).toEqual(payload)
  })
  it('round-trips any valid payload', () => {
    const { payload: base } = offer()
    fc.assert(
      fc.property(
        fc.constantFrom(
          'https://a.example',
          'http://localhost:8080',
          'https://[::1]:8443',
          'https://xn--bcher-kva.example',
        ),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 1, max: MAX_LINK_LIFETIME_MS }),
        (origin, mailbox, secret, ttl) => {
          const p: LinkPayload = { ...base, origin, mailbox, secret, expires: NOW + ttl }
          expect(parseLinkPayload(encodeLinkPayload(p), NOW)).toEqual(p)
        },
      ),
    )
  })
  it('rejects expired links with LinkExpiredError', () => {
    const { link } = offer('m', NOW + 1000)
    expect(parseLinkPayload(link, NOW + 999).mailbox).toBe('m')
    expect(() => parseLinkPayload(link, NOW + 1000)).toThrow(LinkExpiredError)
    expect(() => parseLinkPayload(link, NOW + 10 ** 9)).toThrow(LinkExpiredError)
    expect(() => parseLinkPayload(offer('m', NOW + MAX_LINK_LIFETIME_MS + 1).link, NOW)).toThrow(
      LinkInvalidError,
    )
  })
  it('rejects tampered and garbage links with LinkInvalidError', () => {
    const { link, payload } = offer()
    const hash = link.indexOf('#')
    const bytes = fromBase64Url(link.slice(hash + 1))
    const withBytes = (b: Uint8Array) => `${link.slice(0, hash + 1)}${toBase64Url(b)}`
    const edit = (i: number, v: number) => {
      const b = bytes.slice()
      b[i] = v
      return withBytes(b)
    }
    const cases = [
      '',
      'airlock',
      link.slice(0, hash),
      `${link}=`,
      `${link}A`,
      link.slice(0, -1),
      `${link.slice(0, -1)}!`,
      link.replace('https://', 'ftp://'),
      link.replace('https://', 'HTTPS://'),
      link.replace('airlock.example', 'AIRLOCK.example'),
      link.replace('airlock.example', 'airlock.example:443'),
      link.replace('airlock.example', 'user@airlock.example'),
      link.replace('/link#', '/link/#'),
      link.replace('/link#', '/x/link#'),
      link.replace('/link#', '/link?a#'),
      link.replace('#', '##'),
      edit(0, 2), // unknown version
      edit(bytes.length - 1, 0x2e), // '.' in the mailbox
      edit(73, bytes[73]! + 1), // length prefix past the end
      edit(64, bytes[64]! | 0x80), // public key with the high bit set
      edit(65, 0xff), // expiry beyond 2^53
      withBytes(
        bytes.with(65, 0).with(66, 0).with(67, 0).with(68, 0).with(69, 0).with(70, 0).with(71, 0).with(72, 0),
      ),
      withBytes(new Uint8Array([...bytes.subarray(0, 33), ...new Uint8Array(32), ...bytes.subarray(65)])),
      withBytes(new Uint8Array([...bytes.subarray(0, 33), 1, ...new Uint8Array(31), ...bytes.subarray(65)])),
      withBytes(bytes.subarray(0, 74)),
      withBytes(new Uint8Array([...bytes, 0])),
      withBytes(new Uint8Array(74 + 3)),
      'x'.repeat(3000),
    ]
    for (const s of cases) expect(() => parseLinkPayload(s, NOW), s).toThrow(LinkInvalidError)
    expect(() => encodeLinkPayload({ ...payload, publicKey: new Uint8Array(32) })).toThrow(InvalidInputError)
    expect(() => parseLinkPayload(link, Number.NaN)).toThrow(InvalidInputError)
  })
  it('the parser is total on random and mutated input', () => {
    const { link } = offer()
    const mutated = fc
      .tuple(fc.nat(link.length - 1), fc.string({ maxLength: 3 }), fc.nat(3))
      .map(([i, ins, del]) => link.slice(0, i) + ins + link.slice(i + del))
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), mutated), (s) =>
        expectTyped(() => parseLinkPayload(s, NOW), LinkInvalidError, LinkExpiredError),
      ),
      { numRuns: 1000 },
    )
  })
  it('creating an offer validates its inputs', () => {
    expect(() => createLinkOffer({ origin: 'https://a.example/', mailbox: 'm', expires: NOW })).toThrow(
      InvalidInputError,
    )
    expect(() => createLinkOffer({ origin: ORIGIN, mailbox: '', expires: NOW })).toThrow(InvalidInputError)
    expect(() => createLinkOffer({ origin: ORIGIN, mailbox: 'm', expires: 1.5 })).toThrow(InvalidInputError)
  })
})

describe('QR key agreement', () => {
  it('both devices derive the same key and fingerprint', () => {
    const o = offer()
    const existing = acceptLinkOffer(parseLinkPayload(o.link, NOW))
    const fresh = completeLinkOffer(o, existing.publicKey)
    expect(fresh.key).toEqual(existing.key)
    expect(fresh.fingerprint).toBe(existing.fingerprint)
    expect(fresh.fingerprint).toMatch(/^[0-9]{4}( [0-9]{4}){5}$/)
    const sealed = sealLinkMessage(fresh.key, utf8('device keys'), utf8('new->existing'))
    expect(openLinkMessage(existing.key, sealed, utf8('new->existing'))).toEqual(utf8('device keys'))
  })
  it('a replaced ephemeral key in the QR payload yields a fingerprint mismatch', () => {
    const real = offer()
    // The attacker saw the link, swaps in its own key towards the existing device, and answers the
    // new device itself.
    const fake = createLinkOffer({
      origin: ORIGIN,
      mailbox: real.payload.mailbox,
      expires: real.payload.expires,
    })
    const substituted = { ...real.payload, publicKey: fake.payload.publicKey }
    const existing = acceptLinkOffer(parseLinkPayload(encodeLinkPayload(substituted), NOW))
    const attackerToExisting = completeLinkOffer({ ...fake, payload: substituted }, existing.publicKey)
    expect(attackerToExisting.fingerprint).toBe(existing.fingerprint)
    const attackerToNew = acceptLinkOffer(real.payload)
    const fresh = completeLinkOffer(real, attackerToNew.publicKey)
    expect(fresh.fingerprint).not.toBe(existing.fingerprint)
    expect(fresh.key).not.toEqual(existing.key)
    const sealed = sealLinkMessage(fresh.key, utf8('device keys'))
    expect(() => openLinkMessage(existing.key, sealed)).toThrow(PakeError)
  })
  it('a reply from someone without the secret cannot open or fake linking messages', () => {
    const real = offer()
    const guessed = { ...real.payload, secret: new Uint8Array(32).fill(7) }
    const attacker = acceptLinkOffer(guessed)
    const fresh = completeLinkOffer(real, attacker.publicKey)
    expect(fresh.fingerprint).not.toBe(attacker.fingerprint)
    expect(() => openLinkMessage(fresh.key, sealLinkMessage(attacker.key, utf8('evil keys')))).toThrow(
      PakeError,
    )
  })
  it('rejects malformed and low-order peer keys', () => {
    const o = offer()
    const bad = [
      new Uint8Array(31),
      new Uint8Array(32),
      Uint8Array.of(1, ...new Uint8Array(31)),
      new Uint8Array(32).fill(0xff),
    ]
    for (const k of bad) expect(() => completeLinkOffer(o, k)).toThrow(LinkInvalidError)
  })
})
