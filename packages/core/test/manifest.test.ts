import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { decryptBytes, encryptBytes } from '../src/age.js'
import { utf8 } from '../src/bytes.js'
import { type Canonical, canonicalJson } from '../src/canonical.js'
import { appendEntry, createGenesis, extendVerified, type VerifiedLog, verifyLog } from '../src/device-log.js'
import {
  DeviceLogError,
  DowngradeError,
  ForkError,
  IdMismatchError,
  InvalidInputError,
  ManifestError,
  NoMatchError,
  NotRecipientError,
  RollbackError,
  SignatureError,
} from '../src/errors.js'
import { type DeviceSecrets, generateDevice, signCanonical } from '../src/identity.js'
import {
  decodeSignedManifest,
  type ItemMeta,
  MANIFEST_CONTEXT,
  type Manifest,
  openManifest,
  type ResolveLog,
  sealManifest,
} from '../src/manifest.js'

let a1: DeviceSecrets
let a2: DeviceSecrets
let a3: DeviceSecrets
let b1: DeviceSecrets
let c1: DeviceSecrets
let mallory: DeviceSecrets
let alice: VerifiedLog
let bob: VerifiedLog
let carol: VerifiedLog
let logs: Map<string, VerifiedLog>
const resolve: ResolveLog = async (id) => {
  const log = logs.get(id)
  if (!log) throw new DeviceLogError('unknown account')
  return log
}

const meta: ItemMeta = {
  itemId: 'item-1',
  conversationId: 'conv-1',
  filename: 'report.pdf',
  type: 'application/pdf',
  mtime: 1_700_000_000_000,
  created: 1_700_000_000_001,
  kind: 'file',
}
const expectIds = { itemId: 'item-1', conversationId: 'conv-1' }
const HASH = 'q'.repeat(43)

function account(id: string, first: DeviceSecrets, ...more: DeviceSecrets[]): VerifiedLog {
  let v = verifyLog(id, [createGenesis(id, first)])
  for (const d of more) v = extendVerified(v, [appendEntry(v, first, 'add', d.record)])
  return v
}

beforeAll(async () => {
  const device = (name: string) => generateDevice({ name, kind: 'cli', now: 0 })
  ;[a1, a2, a3, b1, c1, mallory] = await Promise.all([
    device('A1'),
    device('A2'),
    device('A3'),
    device('B1'),
    device('C1'),
    device('Mallory'),
  ])
  alice = account('alice', a1, a2)
  bob = account('bob', b1)
  carol = account('carol', c1)
  logs = new Map([
    ['alice', alice],
    ['bob', bob],
    ['carol', carol],
  ])
})

function seal(extra: Partial<ItemMeta> = {}) {
  return sealManifest({
    sender: { device: a1, log: alice },
    recipients: [{ log: alice }, { log: bob }],
    meta: { ...meta, ...extra },
    ciphertextSha256: HASH,
    ciphertextSize: 1000,
    plaintextSize: 900,
  })
}

const open = (
  sealed: Uint8Array,
  device: DeviceSecrets,
  more: { accountId?: string; expect?: typeof expectIds } = {},
) => openManifest({ sealed, device, expect: expectIds, resolveLog: resolve, ...more })

/** The decrypted `{manifest, sig}` payload of a sealed manifest, as a co-recipient sees it. */
async function payloadOf(sealed: Uint8Array, device: DeviceSecrets): Promise<Uint8Array> {
  return decryptBytes([device.ageIdentity], sealed, { policy: 'pq' })
}

function signed(manifest: Manifest, signer?: DeviceSecrets): Uint8Array {
  const m = manifest as Canonical
  return utf8(
    canonicalJson(
      signer ? { manifest: m, sig: signCanonical(signer, MANIFEST_CONTEXT, m) } : { manifest: m },
    ),
  )
}

const to = (devices: DeviceSecrets[], payload: Uint8Array) =>
  encryptBytes(
    devices.map((d) => d.record.recipient),
    payload,
  )

