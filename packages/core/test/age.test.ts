import { generateHybridIdentity, generateX25519Identity, identityToRecipient } from 'age-encryption'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  agePrefixSize,
  decryptBytes,
  decryptBytesWithPassphrase,
  decryptStream,
  encryptBytes,
  encryptBytesWithPassphrase,
  encryptStream,
} from '../src/age.js'
import { bytesStream, readAll } from '../src/byte-streams.js'
import { concatBytes, randomBytes, utf8 } from '../src/bytes.js'
import { AirlockError } from '../src/errors.js'
import { CHUNK_SIZE, TAG_SIZE } from '../src/stream.js'
import { drain } from './drain.js'

let x: { id: string; r: string }
let pq: { id: string; r: string }
beforeAll(async () => {
  const xid = await generateX25519Identity()
  const pid = await generateHybridIdentity()
  x = { id: xid, r: await identityToRecipient(xid) }
  pq = { id: pid, r: await identityToRecipient(pid) }
})

const SEALED = CHUNK_SIZE + TAG_SIZE

/** Decrypts by streaming and returns what was released and the error, if any. */
async function attempt(file: Uint8Array, identities = [x.id], policy?: 'pq') {
  let result: { released: Uint8Array; error: unknown }
  try {
    const s = await decryptStream(identities, bytesStream(file, 5000), policy ? { policy } : {})
    result = await drain(s)
  } catch (error) {
    result = { released: new Uint8Array(0), error }
  }
  if (result.error !== null && !(result.error instanceof AirlockError)) throw result.error
  return result as { released: Uint8Array; error: AirlockError | null }
}

function headerLength(file: Uint8Array): number {
  const text = new TextDecoder('latin1').decode(file)
  return text.indexOf('\n', text.indexOf('\n---') + 1) + 1
}

describe('round trips (SECURITY-TESTS 5)', () => {
  const sizes = [0, 1, 65535, 65536, 65537, 131072, 131073, 3 * 65536 + 7]
  for (const size of sizes) {
    it(`${size} bytes, X25519 and hybrid`, async () => {
      const data = randomBytes(size)
      for (const k of [x, pq]) {
        const ct = await encryptBytes([k.r], data)
        expect(ct.length - headerLength(ct)).toBe(
          16 + size + TAG_SIZE * Math.max(1, Math.ceil(size / CHUNK_SIZE)),
        )
        expect(await decryptBytes([k.id], ct)).toEqual(data)
      }
    })
  }

  it('random sizes and random split points of the input and the ciphertext', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 * CHUNK_SIZE + 100 }),
        fc.integer({ min: 1, max: 70_000 }),
        fc.integer({ min: 1, max: 70_000 }),
        async (size, inPiece, outPiece) => {
          const data = randomBytes(size)
          const ct = await readAll(await encryptStream([x.r], bytesStream(data, inPiece)))
          const back = await readAll(await decryptStream([x.id], bytesStream(ct, outPiece)))
          expect(back).toEqual(data)
        },
      ),
      { numRuns: 25 },
    )
  })

  it('several recipients each decrypt', async () => {
    const other = await generateX25519Identity()
    const data = utf8('to both')
    const ct = await encryptBytes([x.r, await identityToRecipient(other)], data)
    expect(await decryptBytes([x.id], ct)).toEqual(data)
    expect(await decryptBytes([other], ct)).toEqual(data)
  })

  it('passphrase round trip, and the wrong passphrase does not match', async () => {
    const data = randomBytes(70_000)
    const ct = await encryptBytesWithPassphrase('correct horse battery staple', data, { workFactor: 10 })
    expect(await decryptBytesWithPassphrase('correct horse battery staple', ct)).toEqual(data)
    await expect(decryptBytesWithPassphrase('wrong', ct)).rejects.toMatchObject({ code: 'NO_MATCH' })
  })
})

describe('bit flips (SECURITY-TESTS 2)', () => {
  it('a flipped bit anywhere fails with a typed error and releases nothing past the damage', async () => {
    const data = randomBytes(3 * CHUNK_SIZE + 100)
    const ct = await encryptBytes([x.r], data)
    const h = headerLength(ct)
    const body = h + 16
    const places: [string, number, string[]][] = [
      ['version line', 3, ['HEADER']],
      [
        'stanza argument',
        'age-encryption.org/v1\n-> X25519 '.length + 2,
        ['HEADER', 'HEADER_MAC', 'NO_MATCH'],
      ],
      ['stanza body', h - 50 - 45, ['HEADER', 'HEADER_MAC', 'NO_MATCH']],
      ['MAC', h - 10, ['HEADER', 'HEADER_MAC']],
      ['nonce', h + 3, ['PAYLOAD_AUTH']],
      ['chunk 0', body + 10, ['PAYLOAD_AUTH']],
      ['middle chunk', body + SEALED + 100, ['PAYLOAD_AUTH']],
      ['last chunk', ct.length - 3, ['PAYLOAD_AUTH']],
      ['last tag', ct.length - 1, ['PAYLOAD_AUTH']],
    ]
    for (const [what, at, codes] of places) {
      const bad = ct.slice()
      bad[at]! ^= 0x04
      const { released, error } = await attempt(bad)
      expect(error, what).not.toBeNull()
      expect(codes, what).toContain(error!.code)
      const chunkIndex = at < body ? 0 : Math.floor((at - body) / SEALED)
      expect(released.length, what).toBeLessThanOrEqual(chunkIndex * CHUNK_SIZE)
      expect(released, what).toEqual(data.subarray(0, released.length))
      await expect(decryptBytes([x.id], bad), what).rejects.toBeInstanceOf(AirlockError)
    }
  })
})

