import { open, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  API_PREFIX,
  BadResponseError,
  bytesEqual,
  type CommittedItem,
  fromBase64Url,
  HashMismatchError,
  isAirlockError,
  isTransientError as isTransient,
  type Manifest,
  NetworkError,
  openItemContent,
} from '@airlock/core'
import { fileSource, nodeSha256, writeAll } from '@airlock/core/node'
import { CliError, isApiError } from './errors.js'
import { itemFileName, openItemManifest } from './items.js'
import type { Output, Progress } from './output.js'
import { RECEIVED_MODE, saveStream } from './placement.js'
import type { Session } from './session.js'

/**
 * Receiving an item: verify the manifest first, download the ciphertext to
 * `<home>/downloads/<id>.part` (continuing a partial download with an HTTP Range request), let
 * core's `openItem` check its signed size and SHA-256 before decrypting, write the plaintext to a
 * temporary file and only then move it into place. If anything fails to verify, the partial
 * ciphertext is deleted and nothing is written.
 */

export interface Received {
  itemId: string
  manifest: Manifest
  path: string
}

const RETRIES = 5

function partPath(s: Session, itemId: string): string {
  return join(s.home.downloads, `${itemId}.part`)
}

/**
 * Downloads the ciphertext of `item` (exactly `size` bytes, as signed) to its part file. Also
 * returns its SHA-256 when it came in one piece, hashed on the way while the network is the
 * bottleneck; null after a resumed download.
 */
async function downloadCiphertext(
  s: Session,
  item: CommittedItem,
  size: number,
  progress: Progress,
): Promise<{ path: string; sha256: Uint8Array | null }> {
  const path = partPath(s, item.itemId)
  for (let attempt = 0; ; attempt++) {
    try {
      return { path, sha256: await fetchRest(s, item.itemId, path, size, progress) }
    } catch (e) {
      if (!isTransient(e) || attempt >= RETRIES) throw e
      if (isApiError(e, 'UNAUTHENTICATED')) await s.login()
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt))
    }
  }
}

async function fetchRest(
  s: Session,
  itemId: string,
  path: string,
  size: number,
  progress: Progress,
): Promise<Uint8Array | null> {
  let have = (await stat(path).catch(() => null))?.size ?? 0
  if (have > size) {
    await rm(path, { force: true })
    have = 0
  }
  progress.resumeAt(have)
  if (have === size) return null
  const res = await s.client.stream('GET', `${API_PREFIX}/items/${itemId}/blob`, {
    headers: have > 0 ? { range: `bytes=${have}-` } : {},
  })
  let start = 0
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''))
    if (!m || Number(m[1]) !== have || Number(m[3]) !== size) {
      res.body.destroy()
      throw new BadResponseError('range (not the one asked for)')
    }
    start = have
  } else if (res.status !== 200) {
    res.body.destroy()
    throw new BadResponseError(`answer to a download (HTTP ${res.status})`)
  }
  const fh = await open(path, start === 0 ? 'w' : 'r+', 0o600)
  let pos = start
  const hash = start === 0 ? nodeSha256() : null
  // HTTP chunks are gathered into one writev per MiB: far fewer trips through the thread pool.
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  const flush = async () => {
    const batch = pending
    pending = []
    pendingBytes = 0
    const writing = writeAll(fh, batch, pos).then((n) => {
      pos += n
    })
    // Hashing while the thread pool writes the same (unchanging) buffers.
    for (const p of batch) hash?.update(p)
    await writing
    progress.update(pos)
  }
  try {
    try {
      for await (const chunk of res.body) {
        const bytes = chunk as Buffer
        // Never store more than the signed size, whatever the server sends.
        if (pos + pendingBytes + bytes.length > size)
          throw new BadResponseError('item (more bytes than it has)')
        pending.push(bytes)
        pendingBytes += bytes.length
        if (pendingBytes >= WRITE_BATCH) await flush()
      }
    } finally {
      // What arrived before a failure is kept, so the download resumes from there.
      await flush()
    }
  } catch (e) {
    res.body.destroy()
    if (e instanceof CliError || isAirlockError(e)) throw e
    throw new NetworkError('the download was interrupted')
  } finally {
    await fh.close()
  }
  if (pos !== size) throw new NetworkError('the download ended early')
  return hash?.digest() ?? null
}

/**
 * Checks the downloaded ciphertext against the signed hash before anything is decrypted, so an
 * altered blob is always reported as such (`HashMismatchError`) rather than as whichever chunk
 * fails first. openItem checks it again as it decrypts.
 */
async function checkPart(part: { path: string; sha256: Uint8Array | null }, manifest: Manifest) {
  let digest = part.sha256
  if (digest === null) {
    const hash = nodeSha256()
    const reader = fileSource(part.path).getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      hash.update(value)
    }
    digest = hash.digest()
  }
  if (!bytesEqual(digest, fromBase64Url(manifest.ciphertextSha256))) throw new HashMismatchError()
}

const WRITE_BATCH = 1 << 20

/**
 * Downloads, verifies, decrypts and saves one item under `dest` (mode 0600 unless `mode` says
 * otherwise); returns where it went. Every
 * verification failure is a core `AirlockError` (nothing written); network failures leave the
 * partial ciphertext for the next attempt.
 */
export async function receiveItem(
  s: Session,
  item: CommittedItem,
  dest: string,
  out: Output,
  mode = RECEIVED_MODE,
): Promise<Received> {
  const { manifest, plaintext, done } = await openReceived(s, item, out)
  try {
    const path = await saveStream(dest, itemFileName(manifest), plaintext, mode)
    await done()
    return { itemId: item.itemId, manifest, path }
  } catch (e) {
    // A ciphertext that failed to verify is useless: fetch it afresh next time.
    if (isAirlockError(e)) await done()
    throw e
  }
}

/**
 * Opens a verified plaintext stream of an item (for export), downloading as above. The stream
 * is provisional until it ends without error: write it to a temporary file.
 */
export async function openReceived(
  s: Session,
  item: CommittedItem,
  out: Output,
): Promise<{ manifest: Manifest; plaintext: ReadableStream<Uint8Array>; done: () => Promise<void> }> {
  const manifest = await openItemManifest(s, item)
  const progress = out.progress('downloading', manifest.ciphertextSize)
  const part = partPath(s, item.itemId)
  try {
    const downloaded = await downloadCiphertext(s, item, manifest.ciphertextSize, progress)
    await checkPart(downloaded, manifest)
  } catch (e) {
    // A server that sent bytes beyond the signed size, or ones that do not verify, is not
    // resumed from: nothing it sent is kept.
    if (isAirlockError(e)) await rm(part, { force: true })
    throw e
  } finally {
    progress.stop()
  }
  try {
    const opened = await openItemContent(
      s,
      item,
      manifest,
      { stream: () => fileSource(part) },
      // The part file is private to this device and every caller writes the plaintext to a
      // temporary file first, so one checking pass is enough (see core's openItem).
      { sha256: nodeSha256, passes: 1 },
    )
    return { ...opened, done: () => rm(part, { force: true }) }
  } catch (e) {
    if (isAirlockError(e)) await rm(part, { force: true })
    throw e
  }
}
