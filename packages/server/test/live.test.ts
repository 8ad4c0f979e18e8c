import { createHash, randomBytes } from 'node:crypto'
import { readdir, readlink, rm } from 'node:fs/promises'
import http from 'node:http'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, type ServerProcess, startServer, tempDir, until } from '../../../test-support/harness.js'
import type { FollowedBlob } from '../src/storage/blob/blob-store.js'
import { LocalBlobStore } from '../src/storage/blob/local-blob-store.js'
import {
  type Actor,
  createAccount,
  login,
  pushSocket,
  request,
  sendItem,
  startWithAlicePhoneAndBob,
  tusPatch,
} from './api-client.js'
import { s3Args, startS3Server } from './services.js'

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * `GET /items/:id/live` with a plain HTTP client that records every byte as it arrives and how
 * the response ended: `complete` only if the body reached its content-length and ended cleanly.
 */
function follow(base: string, token: string, itemId: string) {
  const chunks: Buffer[] = []
  let received = 0
  let status = 0
  let headers: http.IncomingHttpHeaders = {}
  let settled = false
  let res: http.IncomingMessage | null = null
  const req = http.get(`${base}/api/v1/items/${itemId}/live`, {
    headers: { authorization: `Bearer ${token}` },
  })
  const responded = new Promise<void>((resolve, reject) => {
    req.once('response', (r) => {
      res = r
      status = r.statusCode ?? 0
      headers = r.headers
      resolve()
    })
    req.once('error', reject)
  })
  // Awaited by the tests that need it; a failed test must not add an unhandled rejection.
  responded.catch(() => {})
  const done = new Promise<{ complete: boolean; error: string | null; ms: number }>((resolve) => {
    const finish = (error: string | null) => {
      if (settled) return
      settled = true
      resolve({ complete: error === null && (res?.complete ?? false), error, ms: Date.now() - t0 })
    }
    req.once('error', (e) => finish(e.message))
    req.once('response', (r) => {
      r.on('data', (d: Buffer) => {
        chunks.push(d)
        received += d.length
      })
      r.once('aborted', () => finish('aborted'))
      r.once('error', (e) => finish(e.message))
      r.once('end', () => finish(r.complete ? null : 'incomplete'))
      r.once('close', () => finish(r.complete ? null : 'closed before the end'))
    })
  })
  let t0 = Date.now()
  return {
    responded,
    done,
    status: () => status,
    headers: () => headers,
    received: () => received,
    bytes: () => Buffer.concat(chunks),
    /** Restarts the clock `done` measures from. */
    mark: () => {
      t0 = Date.now()
    },
    close: () => req.destroy(),
  }
}

