import type { ServerOptions as HttpsOptions } from 'node:https'
import { API_PREFIX } from '@airlock/core'
import fastifyWebsocket from '@fastify/websocket'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify'
import type { AppContext } from './context.js'
import { ServerError } from './errors.js'
import { accessRoutes } from './routes/accesses.js'
import { accountRoutes } from './routes/accounts.js'
import { adminRoutes } from './routes/admin.js'
import { authRoutes } from './routes/auth.js'
import { contactRoutes } from './routes/contacts.js'
import { conversationRoutes } from './routes/conversations.js'
import { deviceLogRoutes } from './routes/device-log.js'
import { healthRoutes } from './routes/health.js'
import { itemRoutes } from './routes/items.js'
import { linkRoutes } from './routes/link.js'
import { pushRoutes } from './routes/push.js'
import { shareRoutes } from './routes/shares.js'
import { uploadRoutes } from './routes/uploads.js'
import { webRoutes } from './routes/web.js'

/** JSON bodies are small (the largest is a device-log entry); manifests have their own limit. */
const JSON_BODY_LIMIT = 64 * 1024

export interface BuildOptions {
  logger: FastifyBaseLogger
  https?: HttpsOptions
}

/**
 * The HTTP application: every route, the error table, body and connection limits. Storage,
 * clock and configuration come in through `ctx`, so tests can build it over any adapters.
 */
export async function buildApp(ctx: Omit<AppContext, 'log'>, opts: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.logger,
    ...(opts.https ? { https: opts.https } : {}),
    bodyLimit: JSON_BODY_LIMIT,
    routerOptions: { maxParamLength: 128 },
    trustProxy: ctx.config.trustProxy,
    // Idle sockets (slow or stalled clients) are dropped after two minutes.
    connectionTimeout: 120_000,
    keepAliveTimeout: 65_000,
    requestTimeout: 0,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Fastify's own request lines would log headers' neighbours; ours (onResponse) log less.
    logController: new LogController({ disableRequestLogging: true }),
    // Malformed URLs and over-long path parameters: a 400 in our error format, never echoing the path.
    frameworkErrors: (_err, _req, reply) => {
      const e = new ServerError('BAD_REQUEST', 'malformed URL')
      void (reply as FastifyReply).code(e.status).send(e.toBody())
    },
  }) as unknown as FastifyInstance
  const full: AppContext = { ...ctx, log: app.log }

  app.addHook('onSend', async (req, reply) => {
    void reply.header('x-content-type-options', 'nosniff')
    if (req.url.startsWith(`${API_PREFIX}/`) && !reply.hasHeader('cache-control'))
      void reply.header('cache-control', 'no-store')
  })
  app.addHook('onResponse', async (req, reply) => {
    // Method, path without query, status and time only: never headers or bodies.
    req.log.info(
      {
        method: req.method,
        path: req.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    )
  })

  app.setErrorHandler((err: FastifyError | ServerError, req, reply) => {
    const e = toServerError(err)
    if (e.status >= 500)
      req.log.error({ err: { type: err.name, message: err.message, stack: err.stack } }, 'internal error')
    void reply.code(e.status).headers(e.headers).send(e.toBody())
  })
  app.setNotFoundHandler((_req, reply) => {
    const e = new ServerError('NOT_FOUND', 'no such route')
    void reply.code(e.status).send(e.toBody())
  })

  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  )

  await app.register(fastifyWebsocket, {
    options: { maxPayload: 4096 },
    preClose(done) {
      for (const client of app.websocketServer.clients) client.close(1001, 'server shutting down')
      app.websocketServer.close(() => done())
    },
  })

  healthRoutes(app, full)
  await app.register(
    async (api) => {
      accountRoutes(api, full)
      authRoutes(api, full)
      deviceLogRoutes(api, full)
      conversationRoutes(api, full)
      contactRoutes(api, full)
      itemRoutes(api, full)
      accessRoutes(api, full)
      uploadRoutes(api, full)
      linkRoutes(api, full)
      shareRoutes(api, full)
      pushRoutes(api, full)
      adminRoutes(api, full)
    },
    { prefix: API_PREFIX },
  )
  await webRoutes(app, full)
  return app
}

/** Maps any error to a `ServerError`: Fastify's own 4xx errors keep their status class. */
function toServerError(err: FastifyError | ServerError): ServerError {
  if (err instanceof ServerError) return err
  // A full disk (blob directory or database) is the operator's to fix; clients retry later.
  if (['ENOSPC', 'EDQUOT', 'SQLITE_FULL'].includes(String(err.code))) {
    return new ServerError('INSUFFICIENT_STORAGE', 'the server is out of storage space; try again later')
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ServerError('PAYLOAD_TOO_LARGE', 'request body is too large')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ServerError('UNSUPPORTED_MEDIA_TYPE', 'unsupported content type')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ServerError('INVALID_BODY', 'the body is not valid JSON')
  }
  const status = (err as FastifyError).statusCode
  if (status === 413) return new ServerError('PAYLOAD_TOO_LARGE', 'request body is too large')
  if (status === 415) return new ServerError('UNSUPPORTED_MEDIA_TYPE', 'unsupported content type')
  if (status === 429) return new ServerError('RATE_LIMITED', 'too many requests')
  if (status !== undefined && status >= 400 && status < 500)
    return new ServerError('BAD_REQUEST', 'bad request')
  return new ServerError('INTERNAL', 'internal error')
}
