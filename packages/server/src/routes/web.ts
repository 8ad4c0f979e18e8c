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

/** The web app's built files at `/` when present (`--web-dir` or packages/web/dist), else a short text page. */
export async function webRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const dir = ctx.config.webDir ?? join(dirname(fileURLToPath(import.meta.url)), '../../../web/dist')
  if (existsSync(join(dir, 'index.html'))) {
    await app.register(fastifyStatic, {
      root: resolve(dir),
      prefix: '/',
      index: ['index.html'],
      dotfiles: 'deny',
      setHeaders: (res) => {
        res.header('x-content-type-options', 'nosniff')
        res.header('referrer-policy', 'no-referrer')
      },
    })
    return
  }
  app.get('/', async (_req, reply) =>
    reply.type('text/plain; charset=utf-8').header('x-content-type-options', 'nosniff').send(PLACEHOLDER),
  )
}
