import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { removeDir, tempDir } from '../../../test-support/harness.js'
import {
  buildApp,
  DEFAULTS,
  InProcessPushHub,
  LocalBlobStore,
  type MetadataStore,
  openSqliteStore,
  RateLimiter,
  type ServerConfig,
} from '../src/index.js'
import { hashCode, newCode, randomId } from '../src/tokens.js'
import type { InjectTarget } from './api-client.js'

/** The app under `inject`: every route, over in-memory SQLite and a temporary blob directory. */
export interface InjectedApp extends InjectTarget {
  app: FastifyInstance
  /** The one-time admin setup code, as a fresh server prints it. */
  setupCode: string
  store: MetadataStore
  /** The app's log lines (pino JSON) so far, to check that nothing logged an internal error. */
  logs(): string
  close(): Promise<void>
}

/** The origin logins to an injected app sign for (no socket, so no port). */
const ORIGIN = 'http://airlock.test'

/**
 * Builds the server's HTTP application the way `startServer` does, but with no socket and no
 * process: requests go through Fastify's `inject`, metadata lives in an in-memory SQLite database
 * and blobs in a temporary directory, so route-level tests run in milliseconds and need no build.
 * This is the one place tests build the app: if its construction changes, only this changes.
 */
export async function injectApp(config: Partial<ServerConfig> = {}): Promise<InjectedApp> {
  const dataDir = await tempDir('airlock-inject-')
  const store = await openSqliteStore(':memory:')
  const blobs = await LocalBlobStore.open(`${dataDir}/blobs`)
  const hub = new InProcessPushHub()
  let logs = ''
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs += chunk
      done()
    },
  })
  const app = await buildApp(
    {
      config: { ...DEFAULTS, dataDir, logLevel: 'warn', ...config },
      store,
      blobs,
      hub,
      limiter: new RateLimiter(),
      origins: () => new Set([ORIGIN]),
      now: Date.now,
      version: 'test',
    },
    { logger: pino({ level: 'warn' }, sink) },
  )
  await app.ready()
  const setupCode = newCode()
  await store.accounts.replaceSetupCode({
    id: randomId(),
    codeHash: hashCode(setupCode),
    createdAt: Date.now(),
    expiresAt: null,
  })
  return {
    app,
    origin: ORIGIN,
    setupCode,
    store,
    logs: () => logs,
    async close() {
      await app.close()
      await hub.close()
      await store.close()
      await removeDir(dataDir)
    },
  }
}

/**
 * Every route the app registered, as `METHOD /path/:param`, read from Fastify's route tree
 * (`printRoutes`), without the HEAD and OPTIONS that accompany others. A matrix checks against
 * this list that it has a row for every route, so a new route cannot go untested.
 */
export function routesOf(app: FastifyInstance): string[] {
  const out: string[] = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line)
    if (!m) continue
    const depth = m[1]!.length / 4
    stack.length = depth
    const path = (stack[depth - 1] ?? '') + m[2]!
    stack[depth] = path
    for (const method of (m[3] ?? '').split(', ')) {
      if (method && method !== 'HEAD' && method !== 'OPTIONS') out.push(`${method} ${path}`)
    }
  }
  return out
}
