import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { ServerError } from '../../errors.js'

/** Where blobs go in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, …). */
export interface S3Settings {
  /** e.g. `https://minio.internal:9000`; null for AWS's regional endpoint. */
  endpoint: string | null
  bucket: string
  region: string
  /** null: the SDK's default chain (environment, shared files, instance role). */
  accessKeyId: string | null
  secretAccessKey: string | null
  /** `https://host/bucket/key` instead of `https://bucket.host/key` (MinIO, most self-hosted). */
  forcePathStyle: boolean
  /** Key prefix, so one bucket can hold several installations, e.g. `airlock/`. */
  prefix: string
  /** Bytes buffered per upload before a multipart part is sent; S3 needs ≥ 5 MiB (tests use less). */
  partSize?: number
}

export const DEFAULT_PART_SIZE = 8 * 1024 * 1024

export function s3Client(s: S3Settings): S3Client {
  return new S3Client({
    region: s.region,
    forcePathStyle: s.forcePathStyle,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.accessKeyId && s.secretAccessKey
      ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } }
      : {}),
    // Checksums only where S3 requires them: self-hosted S3 servers differ in what they accept.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}

/** Creates the bucket if it does not exist (tests, first setup). */
export async function createBucket(s: S3Settings): Promise<void> {
  const client = s3Client(s)
  try {
    await client.send(new CreateBucketCommand({ Bucket: s.bucket }))
  } catch (e) {
    if ((e as Error).name !== 'BucketAlreadyOwnedByYou') throw e
  } finally {
    client.destroy()
  }
}

export function isMissing(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } }
  return err?.name === 'NotFound' || err?.name === 'NoSuchKey' || err?.$metadata?.httpStatusCode === 404
}

export function unavailable(e: unknown): ServerError {
  return e instanceof ServerError ? e : new ServerError('UNAVAILABLE', 'object storage failed', {}, e)
}

/** Runs one S3 call; its failures become `UNAVAILABLE` (503: clients retry). */
export async function s3<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (e) {
    throw unavailable(e)
  }
}
