import { SHARE_SESSION_HEADER, type ShareSummary } from './api.js'
import { fromBase64Url } from './bytes.js'
import { callEndpoint, endpointPath } from './call-endpoint.js'
import { BadResponseError, InvalidInputError, isAirlockError, NetworkError, NotFoundError } from './errors.js'
import { itemFileName } from './filename.js'
import type { Sha256Factory } from './item.js'
import type { Manifest } from './manifest.js'
import { retryTransient } from './retry.js'
import {
  createShareKeys,
  decryptShareFile,
  encryptShareFile,
  openShareManifest,
  SHARE_MANIFEST_CONTEXT,
  type ShareFile,
  type ShareLink,
  type ShareManifest,
  sealShareManifest,
  shareFileCiphertextSize,
  shareLinkUrl,
} from './share.js'
import type { ChunkAead } from './stream.js'
import { isServerError, type Transport } from './transport.js'
import { checkUploadUrl, tusUpload, type UploadOptions, type UploadSource } from './tus.js'

/**
 * Share links as a client makes and opens them, over the `Transport` port; the cryptography is
 * `share.ts`. Making one: my verified items are re-encrypted to a fresh per-link key, each
 * spooled where the upload can read it again and uploaded with tus, then the sealed share
 * manifest is published; a link that cannot be finished is withdrawn. Opening one (no account):
 * the manifest is opened with the link's key (and passphrase) before a download is counted, and
 * each file is fetched within that one download, resumed with a range, and checked against the
 * manifest's hash as it is decrypted. The client brings the bytes' homes (files, OPFS) as ports.
 */

/** An item of mine to share, as the client's item flow opened it. */
export interface ShareSource {
  itemId: string
  /** Its manifest, verified: it names the shared file and gives its size. */
  manifest: Manifest
  /**
   * Its verified plaintext. A client that checks the item while streaming it returns `verified`,
   * which resolves once the stream was read to its end and the item checked out (and throws
   * otherwise); nothing is uploaded before.
   */
  open(): Promise<{ plaintext: ReadableStream<Uint8Array>; verified?: () => Promise<void> }>
}

/** Where a re-encrypted file waits for its upload, so that a retry can read it again from any offset. */
export interface ShareSpool {
  /** Stores `ciphertext` (read to its end) under `name`; returns it as an upload source. */
  write(name: string, ciphertext: ReadableStream<Uint8Array>): Promise<UploadSource>
  /** Removes what `write` stored (also after a failure); never throws. */
  remove(name: string): Promise<void>
}

export interface CreateShareOptions {
  /** Seals the manifest to the link's secret joined with it: the link alone does not open it. */
  passphrase?: string
  expiresInSeconds?: number
  /** Downloads allowed, or null for no limit. */
  maxDownloads: number | null
  aead?: ChunkAead
  sha256?: Sha256Factory
  /** Ciphertext bytes uploaded, of all files. */
  onProgress?: (done: number, total: number) => void
  signal?: AbortSignal
  /** How the uploads retry (see `tusUpload`). */
  retry?: Pick<UploadOptions, 'giveUpMs' | 'chunkSize'>
}

export interface CreatedShare {
  shareId: string
  /** `<origin>/s/<id>#<key>`: the key is only ever in the fragment. */
  link: string
  summary: ShareSummary
}

/** The shared file of an item: its name, type, size and time from the verified manifest. */
function shareFileOf(m: Manifest, sealed: { size: number; sha256: string }): ShareFile {
  return {
    name: itemFileName(m),
    type: m.kind === 'note' ? 'text/plain' : m.type,
    size: m.plaintextSize,
    mtime: m.mtime,
    ciphertextSize: sealed.size,
    ciphertextSha256: sealed.sha256,
  }
}

/**
 * Makes a share link over `sources` (in order, duplicates are the caller's to drop). Reserves the
 * link with each file's exact ciphertext size, then per file: opens it, encrypts it to the link's
 * key into `spool`, uploads it; then seals and publishes the manifest. Throws the errors of the
 * sources, the spool and the transport, `BadResponseError` when the server's uploads do not match
 * the files, and `InvalidInputError` when a file's ciphertext is not the size it was reserved
 * with; the reserved link is withdrawn on any failure.
 */
