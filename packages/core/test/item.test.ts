import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { Decrypter } from 'age-encryption'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { decryptBytes, encryptBytes } from '../src/age.js'
import { bytesStream, readAll } from '../src/byte-streams.js'
import { concatBytes, randomBytes, toBase64Url, utf8 } from '../src/bytes.js'
import { type Canonical, canonicalJson } from '../src/canonical.js'
import { appendEntry, createGenesis, extendVerified, type VerifiedLog, verifyLog } from '../src/device-log.js'
import {
  DowngradeError,
  HashMismatchError,
  IdMismatchError,
  InvalidInputError,
  SignatureError,
} from '../src/errors.js'
import { type DeviceSecrets, generateDevice, signCanonical } from '../src/identity.js'
import { openItem, openItemBytes, openItemEarly, sealItem, sealItemBytes } from '../src/item.js'
import {
  decodeSignedManifest,
  type ItemMeta,
  MANIFEST_CONTEXT,
  type RecipientSet,
  sealManifest,
} from '../src/manifest.js'
import { padmeLength } from '../src/padding.js'
import { type ChunkAead, encryptStream as encryptSTREAM, nobleAead } from '../src/stream.js'
import { drain } from './drain.js'

let a1: DeviceSecrets
let a2: DeviceSecrets
let b1: DeviceSecrets
let alice: VerifiedLog
let bob: VerifiedLog
const resolveLog = async (id: string) => (id === 'alice' ? alice : bob)

const meta = (itemId = 'item-T'): ItemMeta => ({
  itemId,
  conversationId: 'conv-1',
  filename: 'plan.txt',
  type: 'text/plain',
  mtime: 1,
  created: 2,
  kind: 'file',
})

beforeAll(async () => {
  const device = (name: string) => generateDevice({ name, kind: 'cli', now: 0 })
  ;[a1, a2, b1] = await Promise.all([device('A1'), device('A2'), device('B1')])
  alice = verifyLog('alice', [createGenesis('alice', a1)])
  alice = extendVerified(alice, [appendEntry(alice, a1, 'add', a2.record)])
  bob = verifyLog('bob', [createGenesis('bob', b1)])
})

/** Splits `data` into pieces at the given (sorted, deduplicated) cut points. */
function pieces(data: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((x, y) => x - y)
  const parts: Uint8Array[] = []
  let last = 0
  for (const p of [...points, data.length]) {
    if (p > last) parts.push(data.slice(last, p))
    last = Math.max(last, p)
  }
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(p)
      c.close()
    },
  })
}

/** Hybrid KEM operations dominate small items, so most tests address Bob's single device. */
async function send(
  data: Uint8Array,
  opts: { itemId?: string; cuts?: number[]; aead?: ChunkAead; recipients?: RecipientSet[] } = {},
) {
  const item = await sealItem({
    plaintext: pieces(data, opts.cuts ?? []),
    size: data.length,
    meta: meta(opts.itemId),
    sender: { device: a1, log: alice },
    recipients: opts.recipients ?? [{ log: bob }],
    aead: opts.aead,
  })
  const ciphertext = await readAll(item.ciphertext)
  return { ciphertext, ...(await item.finish()) }
}

const receive = (
  sealed: Uint8Array,
  blob: Uint8Array | (() => ReadableStream<Uint8Array>),
  device = b1,
  itemId = 'item-T',
) =>
  openItem({
    sealed,
    expect: { itemId, conversationId: 'conv-1' },
    device,
    resolveLog,
    ciphertext: { stream: typeof blob === 'function' ? blob : () => bytesStream(blob, 65536) },
  })

/**
 * What a co-recipient can do: unwrap the file key from a header addressed to it, and encrypt a
 * payload of its choice under the same header and nonce.
 */
