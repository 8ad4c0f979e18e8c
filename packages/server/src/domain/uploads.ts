import { itemIdSchema } from '@airlock/core'
import type { AppContext } from '../context.js'
import { InvalidBodyError, isServerError, NotFoundError } from '../errors.js'
import { ownReservation } from './items.js'
import type { Auth } from './sessions.js'
import { ownShareUpload } from './shares.js'

/**
 * Who may write a blob with tus: only the device that reserved an item (its blob id is the item
 * id) or created a share link (one blob id per file), while the reservation or the link's upload
 * window lasts.
 */

/** tus creation of an item's blob: only its reserving device, with `Upload-Length` the declared size. */
export async function authorizeUploadCreation(
  ctx: AppContext,
  auth: Auth,
  itemId: string,
  uploadLength: unknown,
): Promise<void> {
  const item = await ownReservation(ctx, auth, validItemId(itemId))
  if (uploadLength !== String(item.ciphertextSize)) {
    throw new InvalidBodyError('Upload-Length must equal the declared ciphertext size')
  }
}

/**
 * tus `HEAD` or `PATCH` of blob `blobId`: a share blob of the caller's device still uploading, or
 * an item it reserved. A device that lost track of a finished item upload may still `HEAD` it to
 * learn how far it got.
 */
export async function authorizeUploadResume(
  ctx: AppContext,
  auth: Auth,
  blobId: string,
  method: string,
): Promise<void> {
  if (await ownShareUpload(ctx, auth, blobId)) return
  try {
    await ownReservation(ctx, auth, validItemId(blobId))
  } catch (e) {
    if (method === 'HEAD' && isServerError(e, 'ALREADY_COMMITTED')) return
    throw e
  }
}

function validItemId(id: string): string {
  const r = itemIdSchema.safeParse(id)
  if (!r.success) throw new NotFoundError()
  return r.data
}
