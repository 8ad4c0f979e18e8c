import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, type ServerProcess } from '../../../test-support/harness.js'
import { request, startWithAlice } from './api-client.js'

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
 * SECURITY-TESTS 24, what needs a socket: oversized headers, garbage and idle connections get a
 * 4xx or wait, never a crash, and the server keeps serving. Malformed bodies, parameters, queries
 * and tus requests, route by route: routes-validation.test.ts (through `app.inject`).
 */
describe('malformed and oversized requests (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let token: string

  beforeAll(async () => {
    ;({ dir, server, token } = await startWithAlice())
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
})
