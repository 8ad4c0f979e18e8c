import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromHex, toHex, utf8 } from '../src/bytes.js'
import { InvalidInputError, isAirlockError, PakeError } from '../src/errors.js'
import { generateLinkCode } from '../src/link.js'
import {
  calculateGenerator,
  cpaceIsk,
  cpaceSidOutput,
  deriveLinkSecrets,
  generatorString,
  type LinkCode,
  lvCat,
  openLinkMessage,
  PakeSession,
  prependLen,
  sampleScalar,
  scalarFromBytes,
  scalarMult,
  scalarMultVfy,
  sealLinkMessage,
  transcriptIr,
  transcriptOc,
} from '../src/pake.js'

// From the CPace draft's test vectors (cpace-testvectors.json): G_Coffee25519 is ristretto255 + SHA-512.
const V = {
  PRS: '50617373776F7264',
  CI: '0B415F696E69746961746F720B425F726573706F6E646572',
  sid: '7E4B4791D6A8EF019B936C79FB7F2C57',
  g: '222B6B195FE84B1652BADB6F6A3AE3D24341E7306967F0B8115B40D5698C7E56',
  ya: 'DA3D23700A9E5699258AEF94DC060DFDA5EBB61F02A5EA77FAD53F4FF0976D08',
  ADa: '414461',
  Ya: 'D6BAC480F2C386C394EFC7C47ADB9925DCD2630B64F240C50F8D0EEC482B9157',
  yb: 'D2316B454718C35362D83D69DF6320F38578ED5984651435E2949762D900B80D',
  ADb: '414462',
  Yb: '3EA7E0B19560D7C0B0F5734F63B955286DFA8232B5EBE63324E2D9E7433F7258',
  K: '80B69A8A76457AB6A4D7F887A4BF6B55A2F80AC19C333F917A05FC9887C8B40F',
  ISK_IR:
    'B69EFFBF61B51D56401C0F65601ABE428DE8206FEAAF0E32198896DCAE7B35CD2B38950A39DFD5D4A79164614C2984F7DAA460B588C1E80C3FA2068AF7900447',
  ISK_SY:
    '544199D71F62F8D9A1FEE55727E24FE4A45844593C2B6013C4FA3969D0E5DEBB2244675C0B43397CBB68D342B01FC0F98FC961469A25134DE9F0F813C1A57476',
  sid_output_ir:
    'BB1C449B35F0EA79A65C209F329A693D475E0CE2387BED9FE4B78F60B2A27C219813FB2CFE175EF40D2222D9261E66DA7D78F7C55A303B1B8611DCDFAB880C47',
  sid_output_oc:
    '10D5941D4933497FE31B9188D690B84465E2A2D158332A7267284A071A8D0876FC5C8C329DC735D59A9F8EF6623EE23924704A2F929DD631CA981227EE82FFF2',
}
const POINTS = {
  s: '7CD0E075FA7955BA52C02759A6C90DBBFC10E6D40AEA8D283E407D88CF538A05',
  X: '2C3C6B8C4F3800E7AEF6864025B4ED79BD599117E427C41BD47D93D654B4A51C',
  sX: '7C13645FE790A468F62C39BEB7388E541D8405D1ADE69D1778C5FE3E7F6B600E',
  invalid: [
    '2B3C6B8C4F3800E7AEF6864025B4ED79BD599117E427C41BD47D93D654B4A51C',
    '0000000000000000000000000000000000000000000000000000000000000000',
  ],
}
const h = (s: string) => fromHex(s)
const hex = (b: Uint8Array) => toHex(b).toUpperCase()

function expectPakeError(f: () => unknown): void {
  expect(f).toThrow(PakeError)
}

describe('CPace string utilities (draft appendix vectors)', () => {
  it('prepend_len and lv_cat', () => {
    expect(toHex(prependLen(new Uint8Array(0)))).toBe('00')
    expect(toHex(prependLen(utf8('1234')))).toBe('0431323334')
    const r127 = Uint8Array.from({ length: 127 }, (_, i) => i)
    const r128 = Uint8Array.from({ length: 128 }, (_, i) => i)
    expect(toHex(prependLen(r127))).toBe(`7f${toHex(r127)}`)
    expect(toHex(prependLen(r128))).toBe(`8001${toHex(r128)}`)
    expect(prependLen(new Uint8Array(300)).subarray(0, 2)).toEqual(Uint8Array.of(0xac, 0x02))
    expect(toHex(lvCat(utf8('1234'), utf8('5'), utf8(''), utf8('678')))).toBe('043132333401350003363738')
  })
  it('transcript_ir and transcript_oc', () => {
    const [a, pa, b, pb] = [utf8('123'), utf8('PartyA'), utf8('234'), utf8('PartyB')]
    expect(toHex(transcriptIr(a, pa, b, pb))).toBe('03313233065061727479410332333406506172747942')
    expect(toHex(transcriptOc(a, pa, b, pb))).toBe('6f6303323334065061727479420331323306506172747941')
    const [c, d] = [utf8('3456'), utf8('2345')]
    expect(toHex(transcriptIr(c, pa, d, pb))).toBe('043334353606506172747941043233343506506172747942')
    expect(toHex(transcriptOc(c, pa, d, pb))).toBe('6f63043334353606506172747941043233343506506172747942')
  })
})