describe('following an upload in progress: GET /items/:id/live (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let alice: Actor
  let laptop: string
  let phone: { token: string; id: string }
  let bob: string

  beforeAll(async () => {
    ;({ dir, server, alice, token: laptop, phone, bob } = await startWithAlicePhoneAndBob())
  })
  afterAll(async () => {
    await server?.stop()
    await removeDir(dir)
  })

  const reserve = async (size: number) => {
    const r = await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
      token: laptop,
      json: { ciphertextSize: size },
    })
    expect(r.status, JSON.stringify(r.json)).toBe(201)
    return r.json as { itemId: string; uploadUrl: string }
  }
  const commit = (itemId: string) =>
    request(server.url, 'PUT', `/items/${itemId}/manifest`, {
      token: laptop,
      body: randomBytes(300),
      headers: { 'content-type': 'application/octet-stream' },
    })

  it('streams exactly the uploaded bytes to another device as each PATCH lands, then the committed blob whole', async () => {
    // Pieces of odd sizes, one larger than the store's 1 MiB write and read batches.
    const sizes = [1, 99_999, 1_500_000, 4096, 700_001]
    const blob = randomBytes(sizes.reduce((a, b) => a + b, 0))
    const { itemId, uploadUrl } = await reserve(blob.length)

    // The follower asks before a single byte is uploaded (the server sends its headers with the
    // first byte).
    const live = follow(server.url, phone.token, itemId)
    let offset = 0
    for (const size of sizes) {
      await sleep(300)
      // Nothing is sent ahead of the upload.
      expect(live.received()).toBe(offset)
      const p = await tusPatch(server.url, laptop, uploadUrl, offset, blob.subarray(offset, offset + size))
      expect(p.status).toBe(204)
      offset += size
      if (offset === size) {
        await live.responded
        expect(live.status()).toBe(200)
        expect(live.headers()['content-length']).toBe(String(blob.length))
        expect(live.headers()['content-type']).toBe('application/octet-stream')
        expect(live.headers()['cache-control']).toBe('no-store')
      }
      // Each piece reaches the follower while the upload is still in progress.
      await until(() => live.received() >= offset, 5000, `the follower to receive ${offset} bytes`)
      expect(sha(live.bytes())).toBe(sha(blob.subarray(0, offset)))
    }
    // The last PATCH completes the response, before any commit.
    const end = await live.done
    expect(end).toMatchObject({ complete: true, error: null })
    expect(live.received()).toBe(blob.length)
    expect(sha(live.bytes())).toBe(sha(blob))

    // A device that starts following midway still gets everything from byte 0.
    expect((await commit(itemId)).status).toBe(200)
    const whole = follow(server.url, phone.token, itemId)
    await whole.responded
    expect(whole.status()).toBe(200)
    expect(whole.headers()['content-length']).toBe(String(blob.length))
    expect(await whole.done).toMatchObject({ complete: true, error: null })
    expect(sha(whole.bytes())).toBe(sha(blob))
    // The sending device itself may follow too (any device of a member account).
    const own = await request(server.url, 'GET', `/items/${itemId}/live`, { token: laptop })
    expect(own.status).toBe(200)
    expect(sha(own.bytes)).toBe(sha(blob))
  })

  it('a follower that joins midway gets the stored prefix at once and the rest as it comes', async () => {
    const blob = randomBytes(300_000)
    const { itemId, uploadUrl } = await reserve(blob.length)
    expect((await tusPatch(server.url, laptop, uploadUrl, 0, blob.subarray(0, 200_000))).status).toBe(204)
    const live = follow(server.url, phone.token, itemId)
    await live.responded
    expect(live.status()).toBe(200)
    await until(() => live.received() >= 200_000, 5000, 'the stored prefix')
    await sleep(300)
    expect(live.received()).toBe(200_000)
    expect((await tusPatch(server.url, laptop, uploadUrl, 200_000, blob.subarray(200_000))).status).toBe(204)
    expect(await live.done).toMatchObject({ complete: true })
    expect(sha(live.bytes())).toBe(sha(blob))
    // An empty item is served at once, empty.
    const empty = await reserve(0)
    const e = await request(server.url, 'GET', `/items/${empty.itemId}/live`, { token: phone.token })
    expect(e.status).toBe(200)
    expect(e.headers.get('content-length')).toBe('0')
    expect(e.bytes.length).toBe(0)
  })

  it("publishes an upload event to the members' devices when an item is reserved, and to no one else", async () => {
    const onPhone = await pushSocket(server.url, phone.token)
    const onLaptop = await pushSocket(server.url, laptop)
    const onBob = await pushSocket(server.url, bob)
    try {
      const { itemId, uploadUrl } = await reserve(1234)
      const expected = {
        type: 'upload',
        conversationId: alice.selfConversationId,
        itemId,
        deviceId: alice.first.record.id,
      }
      await until(() => onPhone.uploads().length > 0, 5000, 'the upload event on the phone')
      expect(onPhone.uploads()).toEqual([expected])
      await until(() => onLaptop.uploads().length > 0, 5000, 'the upload event on the laptop')
      expect(onLaptop.uploads()).toEqual([expected])
      // The event names an item the phone can follow right away.
      const live = follow(server.url, phone.token, itemId)
      const blob = randomBytes(1234)
      await sleep(200)
      expect((await tusPatch(server.url, laptop, uploadUrl, 0, blob)).status).toBe(204)
      await live.responded
      expect(live.status()).toBe(200)
      expect(live.headers()['content-length']).toBe('1234')
      expect(await live.done).toMatchObject({ complete: true })
      expect(sha(live.bytes())).toBe(sha(blob))
      expect(onBob.uploads()).toEqual([])
    } finally {
      for (const s of [onPhone, onLaptop, onBob]) s.ws.close()
    }
  })

  it('breaks off, short of content-length, within seconds when the sender abandons the upload', async () => {
    const blob = randomBytes(1_000_000)
    const { itemId, uploadUrl } = await reserve(blob.length)
    const live = follow(server.url, phone.token, itemId)
    await sleep(200)
    expect((await tusPatch(server.url, laptop, uploadUrl, 0, blob.subarray(0, 300_000))).status).toBe(204)
    await live.responded
    expect(live.status()).toBe(200)
    expect(live.headers()['content-length']).toBe(String(blob.length))
    await until(() => live.received() >= 300_000, 5000, 'the first piece')
    await sleep(500)
    live.mark()
    expect((await request(server.url, 'DELETE', `/items/${itemId}`, { token: laptop })).status).toBe(200)
    const end = await Promise.race([live.done, sleep(5000).then(() => 'still open' as const)])
    expect(end).not.toBe('still open')
    if (end === 'still open') return
    expect(end.complete).toBe(false)
    expect(end.error).not.toBeNull()
    expect(end.ms).toBeLessThan(3000)
    expect(live.received()).toBe(300_000)
    expect(sha(live.bytes())).toBe(sha(blob.subarray(0, 300_000)))
    // And the abandoned item is gone for followers.
    expect((await request(server.url, 'GET', `/items/${itemId}/live`, { token: phone.token })).status).toBe(
      404,
    )
  })

  it('another account gets 404 for a reserved item, a committed item and an unknown id; no token 401', async () => {
    const reserved = await reserve(5000)
    await tusPatch(server.url, laptop, reserved.uploadUrl, 0, randomBytes(1000))
    const secret = randomBytes(2000)
    const committed = await sendItem(server.url, laptop, alice.selfConversationId, secret)
    for (const id of [reserved.itemId, committed.itemId]) {
      // Through the streaming client, so a wrongly served upload fails here instead of hanging.
      const r = follow(server.url, bob, id)
      await r.responded
      const status = r.status()
      if (status !== 404) r.close()
      expect(status).toBe(404)
      await r.done
      expect(JSON.parse(r.bytes().toString()).error.code).toBe('NOT_FOUND')
      expect(r.bytes().toString('hex')).not.toContain(secret.subarray(0, 32).toString('hex'))
      expect((await request(server.url, 'GET', `/items/${id}/live`)).status).toBe(401)
    }
    for (const id of [randomBytes(16).toString('base64url'), 'nope', '..%2F..%2Fetc']) {
      const r = await request(server.url, 'GET', `/items/${id}/live`, { token: laptop })
      expect(r.status, id).toBe(404)
      expect(r.json?.error?.code).toBe('NOT_FOUND')
    }
    // Bob's refusals left no trace in the access log; a member still follows the reservation.
    const accesses = await request(server.url, 'GET', `/items/${committed.itemId}/accesses`, {
      token: laptop,
    })
    expect(accesses.json.accesses).toEqual([])
    const live = follow(server.url, phone.token, reserved.itemId)
    await live.responded
    expect(live.status()).toBe(200)
    await until(() => live.received() >= 1000, 5000, 'the stored prefix')
    live.close()
  })

  it('records every live GET in the access log before the first byte', async () => {
    const blob = randomBytes(50_000)
    const { itemId, uploadUrl } = await reserve(blob.length)
    const accesses = async () => {
      const r = await request(server.url, 'GET', `/items/${itemId}/accesses`, { token: laptop })
      expect(r.status).toBe(200)
      return r.json.accesses as { seq: number; accountId: string; deviceId: string; address: string }[]
    }
    expect(await accesses()).toEqual([])
    const live = follow(server.url, phone.token, itemId)
    // Recorded while nothing has been uploaded, let alone sent.
    let log: Awaited<ReturnType<typeof accesses>> = []
    await until(
      async () => {
        log = await accesses()
        return log.length > 0
      },
      5000,
      'the access to be recorded',
    )
    expect(live.received()).toBe(0)
    expect(log).toMatchObject([
      { seq: 1, accountId: alice.accountId, deviceId: phone.id, address: '127.0.0.1' },
    ])
    expect((await tusPatch(server.url, laptop, uploadUrl, 0, blob)).status).toBe(204)
    await live.responded
    expect(live.status()).toBe(200)
    expect(await live.done).toMatchObject({ complete: true })
    expect((await commit(itemId)).status).toBe(200)
    // A live GET of the committed item counts as one more download, like GET /blob.
    expect((await request(server.url, 'GET', `/items/${itemId}/live`, { token: laptop })).status).toBe(200)
    expect((await request(server.url, 'GET', `/items/${itemId}/blob`, { token: phone.token })).status).toBe(
      200,
    )
    log = await accesses()
    expect(log.map((e) => [e.seq, e.deviceId])).toEqual([
      [1, phone.id],
      [2, alice.first.record.id],
      [3, phone.id],
    ])
  })
})

