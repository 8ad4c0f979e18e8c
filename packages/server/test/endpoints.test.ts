import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { API_PREFIX, ENDPOINTS, type Endpoint } from '@airlock/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULTS, type RunningServer, startServer } from '../src/index.js'

/**
 * Core's endpoint table against the server as it really starts: every route Fastify registered
 * is in the table and every entry of the table is registered, so a route added, moved or removed
 * on one side only fails here. The `auth` column is checked too: without a token, every
 * device and admin endpoint answers 401, and no anonymous one does.
 */

const TABLE: Record<string, Endpoint> = ENDPOINTS

/**
 * Routes the server registers that are not endpoints: the tus route is registered for every
 * method on both of its paths so that the ones tus does not use are answered in Airlock's error
 * format (405 for GET and DELETE, 404 for the rest) instead of by the web app's fallback.
 */
const NOT_ENDPOINTS = new Set([
  `GET ${API_PREFIX}/uploads`,
  `DELETE ${API_PREFIX}/uploads`,
  `HEAD ${API_PREFIX}/uploads`,
  `PATCH ${API_PREFIX}/uploads`,
  `GET ${API_PREFIX}/uploads/:id`,
  `DELETE ${API_PREFIX}/uploads/:id`,
  `POST ${API_PREFIX}/uploads/:id`,
  `OPTIONS ${API_PREFIX}/uploads/:id`,
])

function fullPath(e: Endpoint): string {
  return e.outsideApi ? e.path : `${API_PREFIX}${e.path}`
}

/**
 * The `METHOD path` of every route in `app.printRoutes({commonPrefix: false})`: a tree whose
 * lines are `<indent>├── <segment> (METHOD, …)`, each segment continuing its parent's path.
 */
function registeredRoutes(tree: string): string[] {
  const out: string[] = []
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line)
    if (!m) continue
    const depth = m[1]!.length / 4
    stack.length = depth
    const path = (stack[depth - 1] ?? '') + m[2]!
    stack.push(path)
    for (const method of m[3]?.split(', ') ?? []) out.push(`${method} ${path}`)
  }
  return out
}

describe('the endpoint table matches the server', () => {
  let server: RunningServer
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-endpoints-'))
    server = await startServer({ ...DEFAULTS, port: 0, dataDir: dir, logLevel: 'silent' })
  })
  afterAll(async () => {
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('registers every endpoint of the table, and no API route the table lacks', () => {
    const registered = registeredRoutes(server.app.printRoutes({ commonPrefix: false }))
    expect(registered.length).toBeGreaterThan(40)
    const table = new Set(Object.values(TABLE).map((e) => `${e.method} ${fullPath(e)}`))
    const gets = new Set(registered.filter((r) => r.startsWith('GET ')).map((r) => r.slice(4)))
    const extra = registered.filter((r) => {
      const [method, path] = r.split(' ') as [string, string]
      if (table.has(r) || NOT_ENDPOINTS.has(r)) return false
      // Fastify answers HEAD for every GET route by itself.
      if (method === 'HEAD' && gets.has(path)) return false
      // Outside the API: the web app (its files, `/`, share pages), not the API's to describe.
      return path.startsWith(`${API_PREFIX}/`)
    })
    expect(extra, 'routes the server registers that core/src/endpoints.ts lacks').toEqual([])
    const missing = [...table].filter((r) => !registered.includes(r))
    expect(missing, 'endpoints of core/src/endpoints.ts the server does not register').toEqual([])
    for (const e of Object.values(TABLE)) {
      expect(server.app.hasRoute({ method: e.method, url: fullPath(e) }), fullPath(e)).toBe(true)
    }
  })

  it('asks for a session where the table says so, and for none where it says anonymous', async () => {
    const id = 'A'.repeat(22)
    for (const [name, e] of Object.entries(TABLE)) {
      if (e.response === 'websocket') continue // its token comes in the first message
      const url = fullPath(e)
        .replace(/:cid|:id/g, id)
        .replace(':n', '0')
      const res = await server.app.inject({
        method: e.method,
        url,
        ...(e.request === undefined || e.request === 'stream' ? {} : { payload: {} }),
      })
      if (e.auth === 'device' || e.auth === 'admin') {
        expect(res.statusCode, `${name} without a token`).toBe(401)
        // A HEAD answer has no body to carry the error.
        if (e.method !== 'HEAD')
          expect(res.json(), name).toMatchObject({ error: { code: 'UNAUTHENTICATED' } })
      } else if (e.auth === 'anonymous') {
        expect([401, 403], `${name} without a token`).not.toContain(res.statusCode)
        if (res.statusCode < 300) {
          expect(res.statusCode, name).toBe(e.status)
          if (typeof e.response !== 'string') e.response.parse(res.json())
        }
      } else {
        expect(res.statusCode, `${name} without its secret`).toBeGreaterThanOrEqual(400)
      }
    }
  })
})
