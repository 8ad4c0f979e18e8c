import { createHash } from 'node:crypto'
import type { Sha256 } from '../src/item.js'

/** SHA-256 from OpenSSL: about ten times the pure-JS one, for `sealItem`/`openItem`'s `sha256`. */
export function nodeSha256(): Sha256 {
  const h = createHash('sha256')
  return {
    update(data) {
      h.update(data)
      return this
    },
    digest: () => new Uint8Array(h.digest()),
  }
}
