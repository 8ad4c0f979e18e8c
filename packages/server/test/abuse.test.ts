import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { removeDir, type ServerProcess } from '../../../test-support/harness.js'
import { PUSH_SOCKETS_PER_ACCOUNT } from '../src/routes/push.js'
import { type Actor, createAccount, login, request, startWithAlice } from './api-client.js'

/**
 * SECURITY-TESTS 24, abuse: guessing logins, invite and linking codes is rate-limited per client;
 * one account cannot hold all push connections; oversized bodies and headers get a clear 4xx;
 * slow clients (slowloris) do not stop the server from serving others. The server trusts
 * X-Forwarded-For here, so each test plays distinct clients.
 */

let dir: string
let server: ServerProcess
let alice: Actor
let token: string
const client = () => ({ 'x-forwarded-for': `10.${randomBytes(3).join('.')}` })

/** Sends `n` requests from one client; returns the statuses. */
async function burst(
  n: number,
  f: (headers: Record<string, string>, i: number) => Promise<{ status: number }>,
) {
  const headers = client()
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await f(headers, i)).status)
  return out
}

function expectLimited(statuses: number[], allowed: number): void {
  expect(statuses.slice(0, allowed).includes(429), String(statuses)).toBe(false)
  expect(statuses.slice(allowed), String(statuses)).toContain(429)
}

beforeAll(async () => {
  ;({ dir, server, alice, token } = await startWithAlice(['--trust-proxy', '--max-manifest-size', '64K']))
})
afterAll(async () => {
  await server?.stop()
  await removeDir(dir)
})

describe('abuse (real server process)', () => {
  it('rate-limits login attempts per client, and serves other clients meanwhile', async () => {
    const json = { deviceId: alice.first.record.id }
    const statuses = await burst(130, (headers) =>
      request(server.url, 'POST', '/auth/challenge', { json, headers }),
    )
    expectLimited(statuses, 100)
    const other = await request(server.url, 'POST', '/auth/challenge', { json, headers: client() })
    expect(other.status).toBe(200)
  })

  it('rate-limits invite/setup code guesses and linking mailboxes', async () => {
    const wrong = await burst(15, (headers) =>
      request(server.url, 'POST', '/accounts', {
        json: { code: 'AAAA-BBBB-CCCC-DDDD-EEEE', username: 'x', genesis: {} },
        headers,
      }),
    )
    expectLimited(wrong, 10)
    expectLimited(await burst(15, (headers) => request(server.url, 'POST', '/link', { headers })), 10)
    const joins = await burst(15, (headers, i) =>
      request(server.url, 'POST', '/link/join', { token, json: { nameplate: String(1000 + i) }, headers }),
    )
    expectLimited(joins, 10)
    expect((await request(server.url, 'POST', '/link', { headers: client() })).status).toBe(201)
  })

  it('refuses oversized bodies and headers with 413/431, and answers many small headers', async () => {
    const big = await request(server.url, 'POST', '/auth/challenge', {
      json: { deviceId: 'A'.repeat(70_000) },
    })
    expect(big.status).toBe(413)
    expect(big.json.error.code).toBe('PAYLOAD_TOO_LARGE')
    const reserve = await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
      token,
      json: { ciphertextSize: 10 },
    })
    const manifest = await request(server.url, 'PUT', `/items/${reserve.json.itemId}/manifest`, {
      token,
      body: new Uint8Array(100_000),
      headers: { 'content-type': 'application/octet-stream' },
    })
    expect(manifest.status).toBe(413)
    const headers: Record<string, string> = {}
    for (let i = 0; i < 600; i++) headers[`x-h${i}`] = 'v'
    expect((await request(server.url, 'GET', '/healthz', { headers })).status).toBe(200)
    for (let i = 0; i < 1200; i++) headers[`x-long-header-${i}`] = 'value'
    const raw = await rawStatus(Object.entries(headers).map(([k, v]) => `${k}: ${v}`))
    expect(raw).toBe(431)
  })

  it(`closes an account's push sockets past ${PUSH_SOCKETS_PER_ACCOUNT} with 1013; other accounts still connect`, async () => {
    const open: WebSocket[] = []
    const connect = async (t: string) => {
      const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v1/push`)
      const first = new Promise<{ ready: boolean; code?: number }>((resolve) => {
        ws.on('message', (d) => {
          if ((JSON.parse(String(d)) as { type: string }).type === 'ready') resolve({ ready: true })
        })
        ws.on('close', (code) => resolve({ ready: false, code }))
        ws.on('error', () => {})
      })
      await new Promise((r) => ws.once('open', r))
      ws.send(JSON.stringify({ type: 'auth', token: t }))
      return { ws, result: await first }
    }
    for (let i = 0; i < PUSH_SOCKETS_PER_ACCOUNT; i++) {
      const c = await connect(token)
      expect(c.result.ready).toBe(true)
      open.push(c.ws)
    }
    const over = await connect(token)
    expect(over.result).toEqual({ ready: false, code: 1013 })
    const invite = await request(server.url, 'POST', '/invites', { token, json: {} })
    const bob = await createAccount(server.url, invite.json.code, 'bob')
    const bobs = await connect(await login(server.url, bob.first))
    expect(bobs.result.ready).toBe(true)
    open[0]!.close()
    await new Promise((r) => setTimeout(r, 200))
    const again = await connect(token)
    expect(again.result.ready).toBe(true)
    for (const ws of [...open, bobs.ws, again.ws]) ws.close()
  })

  it('keeps serving others while 300 slow clients trickle their headers (slowloris)', async () => {
    const { port, hostname } = new URL(server.url)
    const slow: net.Socket[] = []
    for (let i = 0; i < 300; i++) {
      const s = net.connect(Number(port), hostname)
      s.on('error', () => {})
      s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n')
      slow.push(s)
    }
    const trickle = setInterval(() => {
      for (const s of slow) s.write('X-a: b\r\n')
    }, 200)
    try {
      const times: number[] = []
      for (let i = 0; i < 20; i++) {
        const t = Date.now()
        expect((await request(server.url, 'GET', '/accounts/me', { token })).status).toBe(200)
        times.push(Date.now() - t)
      }
      console.log(`slowloris: 300 slow clients; 20 requests from others, slowest ${Math.max(...times)} ms`)
      expect(Math.max(...times)).toBeLessThan(2000)
    } finally {
      clearInterval(trickle)
      for (const s of slow) s.destroy()
    }
  })
})

/** One raw GET with these header lines; the status code (0 if the connection just closed). */
function rawStatus(lines: string[]): Promise<number> {
  const { port, hostname } = new URL(server.url)
  return new Promise((resolve) => {
    const s = net.connect(Number(port), hostname, () =>
      s.end(`GET /healthz HTTP/1.1\r\nHost: x\r\n${lines.join('\r\n')}\r\n\r\n`),
    )
    let got = ''
    s.on('data', (d) => {
      got += d
    })
    s.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0)))
    s.on('error', () => {})
  })
}
