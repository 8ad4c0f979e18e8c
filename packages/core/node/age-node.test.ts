import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateX25519Identity, identityToRecipient } from 'age-encryption'
import { afterAll, describe, expect, it } from 'vitest'
import { decryptBytes, encryptBytes, encryptStream } from '../src/age.js'
import { bytesStream, readAll } from '../src/byte-streams.js'
import { randomBytes } from '../src/bytes.js'
import { checkVector, loadVectors } from '../test/cctv.js'
import { nodeAead } from './aead.js'

const vectors = await loadVectors()
const dir = mkdtempSync(join(tmpdir(), 'airlock-age-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('node:crypto fast path', () => {
  for (const path of ['buffer', 'stream'] as const) {
    describe(`cctv-age vectors, ${path}`, () => {
      for (const v of vectors) {
        it(`${v.name} (${v.expect})`, async () => {
          await checkVector(v, path, nodeAead)
        })
      }
    })
  }

  it('produces what the portable path decrypts, and the reverse', async () => {
    const id = await generateX25519Identity()
    const r = await identityToRecipient(id)
    for (const size of [0, 1, 65535, 65536, 65537, 200_000]) {
      const data = randomBytes(size)
      const fast = await readAll(await encryptStream([r], bytesStream(data, 7777), { aead: nodeAead }))
      expect(await decryptBytes([id], fast)).toEqual(data)
      const slow = await encryptBytes([r], data)
      expect(await decryptBytes([id], slow, { aead: nodeAead })).toEqual(data)
    }
  })
})

describe('interop with the age CLI', () => {
  it('age -d decrypts what core encrypts (X25519)', async () => {
    const id = await generateX25519Identity()
    const keyFile = join(dir, 'key.txt')
    writeFileSync(keyFile, `${id}\n`, { mode: 0o600 })
    for (const size of [0, 1, 65536, 300_001]) {
      const data = randomBytes(size)
      const file = join(dir, `c-${size}.age`)
      writeFileSync(file, await encryptBytes([await identityToRecipient(id)], data, { aead: nodeAead }))
      const out = execFileSync('age', ['-d', '-i', keyFile, file], { maxBuffer: 1 << 26 })
      expect(new Uint8Array(out)).toEqual(data)
    }
  })

  it('core decrypts what age -e encrypts (X25519)', async () => {
    const id = await generateX25519Identity()
    const recipient = await identityToRecipient(id)
    for (const size of [0, 1, 65536, 300_001]) {
      const data = randomBytes(size)
      const plain = join(dir, `p-${size}`)
      writeFileSync(plain, data)
      const file = join(dir, `a-${size}.age`)
      execFileSync('age', ['-e', '-r', recipient, '-o', file, plain])
      expect(await decryptBytes([id], new Uint8Array(readFileSync(file)), { aead: nodeAead })).toEqual(data)
      expect(await decryptBytes([id], new Uint8Array(readFileSync(file)))).toEqual(data)
    }
  })

  it('age -d rejects a core file with a flipped payload bit', async () => {
    const id = await generateX25519Identity()
    const keyFile = join(dir, 'key2.txt')
    writeFileSync(keyFile, `${id}\n`, { mode: 0o600 })
    const ct = await encryptBytes([await identityToRecipient(id)], randomBytes(1000))
    ct[ct.length - 5]! ^= 1
    const file = join(dir, 'flipped.age')
    writeFileSync(file, ct)
    expect(() => execFileSync('age', ['-d', '-i', keyFile, file], { stdio: 'pipe' })).toThrow()
  })
})
