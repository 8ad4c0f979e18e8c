import {
  createShareKeys,
  createShareResponseSchema,
  decryptShareFile,
  encryptShareFile,
  fromBase64Url,
  listSharesResponseSchema,
  openShareManifest,
  openShareResponseSchema,
  parseShareLink,
  publicShareResponseSchema,
  RISK_SAMPLE_BYTES,
  SHARE_MANIFEST_CONTEXT,
  SHARE_SESSION_HEADER,
  type ShareFile,
  type ShareLink,
  type ShareManifest,
  type ShareSummary,
  sealShareManifest,
  shareFileCiphertextSize,
  shareSummarySchema,
} from '@airlock/core'
import { isApiError, WebError } from '../errors.ts'
import { type Risk, riskOf } from '../risk.ts'
import type { Account } from './account.ts'
import { Api } from './api.ts'
import type { Items } from './items.ts'
import * as opfs from './opfs.ts'

/**
 * Share links in the browser. Creating one (signed in): each item is downloaded, verified and
 * decrypted as for saving, re-encrypted to the link's fresh key into OPFS and uploaded; the key
 * only ever appears in the link's `#fragment`. Opening one (`/s/<id>#<key>`, no account): the
 * sealed manifest is opened with the fragment (and passphrase) before a download is counted,
 * each file is checked against the manifest's hash and decrypted to OPFS, then offered to save.
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
  const keys = await createShareKeys(opts.passphrase || undefined)
  const plain: { file: File; name: string; type: string }[] = []
  const op = Math.random().toString(36).slice(2, 10)
  const spools: string[] = []
  try {
    for (const id of itemIds) {
      const r = await items.download(id, () => {}, signal)
      plain.push({ file: r.file, name: r.name || 'note.txt', type: r.type })
    }
    const sizes = await Promise.all(
      plain.map((p) => shareFileCiphertextSize(keys.fileRecipient, p.file.size)),
    )
    const total = sizes.reduce((a, b) => a + b, 0)
    const created = await account.api.json('POST', '/shares', createShareResponseSchema, {
      body: {
        itemIds,
        ciphertextSizes: sizes,
        maxDownloads: opts.maxDownloads,
        ...(opts.expiresInSeconds ? { expiresInSeconds: opts.expiresInSeconds } : {}),
      },
    })
    const files: ShareFile[] = []
    let sent = 0
    for (const [i, p] of plain.entries()) {
      const upload = created.uploads[i]
      if (!upload || !/^\/api\/v1\/uploads\/[A-Za-z0-9_-]{22}$/.test(upload.uploadUrl))
        throw new WebError('BAD_RESPONSE', 'the server sent a malformed upload URL')
      const enc = await encryptShareFile(keys.fileRecipient, p.file.stream(), p.file.size)
      const spool = `share-${op}-${i}`
      spools.push(spool)
      await opfs.writeFile(spool, enc.ciphertext, undefined, signal)
      const sealed = enc.finish()
      if (sealed.size !== sizes[i]) throw new WebError('BAD_RESPONSE', 'the ciphertext size changed')
      await uploadSpool(account, upload.uploadUrl.slice('/api/v1'.length), await opfs.readFile(spool), signal)
      sent += sealed.size
      progress(sent, total)
      files.push({
        name: p.name,
        type: /^[\x20-\x7e]{0,255}$/.test(p.type) ? p.type : '',
        size: p.file.size,
        mtime: 0,
        ciphertextSize: sealed.size,
        ciphertextSha256: sealed.sha256,
      })
    }
    const manifest = await sealShareManifest(keys, {
      v: 1,
      context: SHARE_MANIFEST_CONTEXT,
      fileIdentity: keys.fileIdentity,
      files,
    })
    const share = await account.api.json('PUT', `/shares/${created.shareId}/manifest`, shareSummarySchema, {
      bytes: manifest,
    })
    return { link: `${account.info.origin}/s/${created.shareId}#${keys.fragment}`, share }
  } finally {
    for (const s of spools) await opfs.removeFile(s)
  }
}

/**
 * tus PATCH of an on-disk spool (memory stays flat whatever the size). A dropped connection
 * resumes from the server's offset (HEAD), a few times, before giving up.
 */
