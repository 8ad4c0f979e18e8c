import { copyFile, readFile, writeFile } from 'node:fs/promises'
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { type ServerProcess, startServer } from '../../../test-support/harness.js'

/**
 * A malicious server for client tests: the real `airlock-server` process, with a hostile layer in
 * front of it. Clients talk to {@link EvilServer.url}, a proxy on loopback that can rewrite any
 * response (`tamper`), cut any transfer after some bytes (`cut`), replay what it recorded
 * (`history`), and tell which device sent a request (it watches logins). Behind it, the stored
 * objects can be edited directly: SQL on the live database (`sql`) and the blob files.
 *
 * The server is started with `--public-url` set to the proxy's origin, so devices log in to the
 * proxy's origin as they would to a reverse proxy. Reusable by any client's tests (the web app's
 * too): everything a test needs is the URL and these hooks.
 */

export interface ProxyRequest {
  method: string
  /** Path and query, e.g. `/api/v1/items/abc/blob`. */
  path: string
  headers: IncomingHttpHeaders
  /** The device whose bearer token the request carries (learnt from its login), or null. */
  deviceId: string | null
}

export interface ProxyResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** Returns a replacement response, or nothing to pass the (possibly mutated) response on. */
export type Tamper = (
  req: ProxyRequest,
  res: ProxyResponse,
) => ProxyResponse | undefined | Promise<ProxyResponse | undefined>

export type Match = (req: ProxyRequest) => boolean

export interface Exchange {
  req: ProxyRequest
  res: ProxyResponse
}

interface CutRule {
  match: Match
  direction: 'request' | 'response'
  afterBytes: number
  times: number
}

/** Responses larger than this are streamed through untouched and not recorded. */
const MAX_BUFFERED = 64 * 1024 * 1024

export class EvilServer {
  /** The real server behind the proxy (replaced by `restart`). */
  upstream!: ServerProcess
  /** Every exchange with a body up to 1 MiB, oldest first (for replays). */
  readonly history: Exchange[] = []
  /** Errors thrown by tamper functions (the connection is dropped); tests should expect none. */
  readonly errors: unknown[] = []
  /** Counters, for fault-injection reports. */
  readonly stats = { requests: 0, tampered: 0, cut: 0 }
  private readonly tampers: { match: Match; f: Tamper }[] = []
  private readonly cuts: CutRule[] = []
  private readonly tokens = new Map<string, string>()
  private readonly sockets = new Set<net.Socket>()
  private readonly proxy: http.Server
  private port = 0

  private constructor(
    readonly dataDir: string,
    private readonly args: string[],
  ) {
    this.proxy = http.createServer((req, res) => void this.handle(req, res))
    this.proxy.on('upgrade', (req, socket, head) => this.upgrade(req, socket as net.Socket, head))
    this.proxy.on('connection', (s) => {
      this.sockets.add(s)
      s.once('close', () => this.sockets.delete(s))
    })
  }

  /** Starts the proxy on a free loopback port and the real server behind it. */
  static async start(dataDir: string, args: string[] = []): Promise<EvilServer> {
    const evil = new EvilServer(dataDir, args)
    await new Promise<void>((r) => evil.proxy.listen(0, '127.0.0.1', r))
    evil.port = (evil.proxy.address() as net.AddressInfo).port
    evil.upstream = await startServer(dataDir, { args: ['--public-url', evil.url, ...args] })
    return evil
  }

  /** The URL clients use. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  get setupCode(): string | null {
    return this.upstream.setupCode
  }

  /** Rewrites responses to matching requests, in registration order; returns an undo. */
  tamper(match: Match, f: Tamper): () => void {
    const t = { match, f }
    this.tampers.push(t)
    return () => {
      const i = this.tampers.indexOf(t)
      if (i >= 0) this.tampers.splice(i, 1)
    }
  }

  /** Drops the connection of the next `times` matching requests after `afterBytes` of body. */
  cut(match: Match, direction: 'request' | 'response', afterBytes: number, times = 1): void {
    this.cuts.push({ match, direction, afterBytes, times })
  }

  /** Removes every tamper and cut rule (and fails if a tamper function threw). */
  reset(): void {
    const failed = this.errors.splice(0)
    if (failed.length > 0) throw new Error(`a tamper function failed: ${String(failed[0])}`)
    this.tampers.length = 0
    this.cuts.length = 0
  }

  /** Kills the real server (SIGKILL by default) and starts it again on the same data and port. */
  async restart(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.upstream.stop(signal)
    this.upstream = await startServer(this.dataDir, {
      port: this.upstream.port,
      args: ['--public-url', this.url, ...this.args],
    })
  }