describe('live-follow slots per account (issue 18, hole 7)', () => {
  it('one account cannot take every slot: past its limit it gets 429, others still follow', async () => {
    const {
      dir,
      server,
      alice,
      token: laptop,
      phone,
      bob,
    } = await startWithAlicePhoneAndBob(['--max-live-per-account', '2'])
    const followers: ReturnType<typeof follow>[] = []
    try {
      const reserve = async (token: string, conversationId: string) => {
        const r = await request(server.url, 'POST', `/conversations/${conversationId}/items`, {
          token,
          json: { ciphertextSize: 1000 },
        })
        expect(r.status, JSON.stringify(r.json)).toBe(201)
        return r.json.itemId as string
      }
      const mine = await reserve(laptop, alice.selfConversationId)
      for (const token of [phone.token, laptop]) {
        const f = follow(server.url, token, mine)
        followers.push(f)
        await f.responded
        expect(f.status()).toBe(200)
      }
      // Any device of the same account: the account's slots are taken.
      const third = await request(server.url, 'GET', `/items/${mine}/live`, { token: phone.token })
      expect(third.status).toBe(429)
      expect(third.json.error).toMatchObject({ code: 'RATE_LIMITED' })
      expect(third.json.error.message).toMatch(/this account follows too many uploads/)
      // Bob's account has slots of its own.
      const bobSelf = (await request(server.url, 'GET', '/accounts/me', { token: bob })).json
        .selfConversationId as string
      const his = follow(server.url, bob, await reserve(bob, bobSelf))
      followers.push(his)
      await his.responded
      expect(his.status()).toBe(200)
      // A follower that leaves gives its slot back (once the server sees the connection close).
      followers[0]!.close()
      let again = follow(server.url, phone.token, mine)
      for (let i = 0; i < 100; i++) {
        await again.responded
        if (again.status() === 200) break
        again.close()
        await sleep(50)
        again = follow(server.url, phone.token, mine)
      }
      followers.push(again)
      expect(again.status()).toBe(200)
    } finally {
      for (const f of followers) f.close()
      await server.stop()
      await removeDir(dir)
    }
  })
})

