import {
  createShareRequestSchema,
  SHARE_SESSION_HEADER,
  shareIdSchema,
  shareSessionSchema,
} from '@airlock/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AppContext } from '../context.js'
import {
  closeShareDownload,
  commitShare,
  createShare,
  listShares,
  openShareDownload,
  ownShare,
  publicShare,
  readShareBlob,
  requireShareSession,
  revokeShare,
  shareById,
} from '../domain/shares.js'
import { NotFoundError, ServerError } from '../errors.js'
import { requireAuth } from '../http/auth.js'
import { pathParam } from '../http/params.js'
import { sendBlob } from '../http/range.js'
import type { ShareRecord } from '../storage/metadata/shares.js'
import { parseInput } from '../validation.js'

/**
 * Share links (`domain/shares.ts`). The owner's device creates a link (`POST /shares`), uploads
 * one blob per file with tus (`/uploads/<blobId>`, as for items) and commits the sealed share
 * manifest (`PUT /shares/:id/manifest`); it lists and revokes its account's links. Anyone with
 * the link (no account) reads the sealed manifest (`GET /public/shares/:id`), takes one download
 * (`POST …/open`, a session), fetches the blobs with that session (ranges allowed, to resume)
 * and ends it (`POST …/close`). Expired, used-up and revoked links answer 410 `GONE`.
 */
export function shareRoutes(app: FastifyInstance, ctx: AppContext): void {
  const shareId = (req: FastifyRequest) => pathParam(req.params, 'id', shareIdSchema)

  /** The share of a request carrying a live download session for it; `GONE` otherwise. */
  const sessionShare = async (req: FastifyRequest): Promise<{ share: ShareRecord; token: string }> => {
    const share = await shareById(ctx, shareId(req))
    const token = sessionToken(req)
    await requireShareSession(ctx, share, token)
    return { share, token }
  }

  app.post('/shares', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const body = parseInput(createShareRequestSchema, req.body)
    return reply.code(201).send(await createShare(ctx, auth, body))
  })

  app.put('/shares/:id/manifest', { bodyLimit: ctx.config.maxManifestSize }, async (req) => {
    const auth = await requireAuth(ctx, req)
    const share = await ownShare(ctx, auth, shareId(req), { device: true })
    if (!(req.body instanceof Uint8Array)) {
      throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'send the manifest as application/octet-stream')
    }
    return commitShare(ctx, share, new Uint8Array(req.body))
  })

  app.get('/shares', async (req) => listShares(ctx, await requireAuth(ctx, req)))

  app.delete('/shares/:id', async (req) => {
    const auth = await requireAuth(ctx, req)
    return revokeShare(ctx, await ownShare(ctx, auth, shareId(req)))
  })

  // ---------------------------------------------------------------- public: no account

  app.get('/public/shares/:id', async (req) => publicShare(ctx, shareId(req)))

  app.post('/public/shares/:id/open', async (req) => openShareDownload(ctx, shareId(req)))

  app.get('/public/shares/:id/blobs/:n', async (req, reply) => {
    const { share } = await sessionShare(req)
    const n = (req.params as { n?: string }).n ?? ''
    const index = /^(0|[1-9][0-9]{0,2})$/.test(n) ? Number(n) : -1
    const blob = share.blobs[index]
    if (!blob) throw new NotFoundError()
    return sendBlob(req, reply, blob.size, (range) => readShareBlob(ctx, share, index, range, req.ip))
  })

  app.post('/public/shares/:id/close', async (req, reply) => {
    const { share, token } = await sessionShare(req)
    await closeShareDownload(ctx, share, token)
    return reply.code(204).send()
  })
}

function sessionToken(req: FastifyRequest): string {
  const r = shareSessionSchema.safeParse(req.headers[SHARE_SESSION_HEADER])
  if (!r.success) throw new ServerError('UNAUTHENTICATED', `open the link first (${SHARE_SESSION_HEADER})`)
  return r.data
}
