import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { z } from 'zod'
import { isMissing, type S3Settings, s3, unavailable } from './s3-client.js'

/**
 * The persisted progress of one staged blob in S3, so that an upload survives the instance that
 * received it:
 *
 *     <prefix>staging/<id>/state       JSON: declared length, multipart upload id, parts sent, tail
 *     <prefix>staging/<id>/tail-<gen>  bytes received after the last full part (< one part)
 *
 * The state object is the commit point: a part or a tail is first stored, then named by a new
 * state (one PUT, atomic in S3), and only then is the previous tail deleted. A crash between the
 * steps leaves an unreferenced tail or part that the next write overwrites or `remove` deletes,
 * never a state that names bytes that are not there.
 */
export interface StagedState {
  length: number
  /** Created with the first full part; blobs smaller than a part never start one. */
  uploadId: string | null
  parts: { n: number; etag: string; size: number }[]
  tail: { gen: number; size: number } | null
  /** Generation counter for tail object names. */
  gen: number
}

const stateSchema = z.object({
  length: z.number().int().nonnegative(),
  uploadId: z.string().nullable(),
  parts: z.array(z.object({ n: z.number().int().positive(), etag: z.string(), size: z.number().int() })),
  tail: z.object({ gen: z.number().int(), size: z.number().int().nonnegative() }).nullable(),
  gen: z.number().int(),
})

/** Bytes a staged blob holds: its parts and its tail. */
export function stagedSize(s: StagedState): number {
  return s.parts.reduce((n, p) => n + p.size, 0) + (s.tail?.size ?? 0)
}

export class S3Staging {
  constructor(
    private readonly client: S3Client,
    private readonly s: S3Settings,
  ) {}

  async read(id: string): Promise<StagedState | null> {
    try {
      const r = await this.client.send(
        new GetObjectCommand({ Bucket: this.s.bucket, Key: this.stateKey(id) }),
      )
      const text = await r.Body!.transformToString()
      return stateSchema.parse(JSON.parse(text))
    } catch (e) {
      if (isMissing(e)) return null
      throw unavailable(e)
    }
  }

  async write(id: string, state: StagedState): Promise<void> {
    await this.put(this.stateKey(id), Buffer.from(JSON.stringify(state)))
  }

  async readTail(id: string, gen: number): Promise<Uint8Array> {
    const r = await s3(() =>
      this.client.send(new GetObjectCommand({ Bucket: this.s.bucket, Key: this.tailKey(id, gen) })),
    )
    return r.Body!.transformToByteArray()
  }

  /** Sends `part` as the next multipart part and records it; the tail it absorbed is dropped. */
  async addPart(id: string, state: StagedState, part: Buffer): Promise<void> {
    if (state.uploadId === null) {
      const r = await s3(() =>
        this.client.send(new CreateMultipartUploadCommand({ Bucket: this.s.bucket, Key: this.blobKey(id) })),
      )
      state.uploadId = r.UploadId!
    }
    const n = state.parts.length + 1
    const etag = await this.uploadPart(id, state.uploadId, n, part)
    const oldTail = state.tail
    state.parts.push({ n, etag, size: part.length })
    state.tail = null
    await this.write(id, state)
    if (oldTail) await this.deleteKey(this.tailKey(id, oldTail.gen)).catch(() => {})
  }

  /** Stores `bytes` as the new tail and records it. */
  async replaceTail(id: string, state: StagedState, bytes: Buffer): Promise<void> {
    const oldTail = state.tail
    const gen = state.gen + 1
    await this.put(this.tailKey(id, gen), bytes)
    state.gen = gen
    state.tail = { gen, size: bytes.length }
    await this.write(id, state)
    if (oldTail) await this.deleteKey(this.tailKey(id, oldTail.gen)).catch(() => {})
  }

  /** Assembles the committed object at `key` from the parts and the tail. */
  async complete(id: string, state: StagedState, key: string): Promise<void> {
    const tail = state.tail ? Buffer.from(await this.readTail(id, state.tail.gen)) : Buffer.alloc(0)
    if (state.uploadId === null) {
      await this.put(key, tail)
      return
    }
    const parts = state.parts.map((p) => ({ PartNumber: p.n, ETag: p.etag }))
    if (tail.length > 0) {
      const n = state.parts.length + 1
      parts.push({ PartNumber: n, ETag: await this.uploadPart(id, state.uploadId, n, tail) })
    }
    await s3(() =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.s.bucket,
          Key: key,
          UploadId: state.uploadId!,
          MultipartUpload: { Parts: parts },
        }),
      ),
    )
  }

  /**
   * After a commit: deletes the tail and the state it names, without listing (one request less
   * per item). A tail left behind by an earlier crash goes when the blob is deleted (`remove`).
   */
  async forget(id: string, state: StagedState): Promise<void> {
    if (state.tail) await this.deleteKey(this.tailKey(id, state.tail.gen))
    await this.deleteKey(this.stateKey(id))
  }

  /** Deletes every staging object of the blob (the state last, so a retry finds the rest). */
  async remove(id: string): Promise<void> {
    const dir = `${this.s.prefix}staging/${id}/`
    const r = await s3(() =>
      this.client.send(new ListObjectsV2Command({ Bucket: this.s.bucket, Prefix: dir })),
    )
    const keys = (r.Contents ?? []).map((o) => o.Key!).filter((k) => k !== this.stateKey(id))
    for (const k of keys) await this.deleteKey(k)
    await this.deleteKey(this.stateKey(id))
  }

  private async uploadPart(id: string, uploadId: string, n: number, body: Buffer): Promise<string> {
    const r = await s3(() =>
      this.client.send(
        new UploadPartCommand({
          Bucket: this.s.bucket,
          Key: this.blobKey(id),
          UploadId: uploadId,
          PartNumber: n,
          Body: body,
          ContentLength: body.length,
        }),
      ),
    )
    return r.ETag!
  }

  private async put(key: string, body: Buffer): Promise<void> {
    await s3(() =>
      this.client.send(
        new PutObjectCommand({ Bucket: this.s.bucket, Key: key, Body: body, ContentLength: body.length }),
      ),
    )
  }

  private async deleteKey(key: string): Promise<void> {
    await s3(() => this.client.send(new DeleteObjectCommand({ Bucket: this.s.bucket, Key: key })))
  }

  private stateKey(id: string): string {
    return `${this.s.prefix}staging/${id}/state`
  }

  private tailKey(id: string, gen: number): string {
    return `${this.s.prefix}staging/${id}/tail-${gen}`
  }

  private blobKey(id: string): string {
    return `${this.s.prefix}blobs/${id}`
  }
}