describe('CPace G_Coffee25519 (ristretto255 + SHA-512) vectors', () => {
  it('generator string, generator, shares, K, ISK and sid_output', () => {
    const gs = generatorString(h(V.PRS), h(V.CI), h(V.sid))
    expect(gs.length).toBe(170)
    expect(toHex(gs.subarray(0, 28))).toBe('11435061636552697374726574746f3235350850617373776f726464')
    const g = calculateGenerator(h(V.PRS), h(V.CI), h(V.sid))
    expect(hex(g.toBytes())).toBe(V.g)
    const ya = scalarFromBytes(h(V.ya))
    const yb = scalarFromBytes(h(V.yb))
    expect(hex(scalarMult(ya, g))).toBe(V.Ya)
    expect(hex(scalarMult(yb, g))).toBe(V.Yb)
    const K = scalarMultVfy(ya, h(V.Yb))
    expect(hex(K)).toBe(V.K)
    expect(hex(scalarMultVfy(yb, h(V.Ya)))).toBe(V.K)
    const ir = transcriptIr(h(V.Ya), h(V.ADa), h(V.Yb), h(V.ADb))
    const oc = transcriptOc(h(V.Ya), h(V.ADa), h(V.Yb), h(V.ADb))
    expect(hex(cpaceIsk(h(V.sid), K, ir))).toBe(V.ISK_IR)
    expect(hex(cpaceIsk(h(V.sid), K, oc))).toBe(V.ISK_SY)
    expect(hex(cpaceSidOutput(ir))).toBe(V.sid_output_ir)
    expect(hex(cpaceSidOutput(oc))).toBe(V.sid_output_oc)
  })
  it('scalar_mult_vfy on valid and invalid points', () => {
    const s = scalarFromBytes(h(POINTS.s))
    expect(hex(scalarMultVfy(s, h(POINTS.X)))).toBe(POINTS.sX)
    for (const bad of POINTS.invalid) expectPakeError(() => scalarMultVfy(s, h(bad)))
    expectPakeError(() => scalarMultVfy(s, h(POINTS.X).subarray(0, 31)))
    expectPakeError(() => scalarMultVfy(s, new Uint8Array(32).fill(0xff)))
  })
  it('samples scalars below 2^252 and rejects zero scalars', () => {
    for (let i = 0; i < 50; i++) expect(sampleScalar() < 2n ** 252n).toBe(true)
    expect(() => scalarFromBytes(new Uint8Array(32))).toThrow(InvalidInputError)
    expect(() => scalarFromBytes(new Uint8Array(31))).toThrow(InvalidInputError)
  })
})

describe('deriveLinkSecrets', () => {
  it('matches an independent HKDF-SHA512 computation', () => {
    // Computed with Python's hmac/hashlib from the definition (extract, expand, 40 bits per group).
    const ikm = Uint8Array.from({ length: 64 }, (_, i) => i)
    const s = deriveLinkSecrets(ikm, utf8('salt'), utf8('transcript'))
    expect(toHex(s.key)).toBe('15c282c468d26de7173aa08fa716dc9c25109f5cb5f753504e80b6867053c679')
    expect(s.fingerprint).toBe('6900 3819 2323 6185 5306 4523')
  })
})

const CHANNEL = 'https://airlock.example account:alice'

/** Runs the linking flow: A shares, B answers with share and tag, A confirms and sends its tag. */
function link(a: PakeSession, b: PakeSession) {
  const tagB = b.receive(a.message)
  const tagA = a.receive(b.message)
  return { a: a.confirm(tagB), b: b.confirm(tagA) }
}

function pair(codeA: LinkCode, codeB = codeA, channelB = CHANNEL) {
  return [
    new PakeSession({ role: 'initiator', code: codeA, channel: CHANNEL }),
    new PakeSession({ role: 'responder', code: codeB, channel: channelB }),
  ] as const
}

function otherCode(code: LinkCode): LinkCode {
  const last = (Number(code.secret.at(-1)) + 1) % 10
  return { mailbox: code.mailbox, secret: code.secret.slice(0, -1) + String(last) }
}