describe('truncation and trailing data (SECURITY-TESTS 3)', () => {
  it('fails at every chunk boundary and mid-chunk', async () => {
    const data = randomBytes(3 * CHUNK_SIZE)
    const ct = await encryptBytes([x.r], data)
    const body = headerLength(ct) + 16
    const cuts = [
      body,
      body + 1,
      body + 15,
      body + SEALED - 1,
      body + SEALED,
      body + SEALED + 1,
      body + 2 * SEALED,
    ]
    cuts.push(body + 2 * SEALED + 7, ct.length - 1, ct.length - TAG_SIZE)
    for (const cut of cuts) {
      const { error } = await attempt(ct.subarray(0, cut))
      expect(['TRUNCATED', 'PAYLOAD_AUTH'], `cut at ${cut - body}`).toContain(error?.code)
      await expect(decryptBytes([x.id], ct.subarray(0, cut))).rejects.toBeInstanceOf(AirlockError)
    }
    for (const cut of [5, headerLength(ct) - 1, headerLength(ct) + 8]) {
      const { error } = await attempt(ct.subarray(0, cut))
      expect(error?.code).toBe('HEADER')
    }
  })

  it('rejects garbage after the final chunk and two final chunks', async () => {
    const ct = await encryptBytes([x.r], randomBytes(1000))
    expect((await attempt(concatBytes(ct, new Uint8Array([0])))).error?.code).toBe('PAYLOAD_AUTH')
    expect((await attempt(concatBytes(ct, randomBytes(SEALED)))).error?.code).toBe('PAYLOAD_AUTH')
    const h = headerLength(ct) + 16
    const twice = concatBytes(ct, ct.subarray(h))
    expect((await attempt(twice)).error?.code).toBe('PAYLOAD_AUTH')
    const full = await encryptBytes([x.r], randomBytes(CHUNK_SIZE))
    const fh = headerLength(full) + 16
    expect(await attempt(concatBytes(full, full.subarray(fh)))).toMatchObject({
      error: { code: 'PAYLOAD_AUTH' },
    })
  })
})

describe('chunks reordered, duplicated or dropped (SECURITY-TESTS 4)', () => {
  it('fails at the first misplaced chunk', async () => {
    const data = randomBytes(4 * CHUNK_SIZE + 10)
    const ct = await encryptBytes([x.r], data)
    const prefix = ct.subarray(0, headerLength(ct) + 16)
    const chunks: Uint8Array[] = []
    for (let o = prefix.length; o < ct.length; o += SEALED) chunks.push(ct.subarray(o, o + SEALED))
    expect(chunks.length).toBe(5)
    const variants: [string, Uint8Array[], number][] = [
      ['swap 1 and 2', [chunks[0]!, chunks[2]!, chunks[1]!, chunks[3]!, chunks[4]!], 1],
      ['duplicate 1', [chunks[0]!, chunks[1]!, chunks[1]!, chunks[2]!, chunks[3]!, chunks[4]!], 2],
      ['drop 2', [chunks[0]!, chunks[1]!, chunks[3]!, chunks[4]!], 2],
      ['drop the last', chunks.slice(0, 4), 4],
      ['last moved first', [chunks[4]!, ...chunks.slice(0, 4)], 0],
    ]
    for (const [what, order, firstBad] of variants) {
      const { released, error } = await attempt(concatBytes(prefix, ...order))
      expect(error, what).not.toBeNull()
      expect(released, what).toEqual(data.subarray(0, firstBad * CHUNK_SIZE))
    }
  })
})

