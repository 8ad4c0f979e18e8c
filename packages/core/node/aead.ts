import { createCipheriv, createDecipheriv } from 'node:crypto'
import type { ChunkAead } from '../src/stream.js'

/**
 * ChaCha20-Poly1305 from OpenSSL through `node:crypto`: about 20× the pure-JS cipher. It sits
 * behind core's `ChunkAead` interface, so the age format code and its vectors are shared.
 */
export const nodeAead: ChunkAead = {
  seal(key, nonce, plaintext) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
    // Buffer.copy is a plain memcpy; TypedArray.set from a Buffer takes a much slower path.
    const out = Buffer.allocUnsafe(plaintext.length + 16)
    c.update(plaintext).copy(out, 0)
    c.final()
    c.getAuthTag().copy(out, plaintext.length)
    return out
  },
  open(key, nonce, sealed) {
    if (sealed.length < 16) throw new Error('short chunk')
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
    d.setAuthTag(sealed.subarray(sealed.length - 16))
    const body = d.update(sealed.subarray(0, sealed.length - 16))
    d.final()
    return new Uint8Array(body.buffer, body.byteOffset, body.length)
  },
}
