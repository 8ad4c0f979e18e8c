import { decryptStream, encryptStream, generateDevice } from '@airlock/core'

/**
 * The browser's own crypto speed (for `npm run bench`): age-encrypts `sizeMiB` MiB to a fresh
 * post-quantum device key with core, then decrypts it, in this worker, and reports MB/s.
 * Uses no account and touches no stored key.
 */
export async function cryptoBench(
  sizeMiB: number,
): Promise<{ sizeMiB: number; encryptMBps: number; decryptMBps: number }> {
  const device = await generateDevice({ name: 'bench', kind: 'web' })
  const block = new Uint8Array(1024 * 1024)
  for (let i = 0; i < block.length; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536))
  let sent = 0
  const plaintext = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent === sizeMiB) return c.close()
      sent++
      c.enqueue(block.slice())
    },
  })
  const chunks: Uint8Array[] = []
  let t = performance.now()
  const reader = (await encryptStream([device.record.recipient], plaintext)).getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
  }
  const encryptSeconds = (performance.now() - t) / 1000
  let i = 0
  const ciphertext = new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks[i++]
      if (next) c.enqueue(next)
      else c.close()
    },
  })
  t = performance.now()
  const out = (await decryptStream([device.ageIdentity], ciphertext, { policy: 'pq' })).getReader()
  let n = 0
  for (;;) {
    const { done, value } = await out.read()
    if (done) break
    n += value.length
  }
  const decryptSeconds = (performance.now() - t) / 1000
  if (n !== sizeMiB * 1024 * 1024) throw new Error('decrypted size differs')
  const bytes = sizeMiB * 1024 * 1024
  return { sizeMiB, encryptMBps: bytes / encryptSeconds / 1e6, decryptMBps: bytes / decryptSeconds / 1e6 }
}
