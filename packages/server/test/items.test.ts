import { createHash, randomBytes } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Metadata } from '@tus/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, type ServerProcess, until } from '../../../test-support/harness.js'
import {
  type Actor,
  request,
  sendItem,
  slowPatch,
  startWithAlice,
  TUS,
  tusHead,
  tusPatch,
} from './api-client.js'

const MiB = 1024 * 1024
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const octets = { 'content-type': 'application/octet-stream' }

describe('items: reserve, tus upload, commit, list, ranged download, delete (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let alice: Actor
  let token: string
  let cid: string

  beforeAll(async () => {
    ;({ dir, server, alice, token } = await startWithAlice([
      '--max-item-size',
      '8M',
      '--quota',
      '20M',
      '--max-manifest-size',
      '64K',
    ]))
    cid = alice.selfConversationId
  })
  afterAll(async () => {
    await server?.stop()
    await removeDir(dir)
  })

  const list = async (since = 0) =>
    (await request(server.url, 'GET', `/conversations/${cid}/items?since=${since}`, { token })).json as {
      items: Array<Record<string, unknown>>
      more: boolean
    }

  it('uploads in resumable pieces, commits with the manifest, and lists the item', async () => {
    const blob = randomBytes(MiB + 123)
    const manifest = randomBytes(2000)
    const r = await request(server.url, 'POST', `/conversations/${cid}/items`, {
      token,
      json: { ciphertextSize: blob.length },
    })
    expect(r.status).toBe(201)
    const { itemId, uploadUrl } = r.json
    expect(itemId).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(uploadUrl).toBe(`/api/v1/uploads/${itemId}`)

    const head0 = await tusHead(server.url, token, uploadUrl)
    expect(head0.status).toBe(200)
    expect(head0.headers.get('upload-offset')).toBe('0')
    expect(head0.headers.get('upload-length')).toBe(String(blob.length))

    const p1 = await tusPatch(server.url, token, uploadUrl, 0, blob.subarray(0, 500_000))
    expect(p1.status).toBe(204)
    expect(p1.headers.get('upload-offset')).toBe('500000')
    // Not listed, not downloadable, not committable while partial.
    expect((await list()).items).toEqual([])
    expect((await request(server.url, 'GET', `/items/${itemId}/blob`, { token })).status).toBe(404)
    const early = await request(server.url, 'PUT', `/items/${itemId}/manifest`, {
      token,
      body: manifest,
      headers: octets,
    })
    expect(early.status).toBe(409)
    expect(early.json.error.code).toBe('UPLOAD_INCOMPLETE')
    // A PATCH at the wrong offset is refused without changing anything.
    expect((await tusPatch(server.url, token, uploadUrl, 0, blob.subarray(0, 10))).status).toBe(409)
    expect((await tusHead(server.url, token, uploadUrl)).headers.get('upload-offset')).toBe('500000')

    const p2 = await tusPatch(server.url, token, uploadUrl, 500_000, blob.subarray(500_000))
    expect(p2.status).toBe(204)
    expect(p2.headers.get('upload-offset')).toBe(String(blob.length))
    expect((await list()).items).toEqual([])

    const c = await request(server.url, 'PUT', `/items/${itemId}/manifest`, {
      token,
      body: manifest,
      headers: octets,
    })
    expect(c.status).toBe(200)
    expect(c.json).toEqual({ itemId, seq: 1 })
    const again = await request(server.url, 'PUT', `/items/${itemId}/manifest`, {
      token,
      body: manifest,
      headers: octets,
    })
    expect(again.status).toBe(409)
    expect(again.json.error.code).toBe('ALREADY_COMMITTED')
    expect((await tusPatch(server.url, token, uploadUrl, blob.length, new Uint8Array(1))).status).toBe(409)

    const listed = await list()
    expect(listed.more).toBe(false)
    expect(listed.items).toEqual([
      {
        itemId,
        conversationId: cid,
        seq: 1,
        deleted: false,
        ciphertextSize: blob.length,
        senderAccountId: alice.accountId,
        senderDeviceId: alice.first.record.id,
        createdAt: expect.any(Number),
        manifest: Buffer.from(manifest).toString('base64url'),
      },
    ])
    const one = await request(server.url, 'GET', `/items/${itemId}`, { token })
    expect(one.json).toEqual(listed.items[0])

    const full = await request(server.url, 'GET', `/items/${itemId}/blob`, { token })
    expect(full.status).toBe(200)
    expect(full.headers.get('content-length')).toBe(String(blob.length))
    expect(full.headers.get('accept-ranges')).toBe('bytes')
    expect(sha(full.bytes)).toBe(sha(blob))
  })

  it('keeps the bytes of a PATCH whose client dropped the connection, and resumes from them', async () => {
    const blob = randomBytes(6 * MiB)
    const r = await request(server.url, 'POST', `/conversations/${cid}/items`, {
      token,
      json: { ciphertextSize: blob.length },
    })
    const upload = slowPatch(server.url, token, r.json.uploadUrl, 0, blob)
    const staged = join(dir, 'blobs', 'staging', r.json.itemId)
    await until(async () => ((await stat(staged).catch(() => null))?.size ?? 0) >= MiB, 20_000, 'progress')
    upload.abort()
    let offset = 0
    await until(
      async () => {
        const h = await tusHead(server.url, token, r.json.uploadUrl)
        offset = Number(h.headers.get('upload-offset'))
        return h.status === 200 && offset >= MiB
      },
      10_000,
      'stored offset',
    )
    expect(offset).toBeLessThan(blob.length)
    // The dropped request may still be draining (and so still moving the offset): ask again where
    // to resume before each try, until the store accepts one.
    await until(
      async () => {
        offset = Number((await tusHead(server.url, token, r.json.uploadUrl)).headers.get('upload-offset'))
        return (
          (await tusPatch(server.url, token, r.json.uploadUrl, offset, blob.subarray(offset))).status === 204
        )
      },
      10_000,
      'resume',
    )
    const c = await request(server.url, 'PUT', `/items/${r.json.itemId}/manifest`, {
      token,
      body: randomBytes(10),
      headers: octets,
    })
    expect(c.status).toBe(200)
    expect(sha((await request(server.url, 'GET', `/items/${r.json.itemId}/blob`, { token })).bytes)).toBe(
      sha(blob),
    )
  })

  it('serves byte ranges (206, Content-Range) and 416 past the end', async () => {
    const blob = randomBytes(100_000)
    const { itemId } = await sendItem(server.url, token, cid, blob)
    const get = (range: string) =>
      request(server.url, 'GET', `/items/${itemId}/blob`, { token, headers: { range } })
    let r = await get('bytes=0-99')
    expect(r.status).toBe(206)
    expect(r.headers.get('content-range')).toBe(`bytes 0-99/${blob.length}`)
    expect(Buffer.from(r.bytes)).toEqual(blob.subarray(0, 100))
    r = await get('bytes=99990-')
    expect(r.status).toBe(206)
    expect(Buffer.from(r.bytes)).toEqual(blob.subarray(99_990))
    r = await get('bytes=-5')
    expect(Buffer.from(r.bytes)).toEqual(blob.subarray(blob.length - 5))
    r = await get('bytes=50000-999999999')
    expect(r.headers.get('content-range')).toBe(`bytes 50000-99999/${blob.length}`)
    expect(Buffer.from(r.bytes)).toEqual(blob.subarray(50_000))
    r = await get(`bytes=${blob.length}-`)
    expect(r.status).toBe(416)
    expect(r.headers.get('content-range')).toBe(`bytes */${blob.length}`)
    expect(r.json.error.code).toBe('RANGE_NOT_SATISFIABLE')
    // Several ranges, or junk: the whole blob.
    r = await get('bytes=0-1,5-6')
    expect(r.status).toBe(200)
    expect(r.bytes.length).toBe(blob.length)
    r = await get('items=0-1')
    expect(r.status).toBe(200)
  })

  it('handles an empty blob without any upload', async () => {
    const { itemId, seq } = await sendItem(server.url, token, cid, new Uint8Array(0))
    const r = await request(server.url, 'GET', `/items/${itemId}/blob`, { token })
    expect(r.status).toBe(200)
    expect(r.bytes.length).toBe(0)
    expect((await list(seq - 1)).items.map((i) => i.itemId)).toEqual([itemId])
  })

  it('accepts tus creation for a reserved item only with the declared Upload-Length', async () => {
    const size = 5000
    const r = await request(server.url, 'POST', `/conversations/${cid}/items`, {
      token,
      json: { ciphertextSize: size },
    })
    const itemId = r.json.itemId as string
    const meta = Metadata.stringify({ itemId })
    const create = (length: number, m = meta) =>
      request(server.url, 'POST', '/api/v1/uploads', {
        token,
        headers: { ...TUS, 'upload-length': String(length), 'upload-metadata': m },
      })
    expect((await create(size + 1)).status).toBe(400)
    expect((await create(size, Metadata.stringify({ itemId: 'A'.repeat(22) }))).status).toBe(404)
    expect((await create(size, '')).status).toBe(400)
    const ok = await create(size)
    expect(ok.status).toBe(201)
    expect(ok.headers.get('location')).toBe(`/api/v1/uploads/${itemId}`)
    await tusPatch(server.url, token, `/api/v1/uploads/${itemId}`, 0, randomBytes(10))
    // Once bytes are stored, creating it again would lose them.
    expect((await create(size)).status).toBe(409)
  })

  it('deletes: removes the blob and leaves a tombstone seq for syncing devices', async () => {
    const { itemId, seq } = await sendItem(server.url, token, cid, randomBytes(1000))
    const d = await request(server.url, 'DELETE', `/items/${itemId}`, { token })
    expect(d.status).toBe(200)
    expect(d.json).toEqual({ itemId, seq: seq + 1 })
    const tail = await list(seq)
    expect(tail.items).toEqual([{ itemId, conversationId: cid, seq: seq + 1, deleted: true }])
    expect((await request(server.url, 'GET', `/items/${itemId}/blob`, { token })).status).toBe(404)
    expect((await request(server.url, 'GET', `/items/${itemId}`, { token })).status).toBe(404)
    expect((await request(server.url, 'DELETE', `/items/${itemId}`, { token })).status).toBe(404)
    // The blob file is gone from disk too.
    const files = await listFiles(join(dir, 'blobs'))
    expect(files.some((f) => f.endsWith(itemId))).toBe(false)
  })

  it('cancels a reservation with DELETE (no tombstone) and frees its quota', async () => {
    const before = (await request(server.url, 'GET', '/accounts/me', { token })).json.usedBytes as number
    const r = await request(server.url, 'POST', `/conversations/${cid}/items`, {
      token,
      json: { ciphertextSize: 4 * MiB },
    })
    expect((await request(server.url, 'GET', '/accounts/me', { token })).json.usedBytes).toBe(
      before + 4 * MiB,
    )
    const d = await request(server.url, 'DELETE', `/items/${r.json.itemId}`, { token })
    expect(d.json).toEqual({ itemId: r.json.itemId, seq: null })
    expect((await request(server.url, 'GET', '/accounts/me', { token })).json.usedBytes).toBe(before)
    expect((await tusHead(server.url, token, r.json.uploadUrl)).status).toBe(404)
  })

  it('enforces the item size, manifest size and quota from declared sizes, before storing a byte', async () => {
    const reserve = (json: object) =>
      request(server.url, 'POST', `/conversations/${cid}/items`, { token, json })
    let r = await reserve({ ciphertextSize: 8 * MiB + 1 })
    expect(r.status).toBe(413)
    expect(r.json.error.code).toBe('ITEM_TOO_LARGE')
    r = await reserve({ ciphertextSize: 10, manifestSize: 65 * 1024 })
    expect(r.status).toBe(413)
    const held: string[] = []
    for (;;) {
      r = await reserve({ ciphertextSize: 7 * MiB })
      if (r.status !== 201) break
      held.push(r.json.itemId)
    }
    expect(r.status).toBe(413)
    expect(r.json.error.code).toBe('QUOTA_EXCEEDED')
    expect(held.length).toBeGreaterThanOrEqual(1)
    for (const id of held) await request(server.url, 'DELETE', `/items/${id}`, { token })

    // A manifest over the limit is refused by size.
    const { itemId } = (await reserve({ ciphertextSize: 0 })).json
    const big = await request(server.url, 'PUT', `/items/${itemId}/manifest`, {
      token,
      body: randomBytes(65 * 1024),
      headers: octets,
    })
    expect(big.status).toBe(413)
    expect(big.json.error.code).toBe('PAYLOAD_TOO_LARGE')
    const empty = await request(server.url, 'PUT', `/items/${itemId}/manifest`, {
      token,
      body: new Uint8Array(0),
      headers: octets,
    })
    expect(empty.status).toBe(400)
    const json = await request(server.url, 'PUT', `/items/${itemId}/manifest`, {
      token,
      json: { manifest: 'x' },
    })
    expect(json.status).toBe(415)
  })

  it('charges undeclared manifest bytes against the quota at commit', async () => {
    // Fill the quota to within 32 KiB with one blob, then try to commit manifests the
    // reservations never declared: each must be charged, so the quota cannot be outgrown.
    const reserve = (json: object) =>
      request(server.url, 'POST', `/conversations/${cid}/items`, { token, json })
    const me = (await request(server.url, 'GET', '/accounts/me', { token })).json
    let free = 20 * MiB - Number(me.usedBytes) - 32 * 1024
    const fillers: string[] = []
    while (free > 0) {
      const size = Math.min(free, 7 * MiB)
      const r = await reserve({ ciphertextSize: size })
      expect(r.status, JSON.stringify(r.json)).toBe(201)
      fillers.push(r.json.itemId)
      free -= size
    }
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await reserve({ ciphertextSize: 0 })).json.itemId)
    const commit = (id: string) =>
      request(server.url, 'PUT', `/items/${id}/manifest`, {
        token,
        body: randomBytes(60 * 1024),
        headers: octets,
      })
    expect((await commit(ids[0]!)).status).toBe(413)
    expect((await commit(ids[0]!)).json.error.code).toBe('QUOTA_EXCEEDED')
    for (const id of [...ids, ...fillers]) await request(server.url, 'DELETE', `/items/${id}`, { token })
  })

  it('refuses more bytes than declared and never lists a partial upload', async () => {
    const r = await request(server.url, 'POST', `/conversations/${cid}/items`, {
      token,
      json: { ciphertextSize: 100 },
    })
    const too = await tusPatch(server.url, token, r.json.uploadUrl, 0, randomBytes(101))
    expect(too.status).toBeGreaterThanOrEqual(400)
    expect(too.status).toBeLessThan(500)
    const head = await tusHead(server.url, token, r.json.uploadUrl)
    expect(Number(head.headers.get('upload-offset'))).toBeLessThanOrEqual(100)
    const all = await list()
    expect(all.items.some((i) => i.itemId === r.json.itemId)).toBe(false)
  })

  it('returns the same reservation for a retried label, and refuses it once committed', async () => {
    const label = randomBytes(16).toString('base64url')
    const reserve = (size: number) =>
      request(server.url, 'POST', `/conversations/${cid}/items`, {
        token,
        json: { ciphertextSize: size, label },
      })
    const first = await reserve(10)
    expect(first.status).toBe(201)
    const again = await reserve(10)
    expect(again.status).toBe(200)
    expect(again.json).toEqual(first.json)
    expect((await reserve(11)).status).toBe(409)
    await tusPatch(server.url, token, first.json.uploadUrl, 0, randomBytes(10))
    await request(server.url, 'PUT', `/items/${first.json.itemId}/manifest`, {
      token,
      body: randomBytes(5),
      headers: octets,
    })
    const done = await reserve(10)
    expect(done.status).toBe(409)
    expect(done.json.error.code).toBe('ALREADY_COMMITTED')
    const head = await request(server.url, 'HEAD', `/items/${first.json.itemId}/blob`, { token })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe('10')
  })

  it('pages through items by seq', async () => {
    const last = (await list()).items.at(-1)!.seq as number
    for (let i = 0; i < 3; i++) await sendItem(server.url, token, cid, randomBytes(10))
    const page = await request(server.url, 'GET', `/conversations/${cid}/items?since=${last}&limit=2`, {
      token,
    })
    expect(page.json.items.map((i: { seq: number }) => i.seq)).toEqual([last + 1, last + 2])
    expect(page.json.more).toBe(true)
    const rest = await request(server.url, 'GET', `/conversations/${cid}/items?since=${last + 2}&limit=2`, {
      token,
    })
    expect(rest.json.items.map((i: { seq: number }) => i.seq)).toEqual([last + 3])
    expect(rest.json.more).toBe(false)
    for (const q of ['since=-1', 'since=abc', 'limit=0', 'limit=501', 'since=1&x=2']) {
      const bad = await request(server.url, 'GET', `/conversations/${cid}/items?${q}`, { token })
      expect(bad.status, q).toBe(400)
    }
  })
})

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name))
  }
  return out
}
