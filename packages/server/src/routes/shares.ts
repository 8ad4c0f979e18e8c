import { ENDPOINTS, SHARE_SESSION_HEADER, shareSessionSchema } from '@airlock/core'
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
import { bodyOf, on } from '../http/endpoint.js'
import { paramOf } from '../http/params.js'
import { sendBlob } from '../http/range.js'
import type { ShareRecord } from '../storage/metadata/shares.js'

/**
 * Share links (`domain/shares.ts`). The owner's device creates a link (`POST /shares`), uploads
 * one blob per file with tus (`/uploads/<blobId>`, as for items) and commits the sealed share
 * manifest (`PUT /shares/:id/manifest`); it lists and revokes its account's links. Anyone with
 * the link (no account) reads the sealed manifest (`GET /public/shares/:id`), takes one download
 * (`POST …/open`, a session), fetches the blobs with that session (ranges allowed, to resume)
 * and ends it (`POST …/close`). Expired, used-up and revoked links answer 410 `GONE`.
 */
export function shareRoutes(app: FastifyInstance, ctx: AppContext): void {
  const shareId = (req: FastifyRequest) => paramOf(ENDPOINTS.getPublicShare, 'id', req.params)

  /** The share of a request carrying a live download session for it; `GONE` otherwise. */
  const sessionShare = async (req: FastifyRequest): Promise<{ share: ShareRecord; token: string }> => {
    const share = await shareById(ctx, shareId(req))
    const token = sessionToken(req)
    await requireShareSession(ctx, share, token)
    return { share, token }
  }

  on(app, 'createShare', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const body = bodyOf(ENDPOINTS.createShare, req.body)
    return reply.code(201).send(await createShare(ctx, auth, body))
  })

  on(
    app,
    'commitShare',
    async (req) => {
      const auth = await requireAuth(ctx, req)
      const share = await ownShare(ctx, auth, shareId(req), { device: true })
      if (!(req.body instanceof Uint8Array)) {
        throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'send the manifest as application/octet-stream')
      }
      return commitShare(ctx, share, new Uint8Array(req.body))
    },
    { bodyLimit: ctx.config.maxManifestSize },
  )

  on(app, 'listShares', async (req) => listShares(ctx, await requireAuth(ctx, req)))

  on(app, 'revokeShare', async (req) => {
    const auth = await requireAuth(ctx, req)
    return revokeShare(ctx, await ownShare(ctx, auth, shareId(req)))
  })

  // ---------------------------------------------------------------- public: no account

  on(app, 'getPublicShare', async (req) => publicShare(ctx, shareId(req)))

  on(app, 'openShare', async (req) => openShareDownload(ctx, shareId(req)))

  on(app, 'downloadShareFile', async (req, reply) => {
    const { share } = await sessionShare(req)
    const index = paramOf(ENDPOINTS.downloadShareFile, 'n', req.params)
    const blob = share.blobs[index]
    if (!blob) throw new NotFoundError()
    // HEAD (which Fastify answers from this route) is not a download.
    const count = req.method === 'GET'
    return sendBlob(req, reply, blob.size, (range) =>
      readShareBlob(ctx, share, index, range, { address: req.ip, count }),
    )
  })

  on(app, 'closeShare', async (req, reply) => {
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
