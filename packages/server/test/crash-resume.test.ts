import { createHash, randomBytes, randomInt } from 'node:crypto'
import { stat } from 'node:fs/promises'
import http from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, type ServerProcess, startServer, until } from '../../../test-support/harness.js'
import { type Actor, request, sendItem, slowPatch, startWithAlice, tusHead } from './api-client.js'

const MiB = 1024 * 1024
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

/**
 * SECURITY-TESTS 23: kill -9 of the server at random points during an upload and a download. No
 * committed item is lost or corrupted, a partial blob is never listed or served, and the
 * interrupted upload resumes to exactly the same ciphertext.
 */
describe('kill -9 during uploads and downloads (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let alice: Actor
  let token: string

  beforeAll(async () => {
    ;({ dir, server, alice, token } = await startWithAlice())
  })
  afterAll(async () => {
    await server?.stop('SIGKILL')
    await removeDir(dir)
  })

  const restart = async () => {
    await server.stop('SIGKILL')
    server = await startServer(dir)
  }
  const listIds = async () =>
    (
      await request(server.url, 'GET', `/conversations/${alice.selfConversationId}/items`, { token })
    ).json.items.map((i: { itemId: string }) => i.itemId) as string[]

  it('resumes an upload killed at random points to the same bytes, and never lists it early', async () => {
    const committed = await sendItem(server.url, token, alice.selfConversationId, randomBytes(300_000))
    const committedHash = sha(
      (await request(server.url, 'GET', `/items/${committed.itemId}/blob`, { token })).bytes,
    )

    const blob = randomBytes(24 * MiB)
    const r = await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
      token,
      json: { ciphertextSize: blob.length },
    })
    const { itemId, uploadUrl } = r.json as { itemId: string; uploadUrl: string }
    const staged = join(dir, 'blobs', 'staging', itemId)

    let offset = 0
    for (let crash = 0; crash < 3; crash++) {
      const target = offset + randomInt(1 * MiB, 5 * MiB)
      const upload = slowPatch(server.url, token, uploadUrl, offset, blob)
      await until(
        async () => ((await stat(staged).catch(() => null))?.size ?? 0) >= target,
        30_000,
        'upload progress',
      )
      await restart()
      upload.abort()
      // Sessions live in the database: the same token still works after the crash.
      const head = await tusHead(server.url, token, uploadUrl)
      expect(head.status).toBe(200)
      const now = Number(head.headers.get('upload-offset'))
      expect(now).toBeGreaterThanOrEqual(target)
      expect(now).toBeLessThan(blob.length)
      offset = now
      expect(await listIds()).toEqual([committed.itemId])
      expect((await request(server.url, 'GET', `/items/${itemId}/blob`, { token })).status).toBe(404)
    }

    const rest = await slowPatch(server.url, token, uploadUrl, offset, blob, 8 * MiB).done
    expect(rest).toBe(204)
    const c = await request(server.url, 'PUT', `/items/${itemId}/manifest`, {
      token,
      body: randomBytes(500),
      headers: { 'content-type': 'application/octet-stream' },
    })
    expect(c.status).toBe(200)
    const down = await request(server.url, 'GET', `/items/${itemId}/blob`, { token })
    expect(sha(down.bytes)).toBe(sha(blob))

    // Committed items survive a crash intact.
    await restart()
    expect(await listIds()).toEqual([committed.itemId, itemId])
    expect(sha((await request(server.url, 'GET', `/items/${committed.itemId}/blob`, { token })).bytes)).toBe(
      committedHash,
    )
    expect(sha((await request(server.url, 'GET', `/items/${itemId}/blob`, { token })).bytes)).toBe(sha(blob))
  })

  it('a download cut by kill -9 resumes with a Range request to the same bytes', async () => {
    const blob = randomBytes(16 * MiB)
    const { itemId } = await sendItem(server.url, token, alice.selfConversationId, blob)
    const got: Buffer[] = []
    let received = 0
    const cut = randomInt(1 * MiB, 8 * MiB)
    await new Promise<void>((resolve) => {
      const req = http.get(
        `${server.url}/api/v1/items/${itemId}/blob`,
        { headers: { authorization: `Bearer ${token}` } },
        (res) => {
          res.on('data', (d: Buffer) => {
            got.push(d)
            received += d.length
            if (received >= cut) {
              res.pause()
              void restart().then(() => {
                res.destroy()
                resolve()
              })
            }
          })
          res.on('error', () => {})
          res.on('end', () => resolve())
        },
      )
      req.on('error', () => {})
    })
    const prefix = Buffer.concat(got)
    expect(prefix.length).toBeLessThan(blob.length)
    const rest = await request(server.url, 'GET', `/items/${itemId}/blob`, {
      token,
      headers: { range: `bytes=${prefix.length}-` },
    })
    expect(rest.status).toBe(206)
    expect(sha(Buffer.concat([prefix, rest.bytes]))).toBe(sha(blob))
  })
})
