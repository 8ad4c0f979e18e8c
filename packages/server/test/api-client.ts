import { randomBytes } from 'node:crypto'
import http from 'node:http'
import {
  AUTH_SIGN_CONTEXT,
  appendEntry,
  authSignedValue,
  type CreateAccountResponse,
  createGenesis,
  type DeviceSecrets,
  generateDevice,
  type PushServerMessage,
  pushServerMessageSchema,
  type SessionResponse,
  signCanonical,
  type VerifiedLog,
  verifyLog,
} from '@airlock/core'
import type { FastifyInstance, InjectOptions } from 'fastify'
import WebSocket from 'ws'
import { type ServerProcess, startServer, tempDir, until } from '../../../test-support/harness.js'

/**
 * The HTTP API as a test client speaks it: one request, account creation, challenge–response
 * login, device-log changes, sending an item, tus, push sockets. Every helper takes a
 * {@link Target}, so the same steps drive a real server process or an app under `inject`.
 */

/**
 * Where test requests go: a server process's base URL (`http://127.0.0.1:<port>`), or an app
 * answered in this process through Fastify's `inject` (`injectApp()`, inject-app.ts), with the
 * origin its logins sign for.
 */
export type Target = string | InjectTarget

export interface InjectTarget {
  app: Pick<FastifyInstance, 'inject'>
  origin: string
}

/** The origin a login at `target` names in its signature. */
export function originOf(target: Target): string {
  return typeof target === 'string' ? new URL(target).origin : target.origin
}

export interface ApiResult<T = unknown> {
  status: number
  headers: Headers
  json: T
  bytes: Uint8Array
}

/** Response bodies in tests are checked by assertions, so they are loosely typed. */
// biome-ignore lint/suspicious/noExplicitAny: see above
export type Json = any

/** One HTTP request to the API, over a socket or through `inject`; never throws for an HTTP status. */
export async function request<T = Json>(
  target: Target,
  method: string,
  path: string,
  opts: {
    token?: string | undefined
    json?: unknown
    body?: Uint8Array | string
    headers?: Record<string, string>
  } = {},
): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  let body: Uint8Array | string | undefined
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(opts.json)
  } else if (opts.body !== undefined) {
    body = opts.body
  }
  const url = `${/^\/(api|healthz|readyz)/.test(path) ? '' : '/api/v1'}${path}`
  let status: number
  let resHeaders: Headers
  let bytes: Uint8Array
  if (typeof target === 'string') {
    const res = await fetch(`${target}${url}`, { method, headers, body: body as RequestInit['body'] })
    status = res.status
    resHeaders = res.headers
    bytes = new Uint8Array(await res.arrayBuffer())
  } else {
    const res = await target.app.inject({
      method: method as InjectOptions['method'],
      url,
      headers,
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : Buffer.from(body) }),
    })
    status = res.statusCode
    resHeaders = new Headers()
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) resHeaders.set(k, Array.isArray(v) ? v.join(', ') : String(v))
    }
    bytes = new Uint8Array(res.rawPayload)
  }
  let json: unknown = null
  if ((resHeaders.get('content-type') ?? '').includes('json') && bytes.length > 0) {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  }
  return { status, headers: resHeaders, json: json as T, bytes }
}

/** A person's account and the devices and sessions tests drive it with. */
export interface Actor {
  accountId: string
  username: string
  selfConversationId: string
  admin: boolean
  first: DeviceSecrets
}

export function randomAccountId(): string {
  return randomBytes(16).toString('base64url')
}

export async function newDevice(name: string): Promise<DeviceSecrets> {
  return generateDevice({ name, kind: 'cli' })
}

