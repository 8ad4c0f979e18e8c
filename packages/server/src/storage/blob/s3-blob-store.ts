import { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3'
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  ServerError,
} from '../../errors.js'
import {
  type BlobListing,
  type BlobStatus,
  type BlobStore,
  BlobWriters,
  isValidBlobId,
} from './blob-store.js'
import { DEFAULT_PART_SIZE, isMissing, type S3Settings, s3, s3Client, unavailable } from './s3-client.js'
import { S3Staging, type StagedState, stagedSize } from './s3-staging.js'

/**
 * A `BlobStore` in an S3 bucket. Committed blobs are objects `<prefix>blobs/<id>`, read with
 * ranged GETs. A staged blob is an S3 multipart upload whose progress is persisted in the bucket
 * (`s3-staging.ts`): full parts of `partSize` bytes go straight into the multipart upload, the
 * rest waits in a small tail object, and a state object records both. Any instance can therefore
 * resume any upload, a crash loses at most the bytes of one part not yet acknowledged, and memory
 * per upload is bounded by one part. Commit completes the multipart upload (or, for a blob
 * smaller than a part, copies the tail), so no ciphertext passes through the server twice.
 */
export class S3BlobStore implements BlobStore {
  private readonly writers = new BlobWriters()
  private readonly staging: S3Staging
  private readonly partSize: number

  private constructor(
    private readonly client: S3Client,
    private readonly s: S3Settings,
  ) {
    this.staging = new S3Staging(client, s)
    this.partSize = s.partSize ?? DEFAULT_PART_SIZE
  }

  /** Connects and checks that the bucket answers. */
  static async open(s: S3Settings): Promise<S3BlobStore> {
    const client = s3Client(s)
    try {
      await client.send(new HeadBucketCommand({ Bucket: s.bucket }))
    } catch (e) {
      client.destroy()
      throw new ServerError('UNAVAILABLE', `the S3 bucket ${s.bucket} is not reachable`, {}, e)
    }
    return new S3BlobStore(client, s)
  }

  async create(id: string, length: number): Promise<void> {
    checkId(id)
    if (!Number.isSafeInteger(length) || length < 0) throw new BadRequestError('invalid blob length')
    if (await this.status(id)) throw new ConflictError('blob exists')
    await this.staging.write(id, { length, uploadId: null, parts: [], tail: null, gen: 0 })
  }