export async function createShare(
  t: Transport,
  sources: readonly ShareSource[],
  spool: ShareSpool,
  opts: CreateShareOptions,
): Promise<CreatedShare> {
  const keys = await createShareKeys(opts.passphrase)
  const sizes = await Promise.all(
    sources.map((s) => shareFileCiphertextSize(keys.fileRecipient, s.manifest.plaintextSize, opts.aead)),
  )
  const created = await callEndpoint(t, 'createShare', {
    body: {
      itemIds: sources.map((s) => s.itemId),
      ciphertextSizes: sizes,
      maxDownloads: opts.maxDownloads,
      ...(opts.expiresInSeconds === undefined ? {} : { expiresInSeconds: opts.expiresInSeconds }),
    },
  })
  try {
    if (created.uploads.length !== sources.length)
      throw new BadResponseError('list of uploads (not the files of this link)')
    const paths = created.uploads.map((u) => checkUploadUrl(t.origin, u.uploadUrl))
    const total = sizes.reduce((a, b) => a + b, 0)
    let before = 0
    const files: ShareFile[] = []
    for (const [i, source] of sources.entries()) {
      const name = created.uploads[i]!.blobId
      try {
        const { plaintext, verified } = await source.open()
        const enc = await encryptShareFile(keys.fileRecipient, plaintext, source.manifest.plaintextSize, {
          ...(opts.aead ? { aead: opts.aead } : {}),
          ...(opts.sha256 ? { sha256: opts.sha256 } : {}),
        })
        const stored = await spool.write(name, enc.ciphertext)
        await verified?.()
        const sealed = enc.finish()
        if (sealed.size !== sizes[i])
          throw new InvalidInputError('the file changed while it was being encrypted; share it again')
        await tusUpload(t, paths[i]!, {
          size: sealed.size,
          source: stored,
          fresh: true,
          ...opts.retry,
          ...(opts.signal ? { signal: opts.signal } : {}),
          onProgress: (n) => opts.onProgress?.(before + n, total),
        })
        before += sealed.size
        files.push(shareFileOf(source.manifest, sealed))
      } finally {
        await spool.remove(name)
      }
    }
    const manifest = await sealShareManifest(keys, {
      v: 1,
      context: SHARE_MANIFEST_CONTEXT,
      fileIdentity: keys.fileIdentity,
      files,
    })
    const summary = await callEndpoint(t, 'commitShare', {
      params: { id: created.shareId },
      body: manifest,
    })
    return { shareId: created.shareId, link: shareLinkUrl(t.origin, created.shareId, keys.fragment), summary }
  } catch (e) {
    // A link that could not be finished is withdrawn, so its partial files do not linger.
    await callEndpoint(t, 'revokeShare', { params: { id: created.shareId } }).catch(() => {})
    throw e
  }
}

// ---------------------------------------------------------------- opening a link

/** A share link as its recipient sees it before downloading. */
export interface OpenedShare {
  link: ShareLink
  expiresAt: number
  /** Downloads left, or null for no limit. */
  downloadsLeft: number | null
  /** The opened manifest; null for a passphrase link when no passphrase was given. */
  manifest: ShareManifest | null
}

/**
 * Reads a link's public info from `t` (a transport to the link's origin, without an account) and
 * opens its manifest with the link's key and, for a passphrase link, `passphrase` (called only
 * then, after the info was read; `undefined` leaves the manifest closed). Counts no download.
 * Throws `NotFoundError` for a link that is unknown, expired, used up or revoked,
 * `WrongPassphraseError`, `ShareLinkError` for a key that does not open it, `HeaderError` /
 * `PayloadAuthError` for a damaged manifest, and `BadResponseError` when the server lists other
 * files than the manifest holds.
 */
export async function openShare(
  t: Transport,
  link: ShareLink,
  passphrase?: () => Promise<string | undefined>,
): Promise<OpenedShare> {
  const info = await gone(() => callEndpoint(t, 'getPublicShare', { params: { id: link.shareId } }))
  const base = { link, expiresAt: info.expiresAt, downloadsLeft: info.downloadsLeft }
  const pass = link.needsPassphrase ? await passphrase?.() : undefined
  if (link.needsPassphrase && pass === undefined) return { ...base, manifest: null }
  const manifest = await openShareManifest(fromBase64Url(info.manifest), link.fragment, pass)
  if (manifest.files.length !== info.files.length)
    throw new BadResponseError('file list (not the files the link holds)')
  return { ...base, manifest }
}

/** One counted download of an opened link; its session lets it fetch (and resume) every file. */
export interface ShareDownload {
  link: ShareLink
  manifest: ShareManifest
  /** The download session, sent in `SHARE_SESSION_HEADER`. */
  session: string
}

/** Starts the download of an opened link: this is where the server counts it. */
export async function startShareDownload(t: Transport, opened: OpenedShare): Promise<ShareDownload> {
  if (!opened.manifest) throw new InvalidInputError('the share is not open yet (it needs its passphrase)')
  const { link } = opened
  const opening = await gone(() => callEndpoint(t, 'openShare', { params: { id: link.shareId } }))
  return { link, manifest: opened.manifest, session: opening.session }
}

/** Ends a download's session (it would idle out on its own): failures are ignored. */
export async function finishShareDownload(t: Transport, dl: ShareDownload): Promise<void> {
  await callEndpoint(t, 'closeShare', { params: { id: dl.link.shareId }, session: dl.session }).catch(
    () => {},
  )
}