describe('GET /items/:id/live on a server whose blobs are in S3', () => {
  it('answers 409 CONFLICT, since the store cannot follow an upload', async () => {
    const dir = await tempDir()
    const s3 = await startS3Server()
    let server: ServerProcess | undefined
    try {
      const bucket = await s3.bucket()
      server = await startServer(dir, { args: s3Args(bucket) })
      const alice = await createAccount(server.url, server.setupCode!, 'alice')
      const token = await login(server.url, alice.first)
      const r = await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
        token,
        json: { ciphertextSize: 100 },
      })
      expect(r.status).toBe(201)
      const live = await request(server.url, 'GET', `/items/${r.json.itemId}/live`, { token })
      expect(live.status).toBe(409)
      expect(live.json?.error?.code).toBe('CONFLICT')
      // Membership is still checked first: an unknown id is 404, not 409.
      const unknown = randomBytes(16).toString('base64url')
      expect((await request(server.url, 'GET', `/items/${unknown}/live`, { token })).status).toBe(404)
    } finally {
      await server?.stop()
      await s3.close()
      await removeDir(dir)
    }
  })
})

/** Everything a follow yields, copied chunk by chunk (a chunk's buffer is reused for the next). */
async function collect(live: FollowedBlob): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of live.chunks) parts.push(Buffer.from(chunk))
  return Buffer.concat(parts)
}