describe('PakeSession', () => {
  it('same code: same key and fingerprint on both sides', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{4}$/), (mailbox) => {
        const code = generateLinkCode(mailbox)
        const r = link(...pair(code))
        expect(r.a.key).toEqual(r.b.key)
        expect(r.a.key.length).toBe(32)
        expect(r.a.fingerprint).toBe(r.b.fingerprint)
        expect(r.a.fingerprint).toMatch(/^[0-9]{4}( [0-9]{4}){5}$/)
      }),
      { numRuns: 10 },
    )
  })
  it('uses the code secret as PRS, the mailbox as sid and a labelled channel as CI', () => {
    const code = generateLinkCode('4321')
    const session = new PakeSession({ role: 'initiator', code, channel: CHANNEL }, h(V.ya))
    const g = calculateGenerator(
      utf8(code.secret),
      lvCat(utf8('airlock link v1'), utf8(CHANNEL)),
      utf8('4321'),
    )
    expect(session.message).toEqual(scalarMult(scalarFromBytes(h(V.ya)), g))
  })
  it('fresh sessions with the same code give fresh keys', () => {
    const code = generateLinkCode()
    expect(link(...pair(code)).a.key).not.toEqual(link(...pair(code)).a.key)
  })
  it('a wrong code fails on both sides and burns both sessions', () => {
    const code = generateLinkCode()
    const [a, b] = pair(code, otherCode(code))
    const tagB = b.receive(a.message)
    const tagA = a.receive(b.message)
    expectPakeError(() => a.confirm(tagB))
    expectPakeError(() => b.confirm(tagA))
    // One guess per code: the burnt sessions refuse any further attempt, even the right tag.
    expectPakeError(() => a.confirm(tagB))
    expectPakeError(() => a.receive(b.message))
    expectPakeError(() => b.receive(a.message))
  })
  it('a different channel or mailbox fails like a wrong code', () => {
    const code = generateLinkCode('1111')
    expect(() => link(...pair(code, code, 'https://evil.example account:alice'))).toThrow(PakeError)
    expect(() => link(...pair(code, { ...code, mailbox: '2222' }))).toThrow(PakeError)
  })
  it('a succeeded session cannot be reused', () => {
    const [a, b] = pair(generateLinkCode())
    const tagB = b.receive(a.message)
    a.receive(b.message)
    a.confirm(tagB)
    expectPakeError(() => a.confirm(tagB))
    expectPakeError(() => a.receive(b.message))
  })
  it('misuse burns the session', () => {
    const [a, b] = pair(generateLinkCode())
    expectPakeError(() => a.confirm(new Uint8Array(64)))
    expectPakeError(() => a.receive(b.message))
  })
  it('rejects identity, invalid and reflected shares, then stays burnt', () => {
    for (const bad of [...POINTS.invalid.map(h), new Uint8Array(5)]) {
      const [a, b] = pair(generateLinkCode())
      expectPakeError(() => a.receive(bad))
      expectPakeError(() => a.receive(b.message))
    }
    const [a] = pair(generateLinkCode())
    expectPakeError(() => a.receive(a.message))
  })
  it('a reflected tag does not confirm', () => {
    const [a, b] = pair(generateLinkCode())
    b.receive(a.message)
    const tagA = a.receive(b.message)
    expectPakeError(() => a.confirm(tagA))
  })
  it('a man in the middle with guessed codes ends in a mismatch on both sides', () => {
    const code = generateLinkCode()
    const guess1 = otherCode(code)
    const guess2 = otherCode(guess1)
    const [a, b] = pair(code)
    // The attacker answers the initiator as responder and the responder as initiator.
    const [m1, m2] = [
      new PakeSession({ role: 'responder', code: guess1, channel: CHANNEL }),
      new PakeSession({ role: 'initiator', code: guess2, channel: CHANNEL }),
    ]
    const tagM1 = m1.receive(a.message)
    const tagA = a.receive(m1.message)
    const tagB = b.receive(m2.message)
    const tagM2 = m2.receive(b.message)
    expectPakeError(() => a.confirm(tagM1))
    expectPakeError(() => b.confirm(tagM2))
    expectPakeError(() => m1.confirm(tagA))
    expectPakeError(() => m2.confirm(tagB))
  })
  it('seal/open round-trips under the shared key and fails with PakeError otherwise', () => {
    const code = generateLinkCode()
    const { a, b } = link(...pair(code))
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ maxLength: 40 }), (pt, aad) => {
        const sealed = sealLinkMessage(a.key, pt, aad)
        expect(openLinkMessage(b.key, sealed, aad)).toEqual(pt)
        const flipped = sealed.slice()
        flipped[sealed.length - 1]! ^= 1
        expectPakeError(() => openLinkMessage(b.key, flipped, aad))
        expectPakeError(() => openLinkMessage(b.key, sealed, Uint8Array.of(...aad, 0)))
      }),
      { numRuns: 50 },
    )
    const sealed = sealLinkMessage(a.key, utf8('new device keys'), utf8('new->existing'))
    const other = link(...pair(code))
    expectPakeError(() => openLinkMessage(other.b.key, sealed, utf8('new->existing')))
    expectPakeError(() => openLinkMessage(b.key, sealed, utf8('existing->new')))
    expectPakeError(() => openLinkMessage(b.key, sealed.subarray(0, 39)))
    expect(() => sealLinkMessage(new Uint8Array(16), sealed)).toThrow(InvalidInputError)
  })
  it('errors carry the PAKE code and no secret', () => {
    const code = generateLinkCode()
    const [a, b] = pair(code, otherCode(code))
    const tagB = b.receive(a.message)
    a.receive(b.message)
    try {
      a.confirm(tagB)
      expect.unreachable()
    } catch (e) {
      expect(isAirlockError(e, 'PAKE_FAILED')).toBe(true)
      expect(String((e as Error).message)).not.toContain(code.secret)
    }
  })
})