/** Creates an account with a setup or invite code: real keys, a real self-signed genesis entry. */
export async function createAccount(base: Target, code: string, username: string): Promise<Actor> {
  const first = await newDevice(`${username}-laptop`)
  const accountId = randomAccountId()
  const genesis = createGenesis(accountId, first)
  const r = await request<CreateAccountResponse>(base, 'POST', '/accounts', {
    json: { code, username, genesis },
  })
  if (r.status !== 201) throw new Error(`account creation failed: ${r.status} ${JSON.stringify(r.json)}`)
  return { accountId, username, selfConversationId: r.json.selfConversationId, admin: r.json.admin, first }
}

/** Challenge–response login with the device's Ed25519 key. */
export async function login(base: Target, device: DeviceSecrets, origin = originOf(base)): Promise<string> {
  const c = await request<{ challenge: string }>(base, 'POST', '/auth/challenge', {
    json: { deviceId: device.record.id },
  })
  if (c.status !== 200) throw new Error(`challenge failed: ${c.status}`)
  const signature = signCanonical(
    device,
    AUTH_SIGN_CONTEXT,
    authSignedValue({ challenge: c.json.challenge, deviceId: device.record.id, origin }),
  )
  const s = await request<SessionResponse>(base, 'POST', '/auth/session', {
    json: { deviceId: device.record.id, challenge: c.json.challenge, origin, signature },
  })
  if (s.status !== 200) throw new Error(`login failed: ${s.status} ${JSON.stringify(s.json)}`)
  return s.json.token
}

/** Fetches and verifies the account's whole device log, as a client would. */
export async function fetchLog(base: Target, token: string, accountId: string): Promise<VerifiedLog> {
  const r = await request<{ entries: unknown[] }>(base, 'GET', `/accounts/${accountId}/log`, { token })
  if (r.status !== 200) throw new Error(`log fetch failed: ${r.status}`)
  return verifyLog(accountId, r.json.entries)
}

/** Appends an `add` or `remove` entry signed by `signer`, returning the response. */
export async function changeDevice(
  base: Target,
  token: string,
  actor: Actor,
  signer: DeviceSecrets,
  op: 'add' | 'remove',
  device: DeviceSecrets,
): Promise<ApiResult> {
  const log = await fetchLog(base, token, actor.accountId)
  const entry = appendEntry(log, signer, op, device.record)
  return request(base, 'POST', `/accounts/${actor.accountId}/log`, { token, json: { entry } })
}

/** Adds a new device to the account (signed by the first device) and logs it in. */
export async function addDevice(base: Target, actor: Actor, token: string, name: string) {
  const device = await newDevice(name)
  const r = await changeDevice(base, token, actor, actor.first, 'add', device)
  if (r.status !== 200) throw new Error(`add device failed: ${r.status} ${JSON.stringify(r.json)}`)
  return { device, token: await login(base, device) }
}

/** Reserves an item, uploads its blob with tus in one PATCH, and commits a manifest. */
export async function sendItem(
  base: Target,
  token: string,
  conversationId: string,
  blob: Uint8Array,
  manifest: Uint8Array = randomBytes(300),
  reserve: { sensitivity?: string } = {},
): Promise<{ itemId: string; seq: number }> {
  const r = await request<{ itemId: string; uploadUrl: string }>(
    base,
    'POST',
    `/conversations/${conversationId}/items`,
    {
      token,
      json: { ciphertextSize: blob.length, ...reserve },
    },
  )
  if (r.status !== 201) throw new Error(`reserve failed: ${r.status} ${JSON.stringify(r.json)}`)
  if (blob.length > 0) {
    const p = await tusPatch(base, token, r.json.uploadUrl, 0, blob)
    if (p.status !== 204) throw new Error(`upload failed: ${p.status}`)
  }
  const c = await request<{ seq: number }>(base, 'PUT', `/items/${r.json.itemId}/manifest`, {
    token,
    body: manifest,
    headers: { 'content-type': 'application/octet-stream' },
  })
  if (c.status !== 200) throw new Error(`commit failed: ${c.status} ${JSON.stringify(c.json)}`)
  return { itemId: r.json.itemId, seq: c.json.seq }
}

export const TUS = { 'tus-resumable': '1.0.0' }