describe('LocalBlobStore.follow', () => {
  let dir: string
  let store: LocalBlobStore
  beforeAll(async () => {
    dir = await tempDir()
    store = await LocalBlobStore.open(dir)
  })
  afterAll(async () => {
    await removeDir(dir)
  })
  const id = () => randomBytes(16).toString('base64url')

  it('yields bytes appended after it started and ends at the declared length', async () => {
    const data = randomBytes(2_500_000)
    const b = id()
    await store.create(b, data.length)
    await store.append(b, 0, Readable.from([data.subarray(0, 1000)]))
    const live = await store.follow(b, new AbortController().signal)
    expect(live?.length).toBe(data.length)
    const got = collect(live!)
    await sleep(50)
    await store.append(b, 1000, Readable.from([data.subarray(1000, 1_200_000)]))
    await sleep(50)
    await store.append(b, 1_200_000, Readable.from([data.subarray(1_200_000)]))
    expect(sha(await got)).toBe(sha(data))
    // Committed: read whole.
    await store.commit(b)
    const again = await store.follow(b, new AbortController().signal)
    expect(again?.length).toBe(data.length)
    expect(sha(await collect(again!))).toBe(sha(data))
  })

  it('keeps reading the same bytes when the blob is committed while followed', async () => {
    const data = randomBytes(100_000)
    const b = id()
    await store.create(b, data.length)
    const live = await store.follow(b, new AbortController().signal)
    const got = collect(live!)
    await store.append(b, 0, Readable.from([data]))
    await store.commit(b)
    expect(sha(await got)).toBe(sha(data))
  })

  it('errors when the blob is deleted, and ends early when the signal aborts', async () => {
    const b = id()
    await store.create(b, 10_000)
    await store.append(b, 0, Readable.from([randomBytes(10)]))
    const live = await store.follow(b, new AbortController().signal)
    const got = collect(live!)
    await sleep(50)
    const t0 = Date.now()
    await store.delete(b)
    await expect(got).rejects.toThrow(/abandoned/)
    expect(Date.now() - t0).toBeLessThan(1000)

    const c = id()
    await store.create(c, 10_000)
    const abort = new AbortController()
    const aborted = await store.follow(c, abort.signal)
    const bytes = collect(aborted!)
    await sleep(50)
    abort.abort()
    // An aborted follow just stops: the HTTP response it fed is already gone.
    expect((await bytes).length).toBe(0)
  })

  it('returns null for an unknown id, and for a blob whose staged file is missing', async () => {
    expect(await store.follow(id(), new AbortController().signal)).toBeNull()
    // What a crash inside create() leaves: the declared length, no file. follow() used to retry
    // forever here, ignoring its signal.
    const b = id()
    await store.create(b, 100)
    await rm(join(dir, 'staging', b))
    const r = await Promise.race([
      store.follow(b, AbortSignal.timeout(1000)),
      sleep(3000).then(() => 'spinning'),
    ])
    expect(r).toBeNull()
  })

  it('lets go of the file when closed before it is read', async () => {
    const b = id()
    await store.create(b, 10)
    const live = await store.follow(b, new AbortController().signal)
    // Descriptors open on the staged file (one for direct reads, one for the rest).
    const staged = join(dir, 'staging', b)
    const fds = async () => {
      const links = await Promise.all(
        (await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')),
      )
      return links.filter((l) => l === staged).length
    }
    expect(await fds()).toBeGreaterThan(0)
    await live!.close()
    await live!.close()
    expect(await fds()).toBe(0)
  })
})