  async append(
    id: string,
    offset: number,
    data: Readable | AsyncIterable<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<number> {
    checkId(id)
    this.writers.begin(id)
    try {
      const state = await this.staging.read(id)
      if (!state) throw new NotFoundError('no such staged blob')
      if (stagedSize(state) !== offset) throw new ConflictError('offset does not match the stored size')
      const stored = state.parts.reduce((n, p) => n + p.size, 0)
      // The tail (less than a part) is read back so that parts stay at least `partSize` long.
      let pending: Uint8Array[] = state.tail ? [await this.staging.readTail(id, state.tail.gen)] : []
      let pendingBytes = state.tail?.size ?? 0
      let sent = stored
      let dirty = false
      try {
        for await (const chunk of data as AsyncIterable<Uint8Array>) {
          if (signal?.aborted) break
          const room = state.length - sent - pendingBytes
          if (chunk.length > room) {
            if (room > 0) {
              pending.push(chunk.subarray(0, room))
              pendingBytes += room
              dirty = true
            }
            throw new PayloadTooLargeError('more bytes than the declared length')
          }
          pending.push(chunk)
          pendingBytes += chunk.length
          dirty ||= chunk.length > 0
          if (pendingBytes >= this.partSize) {
            const part = Buffer.concat(pending, pendingBytes)
            pending = []
            pendingBytes = 0
            await this.staging.addPart(id, state, part)
            sent += part.length
            dirty = false
          }
        }
      } finally {
        // Whatever arrived before a failure is kept as the tail, so the upload resumes from there.
        if (dirty) {
          await this.staging.replaceTail(id, state, Buffer.concat(pending, pendingBytes)).catch(() => {})
        }
      }
      return stagedSize(state)
    } finally {
      this.writers.end(id)
    }
  }

  async status(id: string): Promise<BlobStatus | null> {
    checkId(id)
    // Staged first: uploads ask for the status of staged blobs far more often than of committed
    // ones. A commit cut short after completing still reads as staged and complete; committing
    // it again finishes the clean-up.
    const state = await this.staging.read(id)
    if (state) return { length: state.length, size: stagedSize(state), committed: false }
    const size = await this.committedSize(id)
    return size === null ? null : { length: size, size, committed: true }
  }

  async commit(id: string): Promise<void> {
    checkId(id)
    this.writers.assertIdle(id)
    if ((await this.committedSize(id)) !== null) {
      // A commit that stopped after completing, before removing its staging objects.
      await this.staging.remove(id)
      return
    }
    const state = await this.staging.read(id)
    if (!state) throw new NotFoundError('no such blob')
    if (stagedSize(state) !== state.length)
      throw new ServerError('UPLOAD_INCOMPLETE', 'the upload is not complete')
    await this.staging.complete(id, state, this.key(id))
    await this.staging.forget(id, state)
  }

  async read(id: string, range?: { start: number; end: number }): Promise<Readable> {
    checkId(id)
    const size = await this.committedSize(id)
    if (size === null) throw new NotFoundError('no such blob')
    if (range && (range.start < 0 || range.end < range.start || range.end >= size)) {
      throw new ServerError('RANGE_NOT_SATISFIABLE', 'range not satisfiable', {
        'content-range': `bytes */${size}`,
      })
    }
    const r = await s3(() =>
      this.client.send(
        new GetObjectCommand({
          Bucket: this.s.bucket,
          Key: this.key(id),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      ),
    )
    const body = r.Body as Readable
    if (!range) return body
    if (!r.ContentRange?.startsWith(`bytes ${range.start}-`)) {
      body.destroy()
      throw new ServerError('UNAVAILABLE', 'object storage answered a different range')
    }
    // Some S3 servers send more than asked (s3rver reads `bytes=0-0` as `bytes=0-`).
    return Readable.from(exactly(body, range.end - range.start + 1))
  }

  async delete(id: string): Promise<void> {
    checkId(id)
    await s3(() => this.client.send(new DeleteObjectCommand({ Bucket: this.s.bucket, Key: this.key(id) })))
    const state = await this.staging.read(id)
    if (state?.uploadId) {
      // Not every S3-compatible server implements abort (s3rver does not); a bucket lifecycle
      // rule (AbortIncompleteMultipartUpload) collects what is left. See DEPLOY.md.
      await this.client
        .send(
          new AbortMultipartUploadCommand({
            Bucket: this.s.bucket,
            Key: this.key(id),
            UploadId: state.uploadId,
          }),
        )
        .catch(() => {})
    }
    await this.staging.remove(id)
  }

  async *list(): AsyncIterable<BlobListing> {
    for await (const o of this.objects(`${this.s.prefix}staging/`)) {
      const m = /^staging\/([A-Za-z0-9_-]{16,64})\/state$/.exec(o.key.slice(this.s.prefix.length))
      if (!m) continue
      const state: StagedState | null = await this.staging.read(m[1]!)
      if (state) yield { id: m[1]!, size: stagedSize(state), committed: false, modifiedAt: o.modifiedAt }
    }
    for await (const o of this.objects(`${this.s.prefix}blobs/`)) {
      const id = o.key.slice(`${this.s.prefix}blobs/`.length)
      if (isValidBlobId(id)) yield { id, size: o.size, committed: true, modifiedAt: o.modifiedAt }
    }
  }

  async close(): Promise<void> {
    this.client.destroy()
  }

  private async *objects(prefix: string) {
    let token: string | undefined
    do {
      const r = await s3(() =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.s.bucket, Prefix: prefix, ContinuationToken: token }),
        ),
      )
      for (const o of r.Contents ?? []) {
        yield { key: o.Key ?? '', size: o.Size ?? 0, modifiedAt: o.LastModified?.getTime() ?? 0 }
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined
    } while (token)
  }

  private async committedSize(id: string): Promise<number | null> {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.s.bucket, Key: this.key(id) }))
      return h.ContentLength ?? 0
    } catch (e) {
      if (isMissing(e)) return null
      throw unavailable(e)
    }
  }

  private key(id: string): string {
    return `${this.s.prefix}blobs/${id}`
  }
}

async function* exactly(body: Readable, n: number): AsyncIterable<Uint8Array> {
  let left = n
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      const piece = chunk.length > left ? chunk.subarray(0, left) : chunk
      left -= piece.length
      yield piece
      if (left === 0) return
    }
  } finally {
    body.destroy()
  }
  if (left > 0) throw new ServerError('UNAVAILABLE', 'object storage ended the range early')
}

function checkId(id: string): void {
  if (!isValidBlobId(id)) throw new BadRequestError('invalid blob id')
}