describe('item manifest', () => {
  it('round-trips to every recipient device', async () => {
    const { manifest, sealed } = await seal({ label: 'Q3' })
    for (const d of [a1, a2, b1]) expect(await open(sealed, d)).toEqual(manifest)
    expect(manifest.sender).toEqual({
      accountId: 'alice',
      deviceId: a1.record.id,
      logSeq: 1,
      logHead: alice.head,
    })
    expect(manifest.recipients.map((r) => r.deviceId)).toEqual([a1.record.id, a2.record.id, b1.record.id])
    expect(manifest).toMatchObject({ v: 1, context: MANIFEST_CONTEXT, label: 'Q3', ciphertextSha256: HASH })
    expect(await open(sealed, b1, { accountId: 'bob' })).toEqual(manifest)
    const { manifest: m2 } = await seal({ label: undefined })
    expect('label' in m2).toBe(false)
  })

  it('is unreadable for other devices (age NoMatchError)', async () => {
    const { sealed } = await seal()
    await expect(open(sealed, c1)).rejects.toBeInstanceOf(NoMatchError)
  })

  it('SECURITY-10: an age file to my device with no manifest, unsigned, or signed outside the log is rejected', async () => {
    const { sealed } = await seal()
    const { manifest } = decodeSignedManifest(await payloadOf(sealed, b1))
    await expect(open(await to([b1], utf8('just a file')), b1)).rejects.toBeInstanceOf(ManifestError)
    await expect(open(await to([b1], signed(manifest)), b1)).rejects.toBeInstanceOf(SignatureError)
    // Mallory's key is in nobody's log: neither as A1 nor under her own id in Alice's account.
    await expect(open(await to([b1], signed(manifest, mallory)), b1)).rejects.toBeInstanceOf(SignatureError)
    const asMallory = { ...manifest, sender: { ...manifest.sender, deviceId: mallory.record.id } }
    await expect(open(await to([b1], signed(asMallory, mallory)), b1)).rejects.toBeInstanceOf(SignatureError)
    // Altered after signing.
    const payload = JSON.parse(new TextDecoder().decode(await payloadOf(sealed, b1)))
    payload.manifest.filename = 'invoice.exe'
    const altered = utf8(canonicalJson(payload))
    await expect(open(await to([b1], altered), b1)).rejects.toBeInstanceOf(SignatureError)
  })

  it('SECURITY-12: a re-signed manifest is attributed to the re-signer; a forwarded one is rejected', async () => {
    const { sealed } = await seal()
    const { manifest } = decodeSignedManifest(await payloadOf(sealed, b1))
    const resigned: Manifest = {
      ...manifest,
      sender: { accountId: 'carol', deviceId: c1.record.id, logSeq: carol.seq, logHead: carol.head },
    }
    const opened = await open(await to([b1], signed(resigned, c1)), b1)
    expect(opened.sender.accountId).toBe('carol')
    // Claiming to be Alice with Carol's key fails.
    await expect(open(await to([b1], signed(manifest, c1)), b1)).rejects.toBeInstanceOf(SignatureError)
    // Bob forwards Alice's genuine signed manifest to Carol, who is not a recipient.
    const forwarded = await to([c1], await payloadOf(sealed, b1))
    await expect(open(forwarded, c1)).rejects.toBeInstanceOf(NotRecipientError)
    // Addressed to this device under another account.
    await expect(open(sealed, b1, { accountId: 'carol' })).rejects.toBeInstanceOf(NotRecipientError)
  })

  it('rejects a manifest for another item or conversation (IdMismatchError)', async () => {
    const { sealed } = await seal()
    for (const expect_ of [
      { ...expectIds, itemId: 'item-2' },
      { ...expectIds, conversationId: 'conv-2' },
    ]) {
      await expect(open(sealed, b1, { expect: expect_ })).rejects.toBeInstanceOf(IdMismatchError)
    }
  })

  it('checks the signer against the current verified log and the position the sender saw', async () => {
    const { sealed } = await seal()
    const original = logs.get('alice')!
    try {
      // A1 removed since: its items are no longer trusted.
      logs.set('alice', extendVerified(alice, [appendEntry(alice, a2, 'remove', a1.record)]))
      await expect(open(sealed, b1)).rejects.toBeInstanceOf(SignatureError)
      // The server serves Alice's log from before the position A1 signed.
      logs.set('alice', verifyLog('alice', alice.entries.slice(0, 1)))
      await expect(open(sealed, b1)).rejects.toBeInstanceOf(RollbackError)
      // ... or a different history at that position.
      logs.set('alice', account('alice', a1, a3))
      await expect(open(sealed, b1)).rejects.toBeInstanceOf(ForkError)
      // A resolver that returns an unverified object or another account's log.
      logs.set('alice', { ...alice })
      await expect(open(sealed, b1)).rejects.toBeInstanceOf(DeviceLogError)
      logs.set('alice', bob)
      await expect(open(sealed, b1)).rejects.toBeInstanceOf(DeviceLogError)
    } finally {
      logs.set('alice', original)
    }
  })

  it('is never accepted from X25519 stanzas (DowngradeError)', async () => {
    const { sealed } = await seal()
    const payload = await payloadOf(sealed, b1)
    const classic = await encryptBytes([b1.record.x25519Recipient], payload)
    await expect(open(classic, b1)).rejects.toBeInstanceOf(DowngradeError)
  })

  it('is only built from verified logs and valid metadata', async () => {
    const base = {
      sender: { device: a1, log: alice },
      recipients: [{ log: bob }],
      meta,
      ciphertextSha256: HASH,
      ciphertextSize: 10,
      plaintextSize: 5,
    }
    await expect(sealManifest({ ...base, recipients: [{ log: { ...bob } }] })).rejects.toBeInstanceOf(
      DeviceLogError,
    )
    await expect(
      sealManifest({ ...base, recipients: [{ log: bob, devices: [mallory.record.id] }] }),
    ).rejects.toBeInstanceOf(InvalidInputError)
    await expect(sealManifest({ ...base, recipients: [] })).rejects.toBeInstanceOf(InvalidInputError)
    await expect(sealManifest({ ...base, sender: { device: mallory, log: alice } })).rejects.toBeInstanceOf(
      InvalidInputError,
    )
    await expect(sealManifest({ ...base, meta: { ...meta, itemId: '../x' } })).rejects.toBeInstanceOf(
      InvalidInputError,
    )
    await expect(sealManifest({ ...base, plaintextSize: 11 })).rejects.toBeInstanceOf(InvalidInputError)
    const { manifest } = await sealManifest({
      ...base,
      recipients: [{ log: alice, devices: [a2.record.id] }],
    })
    expect(manifest.recipients).toEqual([{ accountId: 'alice', deviceId: a2.record.id, logHead: alice.head }])
  })

  it('decodes any input to a typed error or a canonical manifest (fuzz)', async () => {
    const { sealed } = await seal({ label: 'x' })
    const good = await payloadOf(sealed, b1)
    const text = new TextDecoder().decode(good)
    const value = JSON.parse(text)
    expect(decodeSignedManifest(good).manifest.filename).toBe('report.pdf')
    for (const bad of [` ${text}`, text.replace('"v":1', '"v": 1'), text.replace('{', '{"x":1,')]) {
      expect(() => decodeSignedManifest(utf8(bad))).toThrow(ManifestError)
    }
    const keys = Object.keys(value.manifest)
    const mutated = fc
      .tuple(fc.constantFrom(...keys), fc.jsonValue())
      .map(([k, v]) => JSON.stringify({ ...value, manifest: { ...value.manifest, [k]: v } }))
    const input = fc.oneof(
      fc.jsonValue().map((v) => utf8(JSON.stringify(v) ?? '')),
      mutated.map(utf8),
      fc.uint8Array({ maxLength: 64 }),
    )
    fc.assert(
      fc.property(input, (bytes) => {
        try {
          const d = decodeSignedManifest(bytes)
          expect(utf8(canonicalJson({ manifest: d.manifest as Canonical, sig: d.sig }))).toEqual(bytes)
        } catch (e) {
          expect([ManifestError, SignatureError].some((c) => e instanceof c)).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })
})