describe('header strictness (SECURITY-TESTS 6)', () => {
  async function mutateHeader(f: (text: string) => string): Promise<AirlockError | null> {
    const ct = await encryptBytes([x.r], utf8('hello'))
    const h = headerLength(ct)
    const text = f(new TextDecoder().decode(ct.subarray(0, h)))
    return (await attempt(concatBytes(utf8(text), ct.subarray(h)))).error
  }
  it('rejects CRLF, long lines, extra arguments, bad base64 and missing MAC', async () => {
    const cases: [string, (t: string) => string][] = [
      ['CRLF', (t) => t.replaceAll('\n', '\r\n')],
      ['non-canonical base64 in MAC', (t) => t.replace(/(--- \S{42})\S/, '$1B')],
      ['padded MAC', (t) => t.replace(/(--- \S+)\n/, '$1=\n')],
      ['extra argument', (t) => t.replace('-> X25519 ', '-> X25519 extra ')],
      ['missing argument', (t) => t.replace(/-> X25519 \S+/, '-> X25519')],
      ['long body line', (t) => t.replace(/\n([A-Za-z0-9+/]{43})\n---/, '\n$1AAAAAAAAAAAAAAAAAAAAAAAA\n---')],
      ['wrong version', (t) => t.replace('v1', 'v2')],
      ['no MAC line', (t) => t.replace(/--- .*\n$/, '')],
      ['space after MAC', (t) => t.replace(/\n$/, ' \n')],
      ['short share', (t) => t.replace(/-> X25519 (\S+)/, (_m, s: string) => `-> X25519 ${s.slice(0, 40)}`)],
      ['low-order share', (t) => t.replace(/-> X25519 \S+/, `-> X25519 ${'A'.repeat(43)}`)],
    ]
    for (const [what, f] of cases) {
      const e = await mutateHeader(f)
      expect(e, what).not.toBeNull()
      expect(['HEADER', 'HEADER_MAC'], what).toContain(e!.code)
    }
  })

  it('rejects scrypt mixed with other stanzas', async () => {
    const pass = await encryptBytesWithPassphrase('pw', utf8('x'), { workFactor: 4 })
    const scryptLines = new TextDecoder()
      .decode(pass.subarray(0, headerLength(pass)))
      .split('\n')
      .slice(1, 3)
    const e = await mutateHeader((t) => t.replace('\n', `\n${scryptLines.join('\n')}\n`))
    expect(['HEADER', 'HEADER_MAC']).toContain(e?.code)
  })

  it('refuses headers larger than the limit', async () => {
    const ct = await encryptBytes([x.r], utf8('x'))
    const huge = concatBytes(
      utf8('age-encryption.org/v1\n'),
      utf8(`-> grease ${'a'.repeat(40)}\n\n`.repeat(4000)),
      ct.subarray(22),
    )
    const s = await decryptStream([x.id], bytesStream(huge), { maxHeaderSize: 64 * 1024 }).catch(
      (e: unknown) => e,
    )
    expect(s).toMatchObject({ code: 'LIMIT' })
  })

  it('never throws anything but typed errors on random input', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (junk) => {
        const input = fc.sample(fc.boolean(), 1)[0]
          ? concatBytes(utf8('age-encryption.org/v1\n'), junk)
          : junk
        const { error } = await attempt(input)
        expect(error).toBeInstanceOf(AirlockError)
      }),
      { numRuns: 300 },
    )
  })
})

describe('downgrade (SECURITY-TESTS 8)', () => {
  it('refuses to mix post-quantum and classic recipients', async () => {
    await expect(encryptBytes([pq.r, x.r], utf8('x'))).rejects.toMatchObject({ code: 'DOWNGRADE' })
  })
  it('a PQ-only policy refuses X25519 and passphrase files', async () => {
    const classic = await encryptBytes([x.r], utf8('x'))
    expect((await attempt(classic, [pq.id, x.id], 'pq')).error?.code).toBe('DOWNGRADE')
    const pass = await encryptBytesWithPassphrase('pw', utf8('x'), { workFactor: 4 })
    expect((await attempt(pass, [pq.id], 'pq')).error?.code).toBe('DOWNGRADE')
    const good = await encryptBytes([pq.r], utf8('x'))
    expect((await attempt(good, [pq.id], 'pq')).released).toEqual(utf8('x'))
    const header = new TextDecoder().decode(good.subarray(0, headerLength(good)))
    expect(
      header
        .split('\n')
        .filter((l) => l.startsWith('-> '))
        .every((l) => l.startsWith('-> mlkem768x25519 ')),
    ).toBe(true)
  })
  it('identities never accept a passphrase stanza', async () => {
    const pass = await encryptBytesWithPassphrase('pw', utf8('x'), { workFactor: 4 })
    expect((await attempt(pass, [x.id])).error?.code).toBe('NO_MATCH')
  })
})

describe('agePrefixSize', () => {
  it('is the header and nonce encryption writes, for 1 to 4 recipients of each kind', async () => {
    for (const kind of ['x25519', 'pq'] as const) {
      const recipients: string[] = []
      for (let n = 1; n <= 4; n++) {
        const id = kind === 'pq' ? await generateHybridIdentity() : await generateX25519Identity()
        recipients.push(await identityToRecipient(id))
        const empty = await encryptBytes(recipients, new Uint8Array(0))
        expect(agePrefixSize(recipients), `${n} ${kind}`).toBe(empty.length - TAG_SIZE)
      }
    }
  })

  it('does not guess for a recipient it does not know', () => {
    expect(agePrefixSize([x.r, 'age1yubikey1qwerty'])).toBeNull()
    expect(agePrefixSize(['age1tag1xyz'])).toBeNull()
    expect(agePrefixSize([`${x.r}x`])).toBeNull()
  })
})
