import { mkdtemp, open, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  type CommittedItem,
  type CreateShareResponse,
  createShareKeys,
  createShareResponseSchema,
  decryptShareFile,
  encryptShareFile,
  fromBase64Url,
  listSharesResponseSchema,
  type Manifest,
  openShareManifest,
  openShareResponseSchema,
  parseShareLink,
  printable,
  publicShareResponseSchema,
  SHARE_MANIFEST_CONTEXT,
  SHARE_SESSION_HEADER,
  type ShareFile,
  type ShareKeys,
  type ShareSummary,
  sealShareManifest,
  shareFileCiphertextSize,
  shareSummarySchema,
} from '@airlock/core'
import { fileSink, fileSource, nodeAead, nodeSha256 } from '@airlock/core/node'
import { ApiClient } from '../client.js'
import type { Context } from '../context.js'
import { openReceived } from '../download.js'
import { CliError, isApiError } from '../errors.js'
import { findItem, itemFileName, openItemManifest } from '../items.js'
import { formatBytes, formatTime } from '../output.js'
import { saveStream } from '../placement.js'
import { readLine, readSecret } from '../prompt.js'
import { checkRisk, reportRisk } from '../risky.js'
import { Session } from '../session.js'
import { checkUploadUrl, isTransient, tusPatch, tusStatus } from '../tus.js'

/**
 * Share links from the command line. `airlock share` opens (verifies and decrypts) my items
 * locally, re-encrypts each to a fresh per-link key, uploads the new blobs and prints the link;
 * the key is only in the link's `#fragment`. `airlock open-link` is the recipient's side, with
 * no account: the same checks as the web download page.
 */

export interface ShareOptions {
  passphrase?: boolean
  passphraseFile?: string
  expires?: string
  maxDownloads?: string
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 }

/** `90m`, `12h`, `7d`, `2w` or plain seconds → seconds; `USAGE` otherwise. */
export function parseDuration(s: string): number {
  const m = /^([1-9][0-9]{0,8})([smhdw]?)$/.exec(s.trim())
  if (!m) throw new CliError('USAGE', `invalid duration ${printable(s)} (examples: 90m, 12h, 7d)`)
  return Number(m[1]) * UNITS[m[2] || 's']!
}

/** A positive count or `unlimited` (null). */
export function parseMaxDownloads(s: string): number | null {
  if (/^(unlimited|none)$/i.test(s.trim())) return null
  if (!/^[1-9][0-9]{0,6}$/.test(s.trim()))
    throw new CliError('USAGE', '--max-downloads takes a number from 1 or "unlimited"')
  return Number(s.trim())
}

/** `airlock share <item-id>... [--passphrase] [--expires 7d] [--max-downloads n|unlimited]`. */
export async function share(ctx: Context, ids: string[], opts: ShareOptions): Promise<void> {
  const expiresInSeconds = opts.expires === undefined ? undefined : parseDuration(opts.expires)
  const maxDownloads = opts.maxDownloads === undefined ? null : parseMaxDownloads(opts.maxDownloads)
  const s = await Session.open(ctx.home, ctx.out)
  const passphrase =
    opts.passphrase || opts.passphraseFile ? await askNewPassphrase(opts.passphraseFile) : undefined
  const items: { item: CommittedItem; manifest: Manifest }[] = []
  for (const id of ids) {
    const item = await findItem(s, id)
    if (items.some((x) => x.item.itemId === item.itemId)) continue
    items.push({ item, manifest: await openItemManifest(s, item) })
  }
  const keys = await createShareKeys(passphrase)
  const sizes = await Promise.all(
    items.map((x) => shareFileCiphertextSize(keys.fileRecipient, x.manifest.plaintextSize, nodeAead)),
  )
  const created = await s.client.json('POST', '/shares', createShareResponseSchema, {
    body: {
      itemIds: items.map((x) => x.item.itemId),
      ciphertextSizes: sizes,
      maxDownloads,
      ...(expiresInSeconds === undefined ? {} : { expiresInSeconds }),
    },
  })
  if (created.uploads.length !== items.length)
    throw new CliError('BAD_RESPONSE', 'the server sent the wrong uploads')
  let summary: ShareSummary
  try {
    summary = await uploadShare(s, ctx, keys, items, sizes, created)
  } catch (e) {
    // A link that could not be finished is withdrawn, so its partial files do not linger.
    await s.client.send('DELETE', `/shares/${created.shareId}`).catch(() => {})
    throw e
  }
  const link = `${s.client.origin}/s/${created.shareId}#${keys.fragment}`
  ctx.out.result({ shareId: created.shareId, link, passphrase: passphrase !== undefined, ...pick(summary) }, [
    link,
    `${items.length} file(s), ${describeLimits(summary)}${passphrase ? '; the passphrase is needed too' : ''}.`,
    'Anyone with this link can download the files: the key after # never reaches the server.',
  ])
}