async function forgeSameHeader(blob: Uint8Array, identity: string, padded: Uint8Array): Promise<Uint8Array> {
  let end = 0
  for (let i = 0; i + 3 < blob.length && end === 0; i++) {
    if (blob[i] === 0x0a && blob[i + 1] === 0x2d && blob[i + 2] === 0x2d && blob[i + 3] === 0x2d) {
      end = blob.indexOf(0x0a, i + 1) + 1
    }
  }
  const header = blob.subarray(0, end)
  const nonce = blob.subarray(end, end + 16)
  const d = new Decrypter()
  d.addIdentity(identity)
  const key = hkdf(sha256, await d.decryptHeader(header), nonce, utf8('payload'), 32)
  const body = await readAll(bytesStream(padded).pipeThrough(encryptSTREAM(key)))
  return concatBytes(header, nonce, body)
}

/** The blob truncated by one byte, extended by one, and with a bit flipped in its last chunk. */
function damaged(ciphertext: Uint8Array): Uint8Array[] {
  const flipped = ciphertext.slice()
  flipped[flipped.length - 5]! ^= 1
  return [ciphertext.subarray(0, ciphertext.length - 1), concatBytes(ciphertext, new Uint8Array(1)), flipped]
}

function stanzaTypes(blob: Uint8Array): string[] {
  const text = new TextDecoder().decode(blob.subarray(0, 64 * 1024))
  const header = text.slice(0, text.indexOf('\n---'))
  return header
    .split('\n')
    .filter((l) => l.startsWith('-> '))
    .map((l) => l.split(' ')[1]!)
}