  /** Drops every open client connection, WebSocket ones included. */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy()
  }

  /** Runs SQL on the live database (a second connection, as an operator would). */
  sql<T = Record<string, unknown>>(query: string, ...params: unknown[]): T[] {
    const db = new Database(join(this.dataDir, 'airlock.db'))
    try {
      db.pragma('busy_timeout = 5000')
      const stmt = db.prepare(query)
      if (stmt.reader) return stmt.all(...params) as T[]
      stmt.run(...params)
      return []
    } finally {
      db.close()
    }
  }

  blobPath(itemId: string): string {
    return join(this.dataDir, 'blobs', 'blobs', itemId.slice(0, 2), itemId)
  }

  readBlob(itemId: string): Promise<Buffer> {
    return readFile(this.blobPath(itemId))
  }

  writeBlob(itemId: string, bytes: Uint8Array): Promise<void> {
    return writeFile(this.blobPath(itemId), bytes)
  }

  /** Replaces item `to`'s stored blob with a copy of item `from`'s. */
  copyBlob(from: string, to: string): Promise<void> {
    return copyFile(this.blobPath(from), this.blobPath(to))
  }

  async close(): Promise<void> {
    this.dropConnections()
    await new Promise<void>((r) => this.proxy.close(() => r()))
    await this.upstream?.stop()
  }

  private deviceOf(headers: IncomingHttpHeaders): string | null {
    const m = /^Bearer (\S+)$/.exec(headers.authorization ?? '')
    return m ? (this.tokens.get(m[1]!) ?? null) : null
  }

  private takeCut(req: ProxyRequest, direction: CutRule['direction']): number | null {
    const rule = this.cuts.find((c) => c.direction === direction && c.times > 0 && c.match(req))
    if (!rule) return null
    rule.times--
    this.stats.cut++
    return rule.afterBytes
  }

  private async handle(inReq: IncomingMessage, out: ServerResponse): Promise<void> {
    this.stats.requests++
    const req: ProxyRequest = {
      method: inReq.method ?? 'GET',
      path: inReq.url ?? '/',
      headers: inReq.headers,
      deviceId: this.deviceOf(inReq.headers),
    }
    const fail = () => {
      inReq.destroy()
      out.socket?.destroy()
    }
    const upReq = http.request({
      host: '127.0.0.1',
      port: this.upstream.port,
      method: req.method,
      path: req.path,
      headers: { ...inReq.headers, connection: 'close' },
    })
    upReq.on('error', fail)
    const requestCut = this.takeCut(req, 'request')
    let sent = 0
    inReq.on('data', (d: Buffer) => {
      if (requestCut !== null && sent + d.length > requestCut) {
        upReq.write(d.subarray(0, Math.max(0, requestCut - sent)))
        upReq.destroy()
        fail()
        return
      }
      sent += d.length
      upReq.write(d)
    })
    inReq.on('end', () => upReq.end())
    inReq.on('error', () => upReq.destroy())
    const upRes = await new Promise<IncomingMessage | null>((r) => {
      upReq.once('response', r)
      upReq.once('error', () => r(null))
    })
    if (!upRes) return fail()
    const length = Number(upRes.headers['content-length'] ?? 0)
    if (length > MAX_BUFFERED) {
      out.writeHead(upRes.statusCode ?? 502, upRes.headers)
      upRes.pipe(out)
      return
    }
    const chunks: Buffer[] = []
    try {
      for await (const c of upRes) chunks.push(c as Buffer)
    } catch {
      return fail()
    }
    const headers = { ...upRes.headers }
    delete headers['transfer-encoding']
    delete headers.connection
    let res: ProxyResponse = { status: upRes.statusCode ?? 502, headers, body: Buffer.concat(chunks) }
    this.learnLogin(req, res)
    try {
      for (const t of [...this.tampers]) {
        if (!t.match(req)) continue
        const before = res.body
        res = (await t.f(req, res)) ?? res
        if (res.body !== before) this.stats.tampered++
      }
    } catch (e) {
      this.errors.push(e)
      return fail()
    }
    if (res.body.length <= 1 << 20) this.history.push({ req, res: { ...res, body: Buffer.from(res.body) } })
    if (req.method !== 'HEAD') res.headers['content-length'] = String(res.body.length)
    const responseCut = this.takeCut(req, 'response')
    out.writeHead(res.status, res.headers)
    if (responseCut === null) {
      out.end(res.body)
      return
    }
    out.write(res.body.subarray(0, responseCut), () => out.socket?.destroy())
  }

  private learnLogin(req: ProxyRequest, res: ProxyResponse): void {
    if (req.method !== 'POST' || !req.path.endsWith('/auth/session') || res.status !== 200) return
    const s = JSON.parse(res.body.toString('utf8')) as { token: string; deviceId: string }
    this.tokens.set(s.token, s.deviceId)
  }

  /** WebSocket upgrades are relayed as raw bytes (and dropped by `dropConnections`). */
  private upgrade(req: IncomingMessage, socket: net.Socket, head: Buffer): void {
    const up = net.connect(this.upstream.port, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`]
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`)
      up.write(`${lines.join('\r\n')}\r\n\r\n`)
      if (head.length > 0) up.write(head)
      up.pipe(socket)
      socket.pipe(up)
    })
    const end = () => {
      up.destroy()
      socket.destroy()
    }
    up.on('error', end)
    socket.on('error', end)
    up.on('close', end)
    socket.on('close', end)
  }
}

/** Matches requests by method and a path pattern (and optionally the device that sent them). */
export function route(method: string, path: RegExp, deviceId?: string): Match {
  return (req) =>
    req.method === method &&
    path.test(req.path.split('?')[0]!) &&
    (deviceId === undefined || req.deviceId === deviceId)
}

/** Parses a JSON response body, for tampers that rewrite JSON. */
export function jsonOf<T extends object = Record<string, unknown>>(res: ProxyResponse): T {
  return JSON.parse(res.body.toString('utf8')) as T
}

/** A response with `value` as its JSON body (same status and headers). */
export function withJson(res: ProxyResponse, value: unknown): ProxyResponse {
  return { ...res, body: Buffer.from(JSON.stringify(value)) }
}
