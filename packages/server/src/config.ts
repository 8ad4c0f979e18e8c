import type { S3Settings } from './storage/blob/s3-client.js'

/** Everything the server is started with (flags or `AIRLOCK_*` environment variables; see bin.ts). */
export interface ServerConfig {
  port: number
  host: string
  dataDir: string
  tlsCert: string | null
  tlsKey: string | null
  /** Largest declared ciphertext size of one item, bytes. */
  maxItemSize: number
  /** Bytes one account may hold (ciphertext + manifests, reserved or committed); null = no limit. */
  quota: number | null
  /** Largest encrypted manifest, bytes. */
  maxManifestSize: number
  /** Origins clients may sign logins for; empty = the loopback origins of the listening port. */
  publicUrls: string[]
  logLevel: string
  /** Directory of the built web app served at `/`; null = look for packages/web/dist. */
  webDir: string | null
  /** Trust `X-Forwarded-For` from a reverse proxy for client IPs (rate limits). */
  trustProxy: boolean
  /** Uncommitted uploads older than this are deleted. */
  uploadTtlHours: number
  /** Longest lifetime of a share link, days (organisation policy may lower it per link). */
  maxShareDays: number
  /** Lifetime of a session token, seconds. */
  sessionTtlSeconds: number
  maxConnections: number
  /** Uploads one account may follow at once (`GET /items/:id/live`; the server allows 256 in all). */
  maxLivePerAccount: number
  /** Seconds between garbage-collection passes (expired uploads, items past retention). */
  gcIntervalSeconds: number
  /** `postgres://…`: metadata, push and upload locks in PostgreSQL; null = SQLite in dataDir. */
  databaseUrl: string | null
  /** Blobs in S3-compatible storage; null = the local directory `<dataDir>/blobs`. */
  s3: S3Settings | null
}

export const DEFAULT_PORT = 8465

export const DEFAULTS: ServerConfig = {
  port: DEFAULT_PORT,
  host: '127.0.0.1',
  dataDir: './airlock-data',
  tlsCert: null,
  tlsKey: null,
  maxItemSize: 16 * 1024 ** 3,
  quota: 100 * 1024 ** 3,
  maxManifestSize: 8 * 1024 * 1024,
  publicUrls: [],
  logLevel: 'info',
  webDir: null,
  trustProxy: false,
  uploadTtlHours: 24,
  maxShareDays: 30,
  sessionTtlSeconds: 15 * 60,
  maxConnections: 2048,
  maxLivePerAccount: 16,
  gcIntervalSeconds: 600,
  databaseUrl: null,
  s3: null,
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** Parses a byte size like `1048576`, `512M`, `16G` or `1.5T` (binary units). Throws on junk. */
export function parseSize(s: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(s)
  if (!m) throw new Error(`invalid size: ${s}`)
  const n = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!)
  if (!Number.isSafeInteger(n)) throw new Error(`size out of range: ${s}`)
  return n
}

/** `none`, `unlimited` or `0` mean no quota; anything else is a size. */
export function parseQuota(s: string): number | null {
  return /^(none|unlimited|0)$/i.test(s.trim()) ? null : parseSize(s)
}

/** Parses a comma-separated list of origins (`https://host[:port]`, no path); throws on a bad one. */
export function parseOrigins(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0)
    .map((x) => {
      const u = new URL(x)
      if ((u.protocol !== 'http:' && u.protocol !== 'https:') || (u.pathname !== '/' && u.pathname !== '')) {
        throw new Error(`invalid public URL (an origin like https://host:port is expected): ${x}`)
      }
      return u.origin
    })
}

/** The origins a login signature may name when no public URL is configured. */
export function loopbackOrigins(scheme: 'http' | 'https', port: number, host: string): string[] {
  const hosts = ['127.0.0.1', 'localhost', '[::1]']
  if (host !== '0.0.0.0' && host !== '::' && !hosts.includes(host)) {
    hosts.push(host.includes(':') ? `[${host}]` : host)
  }
  return hosts.map((h) => new URL(`${scheme}://${h}:${port}`).origin)
}