/** Re-encrypts each verified item to the link's key, uploads it, and commits the sealed manifest. */
async function uploadShare(
  s: Session,
  ctx: Context,
  keys: ShareKeys,
  items: { item: CommittedItem; manifest: Manifest }[],
  sizes: number[],
  created: CreateShareResponse,
): Promise<ShareSummary> {
  const files: ShareFile[] = []
  for (const [i, { item }] of items.entries()) {
    const upload = created.uploads[i]!
    const { manifest, plaintext, done } = await openReceived(s, item, ctx.out)
    const spool = join(s.home.downloads, `${upload.blobId}.share`)
    try {
      const enc = await encryptShareFile(keys.fileRecipient, plaintext, manifest.plaintextSize, {
        aead: nodeAead,
        sha256: nodeSha256,
      })
      await enc.ciphertext.pipeTo(fileSink(spool, 'w'))
      await done()
      const sealed = enc.finish()
      if (sealed.size !== sizes[i])
        throw new CliError('IO', 'the ciphertext size differs from the reservation')
      await uploadFile(s, checkUploadUrl(s.client, upload.uploadUrl), spool, sealed.size)
      files.push({
        name: itemFileName(manifest),
        type: manifest.kind === 'note' ? 'text/plain' : manifest.type,
        size: manifest.plaintextSize,
        mtime: manifest.mtime,
        ciphertextSize: sealed.size,
        ciphertextSha256: sealed.sha256,
      })
    } finally {
      await rm(spool, { force: true })
    }
  }
  const sealed = await sealShareManifest(keys, {
    v: 1,
    context: SHARE_MANIFEST_CONTEXT,
    fileIdentity: keys.fileIdentity,
    files,
  })
  return s.client.json('PUT', `/shares/${created.shareId}/manifest`, shareSummarySchema, {
    bytes: sealed,
  })
}

/** Uploads a spooled file with tus, resuming at the server's offset after transient failures. */
async function uploadFile(s: Session, path: string, file: string, size: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const { offset } = attempt === 0 ? { offset: 0 } : await tusStatus(s.client, path)
      if (offset < size && (await tusPatch(s.client, path, offset, fileSource(file, offset))) !== size) {
        throw new CliError('NETWORK', 'the upload ended early')
      }
      return
    } catch (e) {
      if (!isTransient(e) || attempt >= 5) throw e
      if (isApiError(e, 'UNAUTHENTICATED')) await s.login()
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt))
    }
  }
}

function pick(s: ShareSummary) {
  return { state: s.state, expiresAt: s.expiresAt, maxDownloads: s.maxDownloads, downloads: s.downloads }
}

function describeLimits(s: ShareSummary): string {
  const n =
    s.maxDownloads === null ? 'unlimited downloads' : `${s.maxDownloads - s.downloads} download(s) left`
  return `${n}, until ${formatTime(s.expiresAt)}`
}

async function askNewPassphrase(file: string | undefined): Promise<string> {
  const p = await readSecret({ env: 'AIRLOCK_PASSPHRASE', file, question: 'Passphrase for the link: ' })
  if (process.stdin.isTTY && !process.env.AIRLOCK_PASSPHRASE && file === undefined) {
    if ((await readLine('Repeat the passphrase: ', { hidden: true })) !== p) {
      throw new CliError('USAGE', 'the passphrases differ')
    }
  }
  return p
}

/** `airlock shares`: my account's links. */
export async function listShares(ctx: Context): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out, { sync: false })
  const { shares } = await s.client.json('GET', '/shares', listSharesResponseSchema)
  ctx.out.result(
    { shares },
    shares.length === 0
      ? ['(no share links)']
      : shares.map(
          (x) =>
            `${x.shareId}  ${x.state.padEnd(9)}  ${String(x.itemIds.length).padStart(3)} file(s)  ${formatBytes(x.ciphertextSize).padStart(9)}  ${x.downloads}/${x.maxDownloads ?? '∞'} downloads  until ${formatTime(x.expiresAt)}`,
        ),
  )
}

/** `airlock shares revoke <id>`: the link stops working at once and its blobs are deleted. */
export async function revokeShare(ctx: Context, id: string): Promise<void> {
  if (!/^[A-Za-z0-9_-]{22}$/.test(id)) throw new CliError('USAGE', 'a share id has 22 characters')
  const s = await Session.open(ctx.home, ctx.out, { sync: false })
  let r: ShareSummary
  try {
    r = await s.client.json('DELETE', `/shares/${id}`, shareSummarySchema)
  } catch (e) {
    if (isApiError(e, 'NOT_FOUND')) throw new CliError('NOT_FOUND', `no share link ${id}`)
    throw e
  }
  ctx.out.result({ shareId: r.shareId, state: r.state }, `revoked ${r.shareId} (${r.state})`)
}

