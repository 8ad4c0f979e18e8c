import {
  type CiphertextStore,
  createShare as createShareOver,
  downloadShareFile,
  finishShareDownload,
  listSharesResponseSchema,
  NotFoundError,
  type OpenedShare as Opened,
  openShare as openShareOver,
  parseShareLink,
  RISK_SAMPLE_BYTES,
  type ShareSource,
  type ShareSpool,
  type ShareSummary,
  shareSummarySchema,
  startShareDownload,
} from '@airlock/core'
import { type Risk, riskOf } from '../risk.ts'
import type { Account } from './account.ts'
import { Api } from './api.ts'
import type { Items } from './items.ts'
import * as opfs from './opfs.ts'

/**
 * Share links in the browser, over core's share flows (`share-flow.ts`). Creating one (signed in):
 * each item is downloaded, verified and decrypted as for saving, and core re-encrypts it to the
 * link's fresh key into OPFS and uploads it; the key only ever appears in the link's `#fragment`.
 * Opening one (`/s/<id>#<key>`, no account): core opens the manifest with the fragment (and
 * passphrase) before a download is counted and checks each file against it; the plaintext goes
 * to OPFS and is offered to save.
 */

export interface ShareOptions {
  passphrase?: string
  expiresInSeconds?: number
  maxDownloads: number | null
}

/** Makes a link over my items; returns it with the server's summary. */
export async function createShare(
  account: Account,
  items: Items,
  itemIds: string[],
  opts: ShareOptions,
  progress: (done: number, total: number) => void,
  signal: AbortSignal,
): Promise<{ link: string; share: ShareSummary }> {
  const sources: ShareSource[] = itemIds.map((itemId) => {
    const manifest = items.manifestOf(itemId)
    if (!manifest) throw new NotFoundError('that item is not in the timeline')
    return {
      itemId,
      manifest,
      open: async () => ({ plaintext: (await items.download(itemId, () => {}, signal)).file.stream() }),
    }
  })
  const created = await createShareOver(account.api, sources, opfsSpool(signal), {
    maxDownloads: opts.maxDownloads,
    ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
    ...(opts.expiresInSeconds ? { expiresInSeconds: opts.expiresInSeconds } : {}),
    onProgress: progress,
    signal,
  })
  return { link: created.link, share: created.summary }
}

/** Re-encrypted files wait for their upload in OPFS (memory stays flat whatever the size). */
function opfsSpool(signal: AbortSignal): ShareSpool {
  const op = Math.random().toString(36).slice(2, 10)
  const path = (name: string) => `share-${op}-${name}`
  return {
    async write(name, ciphertext) {
      await opfs.writeFile(path(name), ciphertext, undefined, signal)
      return opfs.readFile(path(name))
    },
    remove: (name) => opfs.removeFile(path(name)),
  }
}

export async function listShares(account: Account): Promise<ShareSummary[]> {
  return (await account.api.json('GET', '/shares', listSharesResponseSchema)).shares
}

export async function revokeShare(account: Account, shareId: string): Promise<ShareSummary> {
  return account.api.json('DELETE', `/shares/${shareId}`, shareSummarySchema)
}

// ---------------------------------------------------------------- the download page

export interface OpenedShare {
  needsPassphrase: boolean
  /** Null until the manifest is open (a passphrase link before its passphrase). */
  files: { name: string; size: number; type: string }[] | null
  expiresAt: number
  downloadsLeft: number | null
}

let opened: { share: Opened; api: Api } | null = null

/** Reads a link's manifest and opens it with the fragment (and passphrase); counts no download. */
export async function openShare(href: string, passphrase?: string): Promise<OpenedShare> {
  const link = parseShareLink(href)
  const api = new Api(link.origin)
  const share = await openShareOver(api, link, async () => passphrase || undefined)
  if (share.manifest) opened = { share, api }
  return {
    needsPassphrase: link.needsPassphrase,
    expiresAt: share.expiresAt,
    downloadsLeft: share.downloadsLeft,
    files: share.manifest?.files.map((f) => ({ name: f.name, size: f.size, type: f.type })) ?? null,
  }
}

/** Takes one download: every file checked, decrypted to OPFS and returned for saving. */
export async function downloadShare(
  progress: (done: number, total: number) => void,
  signal: AbortSignal,
): Promise<{ file: File; name: string; risk: Risk | null }[]> {
  if (!opened) throw new NotFoundError('open the link first')
  const { api } = opened
  const dl = await startShareDownload(api, opened.share)
  const total = dl.manifest.files.reduce((n, f) => n + f.ciphertextSize, 0)
  const op = Math.random().toString(36).slice(2, 10)
  const out: { file: File; name: string; risk: Risk | null }[] = []
  let before = 0
  for (const [i, f] of dl.manifest.files.entries()) {
    const cipherName = `sdl-${op}-${i}`
    const plainName = `spt-${op}-${i}`
    try {
      const plaintext = await downloadShareFile(api, dl, i, opfsStore(cipherName, signal), {
        onProgress: (n) => progress(before + n, total),
        signal,
      })
      await opfs.writeFile(plainName, plaintext, undefined, signal, f.size)
      const file = await opfs.readFile(plainName)
      const head = new Uint8Array(await file.slice(0, RISK_SAMPLE_BYTES).arrayBuffer())
      const tail = new Uint8Array(await file.slice(-RISK_SAMPLE_BYTES).arrayBuffer())
      out.push({ file, name: f.name, risk: riskOf(f.name, head, tail) })
      before += f.ciphertextSize
    } catch (e) {
      await opfs.removeFile(plainName)
      throw e
    } finally {
      await opfs.removeFile(cipherName)
    }
  }
  await finishShareDownload(api, dl)
  return out
}

/** A downloaded file's ciphertext in OPFS, continued after a dropped connection. */
function opfsStore(name: string, signal: AbortSignal): CiphertextStore {
  return {
    size: async () => (await opfs.readFile(name).catch(() => null))?.size ?? 0,
    write: async (offset, body) => {
      await opfs.writeFile(name, body, undefined, signal, undefined, offset)
    },
    read: async () => (await opfs.readFile(name)).stream(),
  }
}
