import type { Readable } from 'node:stream'
import { ConflictError } from '../../errors.js'

/**
 * Where item ciphertext lives. A blob is first *staged* — created with its exact final length and
 * filled by appends at the current offset, which survive restarts so uploads resume — and then
 * *committed*, after which it is immutable and readable. A staged blob is never readable, so a
 * partial upload can never be served as a complete one.
 *
 * Ids are server-chosen random base64url strings (16–64 characters); adapters reject anything
 * else. Adapters: local directory (`local-blob-store.ts`), S3 (`s3-blob-store.ts`). Every
 * adapter must pass `test/blob-store.conformance.ts`.
 */
export interface BlobStore {
  /** Stages an empty blob of `length` bytes. Throws `CONFLICT` if the id exists. */
  create(id: string, length: number): Promise<void>
  /**
   * Appends `data` to a staged blob whose current size is `offset` (else `CONFLICT`) and returns
   * the new size. Bytes written before a failure or an abort stay (the upload resumes from
   * there); bytes past `length` are refused with `PAYLOAD_TOO_LARGE` and never stored.
   */
  append(
    id: string,
    offset: number,
    data: Readable | AsyncIterable<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<number>
  /** The blob's state, or null if there is no such blob. */
  status(id: string): Promise<BlobStatus | null>
  /** Makes a complete staged blob durable and readable. Idempotent; `UPLOAD_INCOMPLETE` if short. */
  commit(id: string): Promise<void>
  /** Reads a committed blob, or the inclusive byte range `[start, end]` of it. `NOT_FOUND` otherwise. */
  read(id: string, range?: { start: number; end: number }): Promise<Readable>
  /**
   * Follows a blob from its first byte while it is being uploaded: `chunks` yields bytes as they
   * are stored and ends at the declared length (a committed blob is read whole). It throws if the
   * blob is deleted or stops growing for too long. A chunk may share its memory with the next
   * one: use it (or copy it) before asking for the next. Null if there is no such blob. Stores that
   * cannot watch an upload (S3) leave this out; clients then wait for the commit.
   */
  follow?(id: string, signal: AbortSignal): Promise<FollowedBlob | null>
  /** Deletes a staged or committed blob; no error if it does not exist. */
  delete(id: string): Promise<void>
  /** Every blob, staged or committed, for garbage collection and audits. */
  list(): AsyncIterable<BlobListing>
}

export interface BlobStatus {
  /** The declared final size. */
  length: number
  /** Bytes stored so far (equal to `length` once complete). */
  size: number
  committed: boolean
}

export interface BlobListing {
  id: string
  size: number
  committed: boolean
  /** Last modification, ms since the epoch. */
  modifiedAt: number
}

const BLOB_ID = /^[A-Za-z0-9_-]{16,64}$/

/** True for an id adapters accept (random base64url; never a path). */
export function isValidBlobId(id: string): boolean {
  return BLOB_ID.test(id)
}

/**
 * One writer per staged blob within a process, shared by the adapters: a second append, or a
 * commit while an append runs, is `CONFLICT` (across instances, the upload lock does this).
 */
export class BlobWriters {
  readonly #ids = new Set<string>()

  /** Marks `id` as being written; `CONFLICT` if it already is. Pair with {@link end}. */
  begin(id: string): void {
    this.assertIdle(id)
    this.#ids.add(id)
  }

  end(id: string): void {
    this.#ids.delete(id)
  }

  assertIdle(id: string): void {
    if (this.#ids.has(id)) throw new ConflictError('an upload to this blob is in progress')
  }
}

/** A blob being followed (see {@link BlobStore.follow}). */
export interface FollowedBlob {
  length: number
  /** Each chunk is valid only until the next is requested: the buffer is reused. */
  chunks: AsyncIterable<Uint8Array>
  /** Lets go of the blob; reading `chunks` to its end (or to an error) does it too. Idempotent. */
  close(): Promise<void>
}