/** Where a downloaded file's ciphertext is kept until it has all arrived. */
export interface CiphertextStore {
  /** The bytes held from an earlier attempt (0 for none). */
  size(): Promise<number>
  /** Writes `body` from `offset` (at 0: anew, dropping anything held), reading it to its end. */
  write(offset: number, body: ReadableStream<Uint8Array>): Promise<void>
  /** The stored ciphertext from its start. */
  read(): Promise<ReadableStream<Uint8Array>>
}

/**
 * Fetches file `index` of a download into `store` (exactly the manifest's ciphertext size; after
 * a dropped connection the rest is asked for with a range, within the same download) and returns
 * its plaintext, checked against the manifest's SHA-256 as it streams (see `decryptShareFile`:
 * treat it as provisional until the stream ends without error). Throws `BadResponseError` for a
 * file larger than the manifest says or a range other than the one asked for, `NotFoundError` when
 * the link is gone, and the last `NetworkError` when the retries are used up.
 */
export async function downloadShareFile(
  t: Transport,
  dl: ShareDownload,
  index: number,
  store: CiphertextStore,
  opts: {
    aead?: ChunkAead
    sha256?: Sha256Factory
    /** Ciphertext bytes of this file held so far. */
    onProgress?: (n: number) => void
    signal?: AbortSignal
  } = {},
): Promise<ReadableStream<Uint8Array>> {
  const file = dl.manifest.files[index]
  if (!file) throw new InvalidInputError('no such file in the share')
  const size = file.ciphertextSize
  const path = endpointPath('downloadShareFile', { id: dl.link.shareId, n: index })
  const session = { [SHARE_SESSION_HEADER]: dl.session }
  await retryTransient(
    null,
    async () => {
      let have = await store.size()
      if (have > size) have = 0
      if (have === size) return
      const res = await gone(() =>
        t.download(path, {
          anonymous: true,
          headers: have > 0 ? { ...session, range: `bytes=${have}-` } : session,
          ...(opts.signal ? { signal: opts.signal } : {}),
        }),
      )
      if (have > 0 ? !isRange(res.status, res.header('content-range'), have, size) : res.status !== 200) {
        await res.body.cancel().catch(() => {})
        throw new BadResponseError('range (not the one asked for)')
      }
      await store.write(have, bounded(res.body, have, size, opts.onProgress, opts.signal))
      if ((await store.size()) !== size) throw new NetworkError('the download ended early')
    },
    { maxAttempts: 5, delayMs: 500, maxDelayMs: 8000, ...(opts.signal ? { signal: opts.signal } : {}) },
  )
  return decryptShareFile(dl.manifest, index, await store.read(), {
    ...(opts.aead ? { aead: opts.aead } : {}),
    ...(opts.sha256 ? { sha256: opts.sha256 } : {}),
  })
}

/** `206` with `Content-Range: bytes <from>-<size - 1>/<size>`. */
function isRange(status: number, header: string | undefined, from: number, size: number): boolean {
  const m = /^bytes (0|[1-9][0-9]{0,15})-(0|[1-9][0-9]{0,15})\/(0|[1-9][0-9]{0,15})$/.exec(header ?? '')
  return status === 206 && !!m && Number(m[1]) === from && Number(m[2]) === size - 1 && Number(m[3]) === size
}

/**
 * The body, counted from `from`: more than `size` bytes in all is `BadResponseError` (the
 * manifest's size bounds what is written), a connection that breaks off a `NetworkError`.
 */
function bounded(
  body: ReadableStream<Uint8Array>,
  from: number,
  size: number,
  onProgress?: (n: number) => void,
  signal?: AbortSignal,
): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let n = from
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let r: ReadableStreamReadResult<Uint8Array>
        try {
          r = await reader.read()
        } catch (e) {
          throw isAirlockError(e) || signal?.aborted ? e : new NetworkError('the download was interrupted')
        }
        if (r.done) return controller.close()
        n += r.value.length
        if (n > size) {
          await reader.cancel().catch(() => {})
          throw new BadResponseError('file (more bytes than the link says it has)')
        }
        onProgress?.(n)
        controller.enqueue(r.value)
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  )
}

/** A gone, suspended or unknown link becomes one clear `NotFoundError`. */
async function gone<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (e) {
    if (isServerError(e, 'GONE'))
      throw new NotFoundError('this share link has expired, was used up, or was revoked')
    if (isServerError(e, 'SHARE_SUSPENDED'))
      throw new NotFoundError(
        "this share link is suspended: its owner's account has been disabled by an administrator",
      )
    if (isServerError(e, 'NOT_FOUND')) throw new NotFoundError('no such share link on this server')
    throw e
  }
}