export function tusPatch(base: Target, token: string, uploadUrl: string, offset: number, bytes: Uint8Array) {
  return request(base, 'PATCH', uploadUrl, {
    token,
    body: bytes,
    headers: { ...TUS, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
  })
}

export function tusHead(base: Target, token: string, uploadUrl: string) {
  return request(base, 'HEAD', uploadUrl, { token, headers: TUS })
}

/**
 * A tus PATCH from `offset` to the end of `blob`, written at a bounded rate so the server can be
 * killed in the middle. `abort()` drops the connection; `done` resolves to the status code.
 */
export function slowPatch(
  base: string,
  token: string,
  uploadUrl: string,
  offset: number,
  blob: Uint8Array,
  perTick = 256 * 1024,
) {
  let aborted = false
  const req = http.request(`${base}${uploadUrl}`, {
    method: 'PATCH',
    headers: {
      ...TUS,
      authorization: `Bearer ${token}`,
      'upload-offset': String(offset),
      'content-type': 'application/offset+octet-stream',
      'content-length': String(blob.length - offset),
    },
  })
  const done = new Promise<number>((resolve) => {
    req.on('response', (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', () => resolve(0))
  })
  void (async () => {
    for (let o = offset; o < blob.length && !aborted; o += perTick) {
      const chunk = blob.subarray(o, Math.min(blob.length, o + perTick))
      if (!req.write(chunk)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            req.off('drain', go)
            req.off('close', go)
            resolve()
          }
          req.on('drain', go)
          req.on('close', go)
        })
      }
      await new Promise((r) => setTimeout(r, 10))
    }
    if (!aborted) req.end()
  })().catch(() => {})
  return {
    done,
    abort() {
      aborted = true
      req.destroy()
    },
  }
}

/** What most route tests start from: a server process and its first account, alice, logged in. */
export interface AliceFixture {
  dir: string
  server: ServerProcess
  alice: Actor
  token: string
}

export async function startWithAlice(args: string[] = []): Promise<AliceFixture> {
  const dir = await tempDir()
  const server = await startServer(dir, { args })
  const alice = await createAccount(server.url, server.setupCode!, 'alice')
  return { dir, server, alice, token: await login(server.url, alice.first) }
}

/** Alice with two devices (the laptop's token is `token`, and her phone), and Bob, invited by her. */
export async function startWithAlicePhoneAndBob(
  args: string[] = [],
): Promise<AliceFixture & { phone: { token: string; id: string }; bob: string }> {
  const f = await startWithAlice(args)
  const p = await addDevice(f.server.url, f.alice, f.token, 'alice-phone')
  const invite = await request(f.server.url, 'POST', '/invites', { token: f.token, json: {} })
  const bob = await login(f.server.url, (await createAccount(f.server.url, invite.json.code, 'bob')).first)
  return { ...f, phone: { token: p.token, id: p.device.record.id }, bob }
}

/**
 * A push socket that records every message (validated with the shared schema) and its close;
 * with a token, it authenticates and waits for `ready` (or a close).
 */
export async function pushSocket(base: string, token?: string) {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/v1/push`)
  const got: PushServerMessage[] = []
  let closed: { code: number; reason: string } | null = null
  ws.on('message', (d) => got.push(pushServerMessageSchema.parse(JSON.parse(String(d)))))
  ws.on('close', (code, reason) => {
    closed = { code, reason: String(reason) }
  })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  if (token) {
    ws.send(JSON.stringify({ type: 'auth', token }))
    await until(() => got.some((m) => m.type === 'ready') || closed !== null, 5000, 'ready')
  }
  return {
    ws,
    got,
    closed: () => closed as { code: number; reason: string } | null,
    /** The data events: items, deletions, device-log changes. */
    events: () => got.filter((m) => m.type === 'item' || m.type === 'delete' || m.type === 'log'),
    uploads: () => got.filter((m) => m.type === 'upload'),
  }
}