/**
 * `airlock open-link <url> [-o dir]`: downloads a share link without an account. The manifest is
 * opened (passphrase checked) before a download is counted; each file is checked against the
 * manifest's hash, decrypted to a temporary file and only then moved to a safe, unused name.
 */
export async function openLink(
  ctx: Context,
  url: string | undefined,
  opts: { out?: string; linkFile?: string; passphraseFile?: string },
): Promise<void> {
  // The link holds the key: kept out of argv (visible in `ps`) unless the person typed it there.
  const text =
    url === undefined || url === '-'
      ? await readSecret({ env: 'AIRLOCK_SHARE_LINK', file: opts.linkFile, question: 'Link: ' })
      : url
  const link = parseShareLink(text.trim())
  const client = new ApiClient(link.origin)
  const info = await gone(() =>
    client.json('GET', `/public/shares/${link.shareId}`, publicShareResponseSchema),
  )
  const passphrase = link.needsPassphrase
    ? await readSecret({ env: 'AIRLOCK_PASSPHRASE', file: opts.passphraseFile, question: 'Passphrase: ' })
    : undefined
  const manifest = await openShareManifest(fromBase64Url(info.manifest), link.fragment, passphrase)
  if (info.files.length !== manifest.files.length)
    throw new CliError('BAD_RESPONSE', 'the server lists other files than the link holds')
  const opened = await gone(() =>
    client.json('POST', `/public/shares/${link.shareId}/open`, openShareResponseSchema, { anonymous: true }),
  )
  const headers = { [SHARE_SESSION_HEADER]: opened.session }
  const dest = resolve(opts.out ?? '.')
  const tmp = await mkdtemp(join(tmpdir(), 'airlock-link-'))
  const saved: { name: string; size: number; path: string; risk: unknown }[] = []
  try {
    for (const [i, file] of manifest.files.entries()) {
      const part = join(tmp, `${i}.age`)
      await fetchBlob(
        client,
        `/api/v1/public/shares/${link.shareId}/blobs/${i}`,
        headers,
        part,
        file.ciphertextSize,
      )
      const plaintext = await decryptShareFile(manifest, i, fileSource(part), {
        aead: nodeAead,
        sha256: nodeSha256,
      })
      const path = await saveStream(dest, file.name || 'unnamed', plaintext)
      const risk = reportRisk(ctx.out, file.name, await checkRisk(path, file.name))
      saved.push({ name: file.name, size: file.size, path, risk })
    }
    const closed = await client.request('POST', `/public/shares/${link.shareId}/close`, {
      anonymous: true,
      headers,
    })
    closed.discard()
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  ctx.out.result(
    { shareId: link.shareId, files: saved },
    saved.map((f) => `saved ${printable(f.name)} (${formatBytes(f.size)}) to ${printable(f.path)}`),
  )
}

/**
 * Downloads one blob of a link to `part` (exactly `size` bytes, as the manifest says), resuming
 * with a Range request inside the same download session after a dropped connection.
 */
async function fetchBlob(
  client: ApiClient,
  path: string,
  headers: Record<string, string>,
  part: string,
  size: number,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const have = (await stat(part).catch(() => null))?.size ?? 0
    if (have === size && attempt > 0) return
    try {
      const res = await gone(() =>
        client.stream('GET', path, { headers: have > 0 ? { ...headers, range: `bytes=${have}-` } : headers }),
      )
      if (
        have > 0 &&
        (res.status !== 206 || !String(res.headers['content-range']).startsWith(`bytes ${have}-`))
      ) {
        res.body.destroy()
        throw new CliError('BAD_RESPONSE', 'the server answered a range request with another range')
      }
      const fh = await open(part, have > 0 ? 'a' : 'w', 0o600)
      let n = have
      try {
        for await (const chunk of res.body) {
          n += (chunk as Buffer).length
          if (n > size) throw new CliError('BAD_RESPONSE', 'the server sent more bytes than the file has')
          await fh.write(chunk as Buffer)
        }
      } catch (e) {
        res.body.destroy()
        throw e instanceof CliError ? e : new CliError('NETWORK', 'the download was interrupted')
      } finally {
        await fh.close()
      }
      if ((await stat(part)).size !== size) throw new CliError('NETWORK', 'the download ended early')
      return
    } catch (e) {
      if (!isTransient(e) || isApiError(e, 'UNAUTHENTICATED') || attempt >= 5) throw e
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt))
    }
  }
}

/** A 410 from a share link becomes one clear message. */
async function gone<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (e) {
    if (isApiError(e, 'GONE'))
      throw new CliError('NOT_FOUND', 'this share link has expired, was used up, or was revoked')
    if (isApiError(e, 'SHARE_SUSPENDED'))
      throw new CliError(
        'NOT_FOUND',
        "this share link is suspended: its owner's account has been disabled by an administrator",
      )
    if (isApiError(e, 'NOT_FOUND')) throw new CliError('NOT_FOUND', 'no such share link on this server')
    throw e
  }
}
