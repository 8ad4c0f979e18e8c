// The web app's crypto worker in Debian's Chromium: age encrypt and decrypt MB/s of the same
// size, next to core in Node (the same JavaScript AEAD, and the node:crypto fast path).
import { decryptStream, encryptStream, generateDevice } from '@airlock/core'
import { nodeAead } from '@airlock/core/node'
import { chromium } from 'playwright-core'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../chromium.mjs'

/** Encrypt and decrypt MB/s in the browser worker of the app served at `url`. */
export async function browserCrypto(url, sizeMiB) {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] })
  try {
    const page = await browser.newPage()
    await page.goto(`${url}/#bench-${sizeMiB}`)
    const pre = page.getByTestId('bench')
    await page.waitForFunction(
      () => !document.querySelector('[data-testid=bench]')?.textContent?.startsWith('running'),
      null,
      { timeout: 600_000 },
    )
    const r = JSON.parse(await pre.textContent())
    if (r.error) throw new Error(`browser bench failed: ${r.error}`)
    return r
  } finally {
    await browser.close()
  }
}

/** The same measurement in this Node process, with core's default AEAD or node:crypto's. */
export async function nodeCrypto(sizeMiB, aead) {
  const device = await generateDevice({ name: 'bench', kind: 'cli' })
  const block = new Uint8Array(1024 * 1024)
  crypto.getRandomValues(block.subarray(0, 65536))
  let sent = 0
  const plaintext = new ReadableStream({
    pull(c) {
      if (sent === sizeMiB) return c.close()
      sent++
      c.enqueue(block.slice())
    },
  })
  const chunks = []
  let t = performance.now()
  for await (const c of await encryptStream([device.record.recipient], plaintext, { aead })) chunks.push(c)
  const enc = (performance.now() - t) / 1000
  let i = 0
  const ciphertext = new ReadableStream({
    pull(c) {
      const next = chunks[i++]
      if (next) c.enqueue(next)
      else c.close()
    },
  })
  t = performance.now()
  let n = 0
  for await (const c of await decryptStream([device.ageIdentity], ciphertext, { policy: 'pq', aead }))
    n += c.length
  const dec = (performance.now() - t) / 1000
  if (n !== sizeMiB * 1024 * 1024) throw new Error('decrypted size differs')
  const bytes = sizeMiB * 1024 * 1024
  return { sizeMiB, encryptMBps: bytes / enc / 1e6, decryptMBps: bytes / dec / 1e6 }
}

export { nodeAead }
