import { API_PREFIX, ENDPOINTS, TUS_ITEM_METADATA_KEY } from '@airlock/core'
import type { Server as TusServer } from '@tus/server'
import { Metadata } from '@tus/utils'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AppContext } from '../context.js'
import { authorizeUploadCreation, authorizeUploadResume } from '../domain/uploads.js'
import {
  BadRequestError,
  ConflictError,
  InvalidBodyError,
  NotFoundError,
  PayloadTooLargeError,
  ServerError,
} from '../errors.js'
import { requireAuth } from '../http/auth.js'
import { BlobTusStore } from '../storage/blob/tus-store.js'

/**
 * The tus endpoint (`/api/v1/uploads`) for item blobs and share-link blobs. Every request except `OPTIONS` carries the
 * bearer token, and only the device that reserved an item may create, query or extend its
 * upload; `Upload-Length` must equal the declared ciphertext size. Authorisation
 * (`domain/uploads.ts`) happens here, first. `@tus/server` (over `BlobTusStore`) answers creation and `OPTIONS`; `HEAD` and `PATCH`
 * take the direct path of {@link resume}.
 */
export function uploadRoutes(app: FastifyInstance, ctx: AppContext): void {
  // Loaded on first use: clients create uploads by reserving items and only send HEAD and PATCH,
  // which never reach @tus/server, so a server need not carry it (a few MB resident) until then.
  let tus: Promise<TusServer> | null = null
  const tusServer = (): Promise<TusServer> => {
    tus ??= import('@tus/server').then(({ Server }) => createTusServer(Server, ctx))
    return tus
  }

  // tus reads the request body itself, as a stream.
  app.addContentTypeParser('application/offset+octet-stream', (_req, _payload, done) => done(null))

  const handle = async (req: FastifyRequest, reply: FastifyReply) => {
    await authorize(ctx, req)
    if (req.method === 'HEAD' || req.method === 'PATCH') return resume(ctx, req, reply)
    const server = await tusServer()
    reply.hijack()
    try {
      await server.handle(req.raw, reply.raw)
    } catch (e) {
      req.log.warn({ err: e }, 'upload failed')
      if (!reply.raw.headersSent) reply.raw.writeHead(500, { connection: 'close' })
      reply.raw.end()
    }
  }
  const methods = ['POST', 'HEAD', 'PATCH', 'OPTIONS'] as const
  // Every method on both paths of the table's tus endpoints, so those tus does not use are
  // answered in Airlock's error format.
  const [create, resumeAt] = [ENDPOINTS.tusCreate.path, ENDPOINTS.tusAppend.path]
  app.route({ method: [...methods], url: create, handler: handle })
  app.route({ method: [...methods], url: resumeAt, handler: handle })
  const refuse = async () => {
    throw new ServerError(
      'METHOD_NOT_ALLOWED',
      'download with GET /items/:id/blob, delete with DELETE /items/:id',
    )
  }
  app.route({ method: ['GET', 'DELETE'], url: create, handler: refuse })
  app.route({ method: ['GET', 'DELETE'], url: resumeAt, handler: refuse })
}

function createTusServer(Server: typeof TusServer, ctx: AppContext): TusServer {
  return new Server({
    path: `${API_PREFIX}/uploads`,
    datastore: new BlobTusStore(ctx.blobs),
    maxSize: ctx.config.maxItemSize,
    relativeLocation: true,
    respectForwardedHeaders: false,
    allowedOrigins: [],
    // tus answers 501 for extensions it lacks (deferred length); to clients that is a bad request.
    onResponseError: (_req, err) => {
      const e = err as { status_code?: number; body?: string }
      if (e.status_code === 501) return { status_code: 400, body: e.body ?? 'Unsupported tus extension\n' }
      return undefined
    },
    namingFunction: (_req, metadata) => {
      const id = metadata?.[TUS_ITEM_METADATA_KEY]
      if (typeof id !== 'string') throw new InvalidBodyError('missing item id')
      return id
    },
  })
}

const TUS_VERSION = '1.0.0'

/**
 * tus `HEAD` and `PATCH`, the hot path of every upload, answered here rather than through
 * `@tus/server`: the request body goes straight from the socket to the blob store, without the
 * conversions to and from web streams that halve throughput. Same protocol rules: `Tus-Resumable`
 * (412), `Content-Type` (415), `Upload-Offset` (400, and 409 unless it equals the stored size), no
 * deferred length (400), nothing past `Upload-Length` (413). Bytes received before a dropped
 * connection stay stored, so `HEAD` tells the client where to resume.
 */
async function resume(ctx: AppContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  void reply.header('tus-resumable', TUS_VERSION).header('cache-control', 'no-store')
  if (req.headers['tus-resumable'] !== TUS_VERSION) {
    return reply.code(412).header('tus-version', TUS_VERSION).send()
  }
  const id = (req.params as { id: string }).id
  const blob = await ctx.blobs.status(id)
  if (!blob) throw new NotFoundError()
  if (req.method === 'HEAD') {
    return reply.code(200).header('upload-offset', blob.size).header('upload-length', blob.length).send()
  }
  if (req.headers['content-type'] !== 'application/offset+octet-stream') {
    throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'a tus PATCH carries application/offset+octet-stream')
  }
  const offsetHeader = req.headers['upload-offset']
  if (typeof offsetHeader !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(offsetHeader)) {
    throw new BadRequestError('missing or invalid Upload-Offset')
  }
  if (req.headers['upload-length'] !== undefined)
    throw new BadRequestError('Upload-Length is fixed by the reservation')
  const offset = Number(offsetHeader)
  if (offset !== blob.size) throw new ConflictError('Upload-Offset does not match the stored size')
  const declared = req.headers['content-length']
  if (declared !== undefined && offset + Number(declared) > blob.length) {
    throw new PayloadTooLargeError('more bytes than the declared length')
  }
  const next = await ctx.blobs.append(id, offset, req.raw)
  return reply.code(204).header('upload-offset', next).send()
}

async function authorize(ctx: AppContext, req: FastifyRequest): Promise<void> {
  if (req.method === 'OPTIONS') return
  const auth = await requireAuth(ctx, req)
  const params = req.params as { id?: string }
  if (req.method === 'POST') {
    if (params.id !== undefined) throw new NotFoundError()
    const header = req.headers['upload-metadata']
    let itemId: string | null | undefined
    try {
      itemId = typeof header === 'string' ? Metadata.parse(header)[TUS_ITEM_METADATA_KEY] : undefined
    } catch {
      throw new InvalidBodyError('invalid Upload-Metadata')
    }
    if (typeof itemId !== 'string')
      throw new InvalidBodyError(`Upload-Metadata must name the ${TUS_ITEM_METADATA_KEY}`)
    await authorizeUploadCreation(ctx, auth, itemId, req.headers['upload-length'])
    return
  }
  if (params.id === undefined) throw new NotFoundError()
  await authorizeUploadResume(ctx, auth, params.id, req.method)
}
