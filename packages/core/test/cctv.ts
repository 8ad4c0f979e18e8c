import { sha256 } from '@noble/hashes/sha2.js'
import * as cctv from 'cctv-age'
import { expect } from 'vitest'
import {
  armorDecode,
  decryptBytes,
  decryptBytesWithPassphrase,
  decryptStream,
  decryptStreamWithPassphrase,
} from '../src/age.js'
import { bytesStream, readAll } from '../src/byte-streams.js'
import { toHex } from '../src/bytes.js'
import { AirlockError } from '../src/errors.js'
import type { ChunkAead } from '../src/stream.js'
import { drain } from './drain.js'

/** One vector of the community age test suite (the `cctv-age` package). */
export interface Vector {
  name: string
  expect: 'success' | 'no match' | 'HMAC failure' | 'header failure' | 'payload failure' | 'armor failure'
  payload: string | undefined
  identities: string[]
  passphrases: string[]
  armored: boolean
  compressed: boolean
  body: Uint8Array
}

export async function loadVectors(): Promise<Vector[]> {
  const out: Vector[] = []
  for (const [name, data] of Object.entries(cctv as unknown as Record<string, unknown>)) {
    if (!(data instanceof Uint8Array)) continue
    let end = 0
    while (!(data[end] === 0x0a && data[end + 1] === 0x0a)) end++
    const lines = new TextDecoder().decode(data.subarray(0, end)).split('\n')
    const v: Vector = {
      name,
      expect: 'success',
      payload: undefined,
      identities: [],
      passphrases: [],
      armored: false,
      compressed: false,
      body: data.subarray(end + 2),
    }
    for (const line of lines) {
      const i = line.indexOf(': ')
      const [k, val] = [line.slice(0, i), line.slice(i + 2)]
      if (k === 'expect') v.expect = val as Vector['expect']
      else if (k === 'payload') v.payload = val
      else if (k === 'identity') v.identities.push(val)
      else if (k === 'passphrase') v.passphrases.push(val)
      else if (k === 'armored') v.armored = val === 'yes'
      else if (k === 'compressed') v.compressed = val === 'zlib'
    }
    if (v.compressed)
      v.body = await readAll(
        bytesStream(v.body).pipeThrough(
          new DecompressionStream('deflate') as unknown as TransformStream<Uint8Array, Uint8Array>,
        ),
      )
    out.push(v)
  }
  return out
}

const EXPECTED_CODES: Record<Vector['expect'], string[]> = {
  success: [],
  'no match': ['NO_MATCH'],
  'HMAC failure': ['HEADER_MAC'],
  'header failure': ['HEADER'],
  'payload failure': ['PAYLOAD_AUTH', 'TRUNCATED'],
  'armor failure': ['ARMOR'],
}

export type Path = 'buffer' | 'stream' | 'byte-by-byte'

/**
 * Runs one vector through one decrypt path and checks the outcome: the plaintext hash on
 * success, the error class otherwise, and for payload failures on a streaming path the hash of
 * the plaintext released before the error.
 */
export async function checkVector(v: Vector, path: Path, aead?: ChunkAead): Promise<void> {
  let released: Uint8Array = new Uint8Array(0)
  let error: unknown = null
  try {
    const file = v.armored ? armorDecode(new TextDecoder().decode(v.body)) : v.body
    const opts = aead ? { aead } : {}
    if (path === 'buffer') {
      released =
        v.passphrases.length > 0
          ? await decryptBytesWithPassphrase(v.passphrases[0]!, file, opts)
          : await decryptBytes(v.identities, file, opts)
    } else {
      const input = path === 'byte-by-byte' ? byteByByte(file) : bytesStream(file, 4096)
      const plain =
        v.passphrases.length > 0
          ? await decryptStreamWithPassphrase(v.passphrases[0]!, input, opts)
          : await decryptStream(v.identities, input, opts)
      const drained = await drain(plain)
      released = drained.released
      if (drained.error !== null) throw drained.error
    }
  } catch (e) {
    error = e
  }
  if (v.expect === 'success') {
    if (error) throw error
    expect(toHex(sha256(released))).toBe(v.payload)
    return
  }
  expect(error, `${v.name} must fail`).toBeInstanceOf(AirlockError)
  expect(EXPECTED_CODES[v.expect]).toContain((error as AirlockError).code)
  if (v.expect === 'payload failure' && path !== 'buffer' && v.payload) {
    expect(toHex(sha256(released))).toBe(v.payload)
  }
}

/**
 * Byte by byte for files up to 256 KiB. Larger vectors (257 chunks) would take minutes that way,
 * so they get single bytes for the first 140 KiB (header, nonce, two chunk boundaries) and then
 * pieces of prime sizes that straddle every later chunk boundary at a different offset.
 */
function byteByByte(data: Uint8Array): ReadableStream<Uint8Array> {
  const sizes = [65537, 1, 4093, 7, 1, 3]
  let off = 0
  let i = 0
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (off >= data.length) {
          controller.close()
          return
        }
        const n = data.length <= 256 * 1024 || off < 140 * 1024 ? 1 : sizes[i++ % sizes.length]!
        controller.enqueue(data.slice(off, off + n))
        off += n
      },
    },
    { highWaterMark: 0 },
  )
}
