import { describe, expect, it } from 'vitest'
import { decryptBytes } from '../src/age.js'
import { bytesStream, readAll } from '../src/byte-streams.js'
import { isAirlockError } from '../src/errors.js'
import { padmeLength } from '../src/padding.js'
import {
  createShareKeys,
  decryptShareFile,
  encryptShareFile,
  openShareManifest,
  parseShareLink,
  SHARE_MANIFEST_CONTEXT,
  type ShareKeys,
  type ShareManifest,
  sealShareManifest,
  shareFileCiphertextSize,
  shareLinkUrl,
} from '../src/share.js'

const WORK = { workFactor: 10 }

function random(n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)))
  return b
}

async function sealFiles(keys: ShareKeys, files: Uint8Array[]) {
  const blobs: Uint8Array[] = []
  const manifest: ShareManifest = {
    v: 1,
    context: SHARE_MANIFEST_CONTEXT,
    fileIdentity: keys.fileIdentity,
    files: [],
  }
  for (const [i, f] of files.entries()) {
    const enc = await encryptShareFile(keys.fileRecipient, bytesStream(f), f.length)
    blobs.push(await readAll(enc.ciphertext))
    const { size, sha256 } = enc.finish()
    expect(size).toBe(await shareFileCiphertextSize(keys.fileRecipient, f.length))
    manifest.files.push({
      name: `f${i}.bin`,
      type: '',
      size: f.length,
      mtime: 0,
      ciphertextSize: size,
      ciphertextSha256: sha256,
    })
  }
  return { blobs, manifest, sealed: await sealShareManifest(keys, manifest, WORK) }
}

async function expectCode(p: Promise<unknown>, code: string) {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  )
  expect(isAirlockError(e) ? e.code : e).toBe(code)
}

describe('share links', () => {
  it('round-trips files of edge sizes with the key from the fragment alone', async () => {
    const keys = await createShareKeys()
    expect(keys.fragment).toBe(keys.fileIdentity)
    const files = [0, 1, 65535, 65536, 65537].map(random)
    const { blobs, sealed } = await sealFiles(keys, files)
    const manifest = await openShareManifest(sealed, keys.fragment)
    for (const [i, f] of files.entries()) {
      expect(await readAll(await decryptShareFile(manifest, i, bytesStream(blobs[i]!)))).toEqual(f)
      // Standard age, Padmé-padded like items: the age tool gives the file then zero bytes.
      const padded = await decryptBytes([keys.fragment], blobs[i]!)
      expect(padded.length).toBe(padmeLength(f.length))
      expect(padded.subarray(0, f.length)).toEqual(f)
    }
  })

  it('a passphrase link needs both the fragment and the passphrase', async () => {
    const keys = await createShareKeys('hunter2 hunter2')
    expect(keys.fragment).toMatch(/^P1\.[A-Za-z0-9_-]{43}$/)
    const { sealed } = await sealFiles(keys, [new Uint8Array([1, 2, 3])])
    await expectCode(openShareManifest(sealed, keys.fragment), 'WRONG_PASSPHRASE')
    await expectCode(openShareManifest(sealed, keys.fragment, 'hunter2'), 'WRONG_PASSPHRASE')
    const other = await createShareKeys('hunter2 hunter2')
    await expectCode(openShareManifest(sealed, other.fragment, 'hunter2 hunter2'), 'WRONG_PASSPHRASE')
    const m = await openShareManifest(sealed, keys.fragment, 'hunter2 hunter2')
    expect(m.fileIdentity).toBe(keys.fileIdentity)
    expect(m.fileIdentity).not.toBe(keys.fragment)
    await expect(createShareKeys('')).rejects.toThrow()
  })

  it('another link key does not open a share; a swapped or altered file is refused', async () => {
    const keys = await createShareKeys()
    const files = [new Uint8Array(1000).fill(1), new Uint8Array(1000).fill(2)]
    const { blobs, sealed } = await sealFiles(keys, files)
    await expectCode(openShareManifest(sealed, (await createShareKeys()).fragment), 'SHARE_LINK')
    await expectCode(openShareManifest(sealed, 'junk'), 'SHARE_LINK')
    const manifest = await openShareManifest(sealed, keys.fragment)
    const open = async (blob: Uint8Array) => readAll(await decryptShareFile(manifest, 0, bytesStream(blob)))
    // The server serves file 1 as file 0: same key, same size, other hash.
    await expectCode(open(blobs[1]!), 'HASH_MISMATCH')
    const flipped = blobs[0]!.slice()
    flipped[flipped.length - 5]! ^= 1
    await expectCode(open(flipped), 'HASH_MISMATCH')
    await expectCode(open(blobs[0]!.subarray(0, 500)), 'HASH_MISMATCH')
  })

  it('parses links strictly', async () => {
    const keys = await createShareKeys()
    const url = shareLinkUrl('https://airlock.example:8465/ignored', 'AAAAAAAAAAAAAAAAAAAAAA', keys.fragment)
    expect(url).toBe(`https://airlock.example:8465/s/AAAAAAAAAAAAAAAAAAAAAA#${keys.fragment}`)
    expect(parseShareLink(url)).toEqual({
      origin: 'https://airlock.example:8465',
      shareId: 'AAAAAAAAAAAAAAAAAAAAAA',
      fragment: keys.fragment,
      needsPassphrase: false,
    })
    const p = parseShareLink(`http://h/s/BBBBBBBBBBBBBBBBBBBBBB#P1.${'x'.repeat(43)}`)
    expect(p.needsPassphrase).toBe(true)
    for (const bad of [
      'not a url',
      `ftp://h/s/AAAAAAAAAAAAAAAAAAAAAA#${keys.fragment}`,
      `https://h/s/AAAA#${keys.fragment}`,
      `https://h/x/AAAAAAAAAAAAAAAAAAAAAA#${keys.fragment}`,
      'https://h/s/AAAAAAAAAAAAAAAAAAAAAA',
      'https://h/s/AAAAAAAAAAAAAAAAAAAAAA#P1.short',
      `https://h/s/AAAAAAAAAAAAAAAAAAAAAA#${keys.fragment.toLowerCase()}`,
    ]) {
      expect(() => parseShareLink(bad), bad).toThrow(/share link|no valid key/)
    }
  })

  it('refuses a manifest that is not a share manifest', async () => {
    const keys = await createShareKeys()
    await expect(
      sealShareManifest(keys, {
        v: 1,
        context: SHARE_MANIFEST_CONTEXT,
        fileIdentity: keys.fileIdentity,
        files: [],
      }),
    ).rejects.toThrow()
  })
})