describe('items', () => {
  it('round-trip sizes around the chunk boundary, in random pieces', async () => {
    for (const size of [0, 1, 1000, 65535, 65536, 65537, 131075]) {
      const data = randomBytes(size)
      const { ciphertext, sealed, manifest } = await send(data, { cuts: [7, 65536, 1000, size - 1] })
      expect(manifest).toMatchObject({ plaintextSize: size, ciphertextSize: ciphertext.length })
      expect(manifest.ciphertextSha256).toBe(toBase64Url(sha256(ciphertext)))
      expect(ciphertext.length).toBeGreaterThanOrEqual(padmeLength(size))
      const opened = await receive(sealed, ciphertext)
      expect(opened.manifest).toEqual(manifest)
      expect(await readAll(opened.plaintext)).toEqual(data)
    }
  })

  it('opens for every addressed device of several accounts', async () => {
    const data = randomBytes(70_000)
    const { ciphertext, sealed } = await send(data, { recipients: [{ log: alice }, { log: bob }] })
    for (const d of [a1, a2, b1])
      expect(await readAll((await receive(sealed, ciphertext, d)).plaintext)).toEqual(data)
  })

  it('round-trip random sizes and split points (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 100_000 }), fc.array(fc.nat(), { maxLength: 6 }), async (size, cuts) => {
        const data = randomBytes(size)
        const { ciphertext, sealed } = await send(data, { cuts })
        expect(await readAll((await receive(sealed, ciphertext)).plaintext)).toEqual(data)
      }),
      { numRuns: 6 },
    )
  })

  it('round-trips notes through the bytes helpers', async () => {
    const note = utf8('call me at 3')
    const { ciphertext, sealed } = await sealItemBytes({
      plaintext: note,
      meta: { ...meta('note-1'), kind: 'note', filename: '' },
      sender: { device: a1, log: alice },
      recipients: [{ log: alice }],
    })
    const opened = await openItemBytes({
      sealed,
      ciphertext,
      expect: { itemId: 'note-1', conversationId: 'conv-1' },
      device: a2,
      resolveLog,
    })
    expect(opened.plaintext).toEqual(note)
    expect(opened.manifest.kind).toBe('note')
  })

  it('signs only a fully produced ciphertext of the declared size', async () => {
    const input = {
      size: 10,
      meta: meta(),
      sender: { device: a1, log: alice },
      recipients: [{ log: bob }],
    }
    const early = await sealItem({ ...input, plaintext: bytesStream(new Uint8Array(10)) })
    await expect(early.finish()).rejects.toBeInstanceOf(InvalidInputError)
    const long = await sealItem({ ...input, plaintext: bytesStream(new Uint8Array(11)) })
    await expect(readAll(long.ciphertext)).rejects.toBeInstanceOf(InvalidInputError)
    await expect(long.finish()).rejects.toBeInstanceOf(InvalidInputError)
    await expect(
      sealItem({ ...input, plaintext: bytesStream(new Uint8Array(10)), size: -1 }),
    ).rejects.toBeInstanceOf(InvalidInputError)
    await expect(
      sealItem({ ...input, plaintext: bytesStream(new Uint8Array(10)), meta: { ...meta(), type: 'bad\n' } }),
    ).rejects.toBeInstanceOf(InvalidInputError)
  })

  it('SECURITY-9: another item’s blob for item T is rejected', async () => {
    const t = await send(utf8('item T'))
    const u = await send(utf8('item U'), { itemId: 'item-U' })
    await expect(receive(t.sealed, u.ciphertext)).rejects.toBeInstanceOf(HashMismatchError)
    await expect(receive(u.sealed, u.ciphertext)).rejects.toBeInstanceOf(IdMismatchError)
  })

  it('rejects a truncated, extended or altered blob before releasing anything', async () => {
    const { ciphertext, sealed } = await send(randomBytes(70_000))
    for (const bad of damaged(ciphertext)) {
      await expect(receive(sealed, bad)).rejects.toBeInstanceOf(HashMismatchError)
    }
  })

  it('SECURITY-11: a co-recipient reusing the header with another payload is rejected', async () => {
    const data = utf8('the real plan')
    const { ciphertext, sealed } = await send(data, { recipients: [{ log: alice }, { log: bob }] })
    const evil = new Uint8Array(padmeLength(data.length)).fill(0)
    evil.set(utf8('the evil plan'))
    const forged = await forgeSameHeader(ciphertext, b1.ageIdentity, evil)
    expect(forged.length).toBe(ciphertext.length)
    // age alone cannot tell: the forged file decrypts for every recipient.
    expect(await decryptBytes([a2.ageIdentity], forged)).toEqual(evil)
    await expect(receive(sealed, forged, a2)).rejects.toBeInstanceOf(HashMismatchError)
    // Re-sending it "as Alice" needs a manifest over the new hash, which only Alice can sign.
    const { manifest } = decodeSignedManifest(await decryptBytes([b1.ageIdentity], sealed))
    const m = { ...manifest, ciphertextSha256: toBase64Url(sha256(forged)) } as Canonical
    const payload = utf8(canonicalJson({ manifest: m, sig: signCanonical(b1, MANIFEST_CONTEXT, m) }))
    const resealed = await encryptBytes([a2.record.recipient], payload)
    await expect(receive(resealed, forged, a2)).rejects.toBeInstanceOf(SignatureError)
  })

  it('fails the plaintext stream if the second read differs from the checked one', async () => {
    const data = randomBytes(200_000)
    const { ciphertext, sealed } = await send(data, { recipients: [{ log: alice }, { log: bob }] })
    const evil = new Uint8Array(padmeLength(data.length))
    const forged = await forgeSameHeader(ciphertext, b1.ageIdentity, evil)
    let reads = 0
    const opened = await receive(sealed, () => bytesStream(reads++ === 0 ? ciphertext : forged, 65536), a2)
    const { released, error } = await drain(opened.plaintext)
    expect(error).toBeInstanceOf(HashMismatchError)
    expect(released.length).toBeLessThan(data.length)
  })

  it('never carries X25519 stanzas for PQ devices, and refuses them (DowngradeError)', async () => {
    const { ciphertext } = await send(utf8('pq'), { recipients: [{ log: alice }, { log: bob }] })
    expect(stanzaTypes(ciphertext)).toEqual(['mlkem768x25519', 'mlkem768x25519', 'mlkem768x25519'])
    // A sender that encrypts the blob to classic keys is refused even with a valid signature.
    const padded = new Uint8Array(padmeLength(2))
    padded.set(utf8('pq'))
    const classic = await encryptBytes([b1.record.x25519Recipient], padded)
    expect(stanzaTypes(classic)).toEqual(['X25519'])
    const { sealed } = await sealManifest({
      sender: { device: a1, log: alice },
      recipients: [{ log: bob }],
      meta: meta(),
      ciphertextSha256: toBase64Url(sha256(classic)),
      ciphertextSize: classic.length,
      plaintextSize: 2,
    })
    await expect(receive(sealed, classic)).rejects.toBeInstanceOf(DowngradeError)
  })

  it('single-pass opening still refuses an altered blob before its last chunk', async () => {
    const data = randomBytes(3 * 65536 + 5)
    const { ciphertext, sealed } = await send(data)
    const open = (blob: Uint8Array) =>
      openItem({
        sealed,
        expect: { itemId: 'item-T', conversationId: 'conv-1' },
        device: b1,
        resolveLog,
        ciphertext: { stream: () => bytesStream(blob, 65536) },
        passes: 1,
      })
    expect(await readAll((await open(ciphertext)).plaintext)).toEqual(data)
    const bad = ciphertext.slice()
    bad[bad.length - 1]! ^= 1
    const { released, error } = await drain((await open(bad)).plaintext)
    expect(error).toBeInstanceOf(HashMismatchError)
    expect(released.length).toBeLessThan(data.length)
  })

  it('uses a pluggable SHA-256 for sealing and opening', async () => {
    let updates = 0
    const counting = () => {
      const h = sha256.create()
      return {
        update: (d: Uint8Array) => {
          updates++
          return h.update(d)
        },
        digest: () => h.digest(),
      }
    }
    const data = randomBytes(70_000)
    const item = await sealItem({
      plaintext: bytesStream(data),
      size: data.length,
      meta: meta(),
      sender: { device: a1, log: alice },
      recipients: [{ log: bob }],
      sha256: counting,
    })
    const ciphertext = await readAll(item.ciphertext)
    const { sealed } = await item.finish()
    expect(updates).toBeGreaterThan(0)
    const before = updates
    const opened = await openItem({
      sealed,
      expect: { itemId: 'item-T', conversationId: 'conv-1' },
      device: b1,
      resolveLog,
      ciphertext: { stream: () => bytesStream(ciphertext) },
      sha256: counting,
    })
    expect(await readAll(opened.plaintext)).toEqual(data)
    expect(updates).toBeGreaterThan(before)
  })

  it('passes a pluggable AEAD through to the payload', async () => {
    let calls = 0
    const counting: ChunkAead = {
      seal: (k, n, p) => {
        calls++
        return nobleAead.seal(k, n, p)
      },
      open: (k, n, s) => {
        calls++
        return nobleAead.open(k, n, s)
      },
    }
    const data = randomBytes(100_000)
    const { ciphertext, sealed } = await send(data, { aead: counting })
    const sealCalls = calls
    expect(sealCalls).toBeGreaterThanOrEqual(2)
    const opened = await openItem({
      sealed,
      expect: { itemId: 'item-T', conversationId: 'conv-1' },
      device: b1,
      resolveLog,
      ciphertext: { stream: () => bytesStream(ciphertext) },
      aead: counting,
    })
    expect(await readAll(opened.plaintext)).toEqual(data)
    expect(calls).toBeGreaterThan(sealCalls + 1)
  })
})

