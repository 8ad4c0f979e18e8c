import type { Readable } from 'node:stream'
import { DataStore, ERRORS, Upload } from '@tus/utils'
import { isServerError } from '../../errors.js'
import type { BlobStore } from './blob-store.js'

/** A tus protocol error: tus answers with `status_code` and `body`. */
class TusHttpError extends Error {
  constructor(
    readonly status_code: number,
    readonly body: string,
  ) {
    super(body.trim())
  }
}

/**
 * A tus `DataStore` over any `BlobStore`, so resumable uploads work with every blob adapter. The
 * tus upload id is the item id; the upload is usually created by the item reservation, and
 * offsets come from the bytes the blob store holds, so a restarted server resumes exactly where
 * the bytes stopped. Only the `creation` extension: no deferred length, no termination, no
 * concatenation (items are deleted through the items API).
 */
export class BlobTusStore extends DataStore {
  constructor(private readonly blobs: BlobStore) {
    super()
    this.extensions = ['creation', 'creation-with-upload']
  }

  override async create(upload: Upload): Promise<Upload> {
    if (upload.size === undefined) throw ERRORS.INVALID_LENGTH
    const existing = await this.blobs.status(upload.id)
    if (existing) {
      // Re-creating a reserved, still empty upload of the same length is harmless.
      if (existing.committed || existing.size !== 0 || existing.length !== upload.size)
        throw new TusHttpError(409, 'Upload exists: resume it with HEAD and PATCH\n')
      return new Upload({ id: upload.id, size: upload.size, offset: 0 })
    }
    await this.blobs.create(upload.id, upload.size)
    return new Upload({ id: upload.id, size: upload.size, offset: 0 })
  }

  override async write(stream: Readable, id: string, offset: number): Promise<number> {
    try {
      return await this.blobs.append(id, offset, stream)
    } catch (e) {
      if (isServerError(e, 'CONFLICT')) throw ERRORS.INVALID_OFFSET
      if (isServerError(e, 'NOT_FOUND')) throw ERRORS.FILE_NOT_FOUND
      if (isServerError(e, 'PAYLOAD_TOO_LARGE')) throw ERRORS.ERR_SIZE_EXCEEDED
      throw e
    }
  }

  override async getUpload(id: string): Promise<Upload> {
    const s = await this.blobs.status(id).catch(() => null)
    if (!s) throw ERRORS.FILE_NOT_FOUND
    return new Upload({ id, size: s.length, offset: s.size })
  }

  override async remove(_id: string): Promise<void> {
    throw new TusHttpError(405, 'Delete the item instead\n')
  }

  override async declareUploadLength(): Promise<void> {
    throw ERRORS.UNSUPPORTED_CREATION_DEFER_LENGTH_EXTENSION
  }
}
