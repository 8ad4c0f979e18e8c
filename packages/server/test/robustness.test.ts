import net from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, type ServerProcess } from '../../../test-support/harness.js'
import { type Actor, type Json, request, startWithAlice, TUS } from './api-client.js'

/** Sends raw bytes on a fresh TCP connection and returns the status line's code (0 if none). */
async function raw(url: string, data: string): Promise<number> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const sock = net.connect(Number(port), hostname, () => sock.end(data))
    let got = ''
    sock.on('data', (d) => {
      got += d
    })
    sock.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0)))
    // A reset after the answer still leaves the answer in `got`.
    sock.on('error', () => {})
  })
}

/**
 * SECURITY-TESTS 24 (and 7 for the HTTP schemas): malformed, oversized and hostile requests get a
 * clear 4xx with the JSON error body, never a 5xx or a crash, and the server keeps serving.
 */
describe('malformed and oversized requests (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let alice: Actor
  let token: string

  beforeAll(async () => {
    ;({ dir, server, alice, token } = await startWithAlice())
  })
  afterAll(async () => {
    await server?.stop()
    await removeDir(dir)
  })

  const healthy = async () => {
    const h = await request(server.url, 'GET', '/healthz')
    expect(h.status).toBe(200)
    expect(h.json).toEqual({ ok: true, version: expect.any(String) })
  }
  const expect4xx = (r: { status: number; json: Json }, what: string, code?: string) => {
    expect(r.status, what).toBeGreaterThanOrEqual(400)
    expect(r.status, what).toBeLessThan(500)
    expect(Object.keys(r.json ?? {}), what).toEqual(['error'])
    if (code) expect(r.json.error.code, what).toBe(code)
  }

  it('answers malformed JSON, wrong types and unknown fields with 400', async () => {
    const ct = { 'content-type': 'application/json' }
    expect4xx(
      await request(server.url, 'POST', '/auth/challenge', { body: '{"deviceId":', headers: ct }),
      'truncated',
      'INVALID_BODY',
    )
    expect4xx(await request(server.url, 'POST', '/auth/challenge', { body: '', headers: ct }), 'empty')
    expect4xx(
      await request(server.url, 'POST', '/auth/challenge', { json: { deviceId: 42 } }),
      'type',
      'INVALID_BODY',
    )
    expect4xx(
      await request(server.url, 'POST', '/auth/challenge', { json: { deviceId: 'A'.repeat(22), x: 1 } }),
      'extra',
    )
    expect4xx(await request(server.url, 'POST', '/auth/challenge', { json: [] }), 'array')
    expect4xx(await request(server.url, 'POST', '/auth/challenge', { json: null }), 'null')
    expect4xx(
      await request(server.url, 'POST', '/auth/challenge', {
        body: '{"__proto__":{"admin":true},"deviceId":"x"}',
        headers: ct,
      }),
      'proto',
    )
    expect4xx(
      await request(server.url, 'POST', '/accounts', { json: { code: 'x', username: 'A B', genesis: {} } }),
      'account',
    )
    expect4xx(
      await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
        token,
        json: { ciphertextSize: -1 },
      }),
      'negative size',
    )
    expect4xx(
      await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
        token,
        json: { ciphertextSize: 1.5 },
      }),
      'fractional size',
    )
    expect4xx(
      await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
        token,
        json: { ciphertextSize: 10, label: '../../etc/passwd' },
      }),
      'label',
    )
    await healthy()
  })

  it('answers oversized bodies with 413, wrong media types with 415, unknown routes with 404', async () => {
    const big = JSON.stringify({ deviceId: 'A'.repeat(200_000) })
    expect4xx(
      await request(server.url, 'POST', '/auth/challenge', {
        body: big,
        headers: { 'content-type': 'application/json' },
      }),
      'big json',
      'PAYLOAD_TOO_LARGE',
    )
    expect4xx(
      await request(server.url, 'POST', '/auth/challenge', {
        body: 'deviceId=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
      'form',
      'UNSUPPORTED_MEDIA_TYPE',
    )
    expect4xx(await request(server.url, 'GET', '/api/v1/nope'), 'route', 'NOT_FOUND')
    expect4xx(await request(server.url, 'GET', `/items/${'A'.repeat(300)}`, { token }), 'long param')
    expect4xx(await request(server.url, 'GET', '/items/..%2F..%2Fetc', { token }), 'traversal')
    expect4xx(
      await request(server.url, 'GET', '/accounts/me', { headers: { authorization: 'Bearer x' } }),
      'bad bearer',
      'UNAUTHENTICATED',
    )
    expect4xx(
      await request(server.url, 'GET', '/accounts/me', { headers: { authorization: `Basic ${token}` } }),
      'basic',
    )
    await healthy()
  })

  it('answers bad tus requests with 4xx', async () => {
    const r = await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
      token,
      json: { ciphertextSize: 100 },
    })
    const url = r.json.uploadUrl
    const patch = (headers: Record<string, string>, body: Uint8Array | string = new Uint8Array(10)) =>
      request(server.url, 'PATCH', url, { token, headers, body })
    const ok = { ...TUS, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }
    const statuses = [
      (await patch({ 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' })).status, // no Tus-Resumable
      (await patch({ ...ok, 'tus-resumable': '0.2.2' })).status,
      (await patch({ ...ok, 'upload-offset': '-5' })).status,
      (await patch({ ...ok, 'upload-offset': 'abc' })).status,
      (await patch({ ...ok, 'upload-offset': '7' })).status,
      (await patch({ ...ok, 'content-type': 'text/plain' }, 'hello')).status,
      (await patch({ ...TUS, 'content-type': 'application/offset+octet-stream' })).status, // no offset
      (await patch({ ...ok, 'upload-length': '100' })).status, // deferred length unsupported
      (await request(server.url, 'GET', url, { token })).status,
      (await request(server.url, 'DELETE', url, { token, headers: TUS })).status,
      (
        await request(server.url, 'POST', '/api/v1/uploads', {
          token,
          headers: { ...TUS, 'upload-metadata': 'itemId !!!' },
        })
      ).status,
    ]
    for (const s of statuses) {
      expect(s, String(statuses)).toBeGreaterThanOrEqual(400)
      expect(s, String(statuses)).toBeLessThan(500)
    }
    const head = await request(server.url, 'HEAD', url, { token, headers: TUS })
    expect(head.headers.get('upload-offset')).toBe('0')
    await healthy()
  })

  it('answers oversized headers and garbage on the socket with 4xx', async () => {
    const u = new URL(server.url)
    const host = `Host: ${u.host}\r\n`
    expect(
      await raw(server.url, `GET /healthz HTTP/1.1\r\n${host}X-Big: ${'a'.repeat(17_000)}\r\n\r\n`),
    ).toBe(431)
    expect(await raw(server.url, 'NONSENSE\r\n\r\n')).toBe(400)
    expect(await raw(server.url, `GET /healthz HTTP/1.1\r\n${host}Content-Length: abc\r\n\r\n`)).toBe(400)
    await healthy()
  })

  it('keeps serving others while many connections sit idle', async () => {
    const u = new URL(server.url)
    const idle = await Promise.all(
      Array.from(
        { length: 200 },
        () =>
          new Promise<net.Socket>((resolve) => {
            const s = net.connect(Number(u.port), u.hostname, () => {
              s.write('POST /api/v1/auth/challenge HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{')
              resolve(s)
            })
            s.on('error', () => {})
          }),
      ),
    )
    await healthy()
    expect((await request(server.url, 'GET', '/accounts/me', { token })).status).toBe(200)
    for (const s of idle) s.destroy()
  })

  it('never answers 5xx to random JSON on any JSON route (property test)', async () => {
    const routes: Array<[string, string, boolean]> = [
      ['POST', '/accounts', false],
      ['POST', '/auth/challenge', false],
      ['POST', '/auth/session', false],
      ['POST', '/invites', true],
      ['POST', `/accounts/${alice.accountId}/log`, true],
      ['POST', '/conversations', true],
      ['POST', `/conversations/${alice.selfConversationId}/items`, true],
      ['POST', '/link/join', true],
      ['POST', '/link/send', false],
      ['POST', '/link/receive', false],
      ['POST', '/link/close', false],
    ]
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.jsonValue({ maxDepth: 4 }),
        async ([method, path, auth], value) => {
          const r = await request(server.url, method, path, { json: value, token: auth ? token : undefined })
          expect(r.status, `${path} ${JSON.stringify(value).slice(0, 200)}`).toBeLessThan(500)
        },
      ),
      { numRuns: 300 },
    )
    await healthy()
  })
})