/** Opens early (as a receiver following an upload would), then finishes with the manifest. */
async function receiveEarly(sealed: Uint8Array, blob: Uint8Array, device = b1, itemId = 'item-T') {
  const early = await openItemEarly({ device, ciphertext: bytesStream(blob, 65536) })
  const padded = await readAll(early.padded, 1 << 30)
  const manifest = await early.finish({ sealed, expect: { itemId, conversationId: 'conv-1' }, resolveLog })
  return { manifest, plaintext: padded.subarray(0, manifest.plaintextSize) }
}

describe('opening an item while it is uploaded (openItemEarly)', () => {
  it('round-trips sizes around the chunk boundary, padding included', async () => {
    for (const n of [0, 1, 65535, 65536, 65537, 200_000]) {
      const data = randomBytes(n)
      const { ciphertext, sealed } = await send(data)
      const { manifest, plaintext } = await receiveEarly(sealed, ciphertext)
      expect(plaintext).toEqual(data)
      expect(manifest.plaintextSize).toBe(n)
    }
  })

  it('SECURITY-9: another item’s blob, or this one truncated, extended or altered, does not finish', async () => {
    const t = await send(utf8('item T'))
    const u = await send(utf8('item U'), { itemId: 'item-U' })
    await expect(receiveEarly(t.sealed, u.ciphertext)).rejects.toBeInstanceOf(HashMismatchError)
    const { ciphertext, sealed } = await send(randomBytes(70_000))
    // Each fails, as the payload (a chunk that does not authenticate) or at finish (the hash).
    for (const bad of damaged(ciphertext)) {
      await expect(receiveEarly(sealed, bad)).rejects.toThrow()
    }
  })

  it('SECURITY-11: a co-recipient reusing the header with another payload fails at finish', async () => {
    const data = utf8('the real plan')
    const { ciphertext, sealed } = await send(data, { recipients: [{ log: alice }, { log: bob }] })
    const evil = new Uint8Array(padmeLength(data.length)).fill(0)
    evil.set(utf8('the evil plan'))
    const forged = await forgeSameHeader(ciphertext, b1.ageIdentity, evil)
    // The forged payload decrypts chunk by chunk; only the signed hash tells, at the end.
    const early = await openItemEarly({ device: a2, ciphertext: bytesStream(forged) })
    expect(await readAll(early.padded)).toEqual(evil)
    await expect(
      early.finish({ sealed, expect: { itemId: 'item-T', conversationId: 'conv-1' }, resolveLog }),
    ).rejects.toBeInstanceOf(HashMismatchError)
  })

  it('refuses a manifest that hides non-zero bytes in the padding, and finishing twice or too soon', async () => {
    // A sender signs plaintextSize 1000 over a payload whose "padding" carries data.
    expect(padmeLength(1000)).toBe(1024)
    const padded = randomBytes(1024)
    padded[padded.length - 1] = 7
    const blob = await encryptBytes([b1.record.recipient], padded)
    const m = await sealManifest({
      sender: { device: a1, log: alice },
      recipients: [{ log: bob }],
      meta: meta(),
      ciphertextSha256: toBase64Url(sha256(blob)),
      ciphertextSize: blob.length,
      plaintextSize: 1000,
    })
    await expect(receiveEarly(m.sealed, blob)).rejects.toBeInstanceOf(InvalidInputError)
    // The ordinary path refuses it too.
    const opened = await receive(m.sealed, blob)
    expect((await drain(opened.plaintext)).error).toBeInstanceOf(InvalidInputError)

    const { ciphertext, sealed } = await send(utf8('once'))
    const early = await openItemEarly({ device: b1, ciphertext: bytesStream(ciphertext) })
    const expect_ = { sealed, expect: { itemId: 'item-T', conversationId: 'conv-1' }, resolveLog }
    await expect(early.finish(expect_)).rejects.toBeInstanceOf(InvalidInputError)
    await readAll(early.padded)
    expect((await early.finish(expect_)).plaintextSize).toBe(4)
    await expect(early.finish(expect_)).rejects.toBeInstanceOf(InvalidInputError)
  })

  it('refuses X25519-only stanzas at once, before any payload (DowngradeError)', async () => {
    const padded = new Uint8Array(padmeLength(2))
    const classic = await encryptBytes([b1.record.x25519Recipient], padded)
    await expect(openItemEarly({ device: b1, ciphertext: bytesStream(classic) })).rejects.toBeInstanceOf(
      DowngradeError,
    )
  })
})
