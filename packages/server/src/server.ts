import { readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { buildApp } from './app.js'
import { loopbackOrigins, type ServerConfig } from './config.js'
import { startGarbageCollector } from './gc.js'
import { RateLimiter } from './rate-limit.js'
import { openStorage } from './storage/storage.js'
import { hashCode, newCode, randomId } from './tokens.js'

export interface RunningServer {
  app: FastifyInstance
  /** The base URL the server listens on, e.g. `http://127.0.0.1:8465`. */
  url: string
  port: number
  /** The one-time admin setup code, when the database had no account yet. */
  setupCode: string | null
  /** Stops accepting connections, lets in-flight requests finish, and closes the stores. */
  close(): Promise<void>
}

/** The server's version, from its package.json. */
export function serverVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

/**
 * Starts the server on the stores its configuration names (`storage.ts`; by default SQLite at
 * `<dataDir>/airlock.db`, blobs under `<dataDir>/blobs`, an in-process push hub). Logs (pino, JSON) go to stderr, so stdout carries only
 * the listening line and the setup code.
 */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
  const logger = pino(
    {
      level: config.logLevel,
      redact: {
        paths: ['req.headers', '*.token', '*.code', '*.secret', '*.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: false }),
  )
  const storage = await openStorage(config)
  const { store, blobs, hub } = storage
  const https =
    config.tlsCert && config.tlsKey
      ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }
      : undefined
  if ((config.tlsCert === null) !== (config.tlsKey === null)) {
    throw new Error('--tls-cert and --tls-key go together')
  }
  let origins: ReadonlySet<string> = new Set()
  const ctx = {
    config,
    store,
    blobs,
    hub,
    limiter: new RateLimiter(),
    origins: () => origins,
    now: Date.now,
    version: serverVersion(),
  }
  const app = await buildApp(ctx, https ? { logger, https } : { logger })

  let setupCode: string | null = null
  if ((await store.accounts.countAccounts()) === 0) {
    setupCode = newCode()
    await store.accounts.replaceSetupCode({
      id: randomId(),
      codeHash: hashCode(setupCode),
      createdAt: Date.now(),
      expiresAt: null,
    })
  }

  await app.listen({ port: config.port, host: config.host })
  app.server.maxConnections = config.maxConnections
  const port = (app.server.address() as AddressInfo).port
  const scheme = https ? 'https' : 'http'
  origins = new Set(
    config.publicUrls.length > 0 ? config.publicUrls : loopbackOrigins(scheme, port, config.host),
  )
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const url = `${scheme}://${host}:${port}`
  const stopGc = startGarbageCollector({ ...ctx, log: app.log }, config.gcIntervalSeconds * 1000)
  app.log.info({ port, tls: Boolean(https), origins: [...origins] }, 'listening')

  let closing: Promise<void> | null = null
  return {
    app,
    url,
    port,
    setupCode,
    close() {
      closing ??= (async () => {
        stopGc()
        // Keep-alive connections that finish a request during shutdown are closed as they go idle.
        const reaper = setInterval(() => app.server.closeIdleConnections(), 100)
        try {
          await app.close()
        } finally {
          clearInterval(reaper)
        }
        await storage.close()
        logger.flush()
      })()
      return closing
    },
  }
}
