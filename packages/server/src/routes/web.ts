import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'

const PLACEHOLDER = `Airlock server

This server relays end-to-end encrypted files between devices; it cannot read them.
The web app is not installed here. Use the airlock CLI, or build packages/web.
API: /api/v1   Health: /healthz
`

/**
 * The web app's policy: only this origin's own scripts (each with Subresource Integrity in
 * index.html), no inline script, no eval, no third-party anything, no framing.
 */
const WEB_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "media-src 'self' blob:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** The web app's built files at `/` when present (`--web-dir` or packages/web/dist), else a short text page. */
export async function webRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const dir = ctx.config.webDir ?? join(dirname(fileURLToPath(import.meta.url)), '../../../web/dist')
  if (existsSync(join(dir, 'index.html'))) {
    await app.register(fastifyStatic, {
      root: resolve(dir),
      prefix: '/',
      index: ['index.html'],
      dotfiles: 'deny',
      cacheControl: false,
      setHeaders: (res, path) => {
        res.header('content-security-policy', WEB_CSP)
        res.header('x-content-type-options', 'nosniff')
        res.header('referrer-policy', 'no-referrer')
        res.header('x-frame-options', 'DENY')
        res.header('cross-origin-opener-policy', 'same-origin')
        res.header('cross-origin-resource-policy', 'same-origin')
        res.header('permissions-policy', 'camera=(self), microphone=(), geolocation=(), payment=()')
        // Content-hashed assets never change; the page and the file list are checked every time.
        res.header(
          'cache-control',
          /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache',
        )
      },
    })
    // Share-link download pages (`/s/<id>#<key>`) are the same app; the key after # never arrives.
    app.get('/s/:id', async (_req, reply) => reply.sendFile('index.html'))
    return
  }
  app.get('/', async (_req, reply) =>
    reply.type('text/plain; charset=utf-8').header('x-content-type-options', 'nosniff').send(PLACEHOLDER),
  )
}