async function uploadSpool(account: Account, path: string, file: File, signal: AbortSignal): Promise<void> {
  const tus = { 'tus-resumable': '1.0.0' }
  let offset = 0
  for (let attempt = 0; ; attempt++) {
    try {
      if (attempt > 0) {
        const head = await account.api.request('HEAD', path, { headers: tus, signal })
        offset = Number(head.headers.get('upload-offset'))
        if (!Number.isSafeInteger(offset) || offset < 0 || offset > file.size)
          throw new WebError('BAD_RESPONSE', 'the server sent a malformed upload offset')
      }
      if (offset === file.size && attempt > 0) return
      await account.api.send('PATCH', path, {
        headers: {
          ...tus,
          'upload-offset': String(offset),
          'content-type': 'application/offset+octet-stream',
        },
        blob: file.slice(offset),
        signal,
      })
      return
    } catch (e) {
      const transient = (e instanceof WebError && e.code === 'NETWORK') || (isApiError(e) && e.status >= 500)
      if (!transient || attempt >= 5 || signal.aborted) throw e
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt))
    }
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

let opened: { link: ShareLink; manifest: ShareManifest; api: Api } | null = null

/** Reads a link's manifest and opens it with the fragment (and passphrase); counts no download. */
export async function openShare(href: string, passphrase?: string): Promise<OpenedShare> {
  const link = parseShareLink(href)
  const api = new Api(link.origin)
  const info = await gone(() => api.json('GET', `/public/shares/${link.shareId}`, publicShareResponseSchema))
  const base = {
    needsPassphrase: link.needsPassphrase,
    expiresAt: info.expiresAt,
    downloadsLeft: info.downloadsLeft,
  }
  if (link.needsPassphrase && !passphrase) return { ...base, files: null }
  const manifest = await openShareManifest(fromBase64Url(info.manifest), link.fragment, passphrase)
  if (manifest.files.length !== info.files.length)
    throw new WebError('BAD_RESPONSE', 'the server lists other files than the link holds')
  opened = { link, manifest, api }
  return { ...base, files: manifest.files.map((f) => ({ name: f.name, size: f.size, type: f.type })) }
}

/** Takes one download: every file checked, decrypted to OPFS and returned for saving. */
export async function downloadShare(
  progress: (done: number, total: number) => void,
  signal: AbortSignal,
): Promise<{ file: File; name: string; risk: Risk | null }[]> {
  if (!opened) throw new WebError('NOT_FOUND', 'open the link first')
  const { link, manifest, api } = opened
  const session = await gone(() =>
    api.json('POST', `/public/shares/${link.shareId}/open`, openShareResponseSchema, { anonymous: true }),
  )
  const headers = { [SHARE_SESSION_HEADER]: session.session }
  const total = manifest.files.reduce((n, f) => n + f.ciphertextSize, 0)
  const op = Math.random().toString(36).slice(2, 10)
  const out: { file: File; name: string; risk: Risk | null }[] = []
  let before = 0
  for (const [i, f] of manifest.files.entries()) {
    const cipherName = `sdl-${op}-${i}`
    const plainName = `spt-${op}-${i}`
    try {
      const res = await gone(() =>
        api.request('GET', `/public/shares/${link.shareId}/blobs/${i}`, { anonymous: true, headers, signal }),
      )
      await opfs.writeFile(
        cipherName,
        res.body!,
        (n) => progress(before + n, total),
        signal,
        f.ciphertextSize,
      )
      const plaintext = await decryptShareFile(manifest, i, (await opfs.readFile(cipherName)).stream())
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
  await api.send('POST', `/public/shares/${link.shareId}/close`, { anonymous: true, headers }).catch(() => {})
  return out
}

async function gone<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (e) {
    if (isApiError(e, 'GONE'))
      throw new WebError('SHARE_GONE', 'This link has expired, was used up, or was revoked by its owner.')
    if (isApiError(e, 'SHARE_SUSPENDED'))
      throw new WebError(
        'SHARE_GONE',
        "This link is suspended: an administrator has disabled its owner's account.",
      )
    if (isApiError(e, 'NOT_FOUND')) throw new WebError('SHARE_GONE', 'There is no such link on this server.')
    throw e
  }
}
