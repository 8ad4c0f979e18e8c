import type { ServerResponse } from 'node:http'
import { ENDPOINTS } from '@airlock/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AppContext } from '../context.js'
import { requireAccepted } from '../domain/consent.js'
import { memberConversation } from '../domain/conversations.js'
import {
  commitItem,
  deleteItem,
  followItem,
  itemToWire,
  listItems,
  ownReservation,
  readItemBlob,
  reserveItem,
  visibleItem,
} from '../domain/items.js'
import { LiveSlots } from '../domain/live-slots.js'
import { ServerError } from '../errors.js'
import { requireAuth } from '../http/auth.js'
import { bodyOf, on, queryOf } from '../http/endpoint.js'
import { paramOf } from '../http/params.js'
import { sendBlob } from '../http/range.js'
import type { FollowedBlob } from '../storage/blob/blob-store.js'

/** At most this many uploads are followed at once per server; others wait for the commit. */
const MAX_FOLLOWING = 256

/**
 * Items (`domain/items.ts`): reserve, upload the blob with tus (`uploads.ts`), then `PUT` the
 * encrypted manifest, which commits the item. Listing, ranged download, following an upload as
 * it arrives, and deletion.
 */
export function itemRoutes(app: FastifyInstance, ctx: AppContext): void {
  /** Live downloads in progress (GET /items/:id/live), each holding a file and a connection. */
  const slots = new LiveSlots(MAX_FOLLOWING, ctx.config.maxLivePerAccount)
  const conversation = async (req: FastifyRequest) =>
    memberConversation(ctx, await requireAuth(ctx, req), paramOf(ENDPOINTS.listItems, 'cid', req.params))
  const itemId = (req: FastifyRequest) => paramOf(ENDPOINTS.getItem, 'id', req.params)

  on(app, 'reserveItem', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const c = await conversation(req)
    const body = bodyOf(ENDPOINTS.reserveItem, req.body)
    const { response, created } = await reserveItem(ctx, auth, c, body)
    return reply.code(created ? 201 : 200).send(response)
  })

  on(app, 'listItems', async (req) => {
    const c = await conversation(req)
    await requireAccepted(ctx, c, (await requireAuth(ctx, req)).accountId)
    const query = queryOf(ENDPOINTS.listItems, req.query)
    return listItems(ctx, c, { since: query.since ?? 0, limit: query.limit ?? 100 })
  })

  on(app, 'getItem', async (req) => {
    const auth = await requireAuth(ctx, req)
    return itemToWire(await visibleItem(ctx, auth, itemId(req)))
  })

  on(
    app,
    'commitItem',
    async (req) => {
      const auth = await requireAuth(ctx, req)
      const item = await ownReservation(ctx, auth, itemId(req))
      if (!(req.body instanceof Uint8Array)) {
        throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'send the manifest as application/octet-stream')
      }
      return commitItem(ctx, auth, item, new Uint8Array(req.body))
    },
    { bodyLimit: ctx.config.maxManifestSize },
  )

  on(app, 'downloadItem', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const item = await visibleItem(ctx, auth, itemId(req))
    // HEAD (which Fastify answers from this route) is not a download.
    const count = req.method === 'GET'
    return sendBlob(req, reply, item.ciphertextSize, (range) =>
      readItemBlob(ctx, auth, item, range, { address: req.ip, count }),
    )
  })

  /**
   * The blob of an item still being uploaded, from its first byte, as it arrives: the response
   * declares the full length and ends when the upload is complete, or breaks off if the upload is
   * abandoned or stalls. Nothing here is an item yet: a client keeps what it receives private until
   * the item is committed and its signed manifest verifies it. A committed item is served whole.
   */
  on(app, 'followUpload', async (req, reply) => {
    const auth = await requireAuth(ctx, req)
    const item = await visibleItem(ctx, auth, itemId(req), { uploading: true })
    // Where the store cannot follow, followItem answers CONFLICT without holding anything.
    const release = ctx.blobs.follow ? slots.take(auth.accountId) : () => {}
    const abort = new AbortController()
    let live: FollowedBlob
    try {
      live = await followItem(ctx, auth, item, req.ip, abort.signal)
    } catch (e) {
      release()
      throw e
    }
    // The status and length go out at once, before the uploader's first byte arrives.
    reply.hijack()
    const res = reply.raw
    res.once('close', () => abort.abort())
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'cache-control': 'no-store',
      'content-length': String(live.length),
    })
    res.flushHeaders()
    try {
      // Each chunk is written out before the next is read into the same buffer.
      for await (const chunk of live.chunks) await written(res, chunk, abort.signal)
      await new Promise<void>((resolve) => res.end(resolve))
    } catch {
      // The upload was abandoned or stalled, or the follower left: the response breaks off short.
      res.destroy()
    } finally {
      release()
      await live.close()
    }
  })

  on(app, 'deleteItem', async (req) => {
    const auth = await requireAuth(ctx, req)
    return deleteItem(ctx, auth, itemId(req))
  })
}

/** Writes `chunk` to `res` and resolves once it has been handed to the socket (or fails). */
function written(res: ServerResponse, chunk: Uint8Array, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const gone = () => reject(new Error('the follower left'))
    if (signal.aborted) return gone()
    signal.addEventListener('abort', gone, { once: true })
    res.write(chunk, (e) => {
      signal.removeEventListener('abort', gone)
      if (e) reject(e)
      else resolve()
    })
  })
}
