import { mkdtemp, open, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  type CiphertextStore,
  createShare,
  downloadShareFile,
  finishShareDownload,
  listSharesResponseSchema,
  openShare,
  parseShareLink,
  printable,
  type ShareSource,
  type ShareSpool,
  type ShareSummary,
  shareSummarySchema,
  startShareDownload,
} from '@airlock/core'
import { fileSink, fileSource, nodeAead, nodeSha256 } from '@airlock/core/node'
import { ApiClient } from '../client.js'
import type { Context } from '../context.js'
import { openReceived } from '../download.js'
import { CliError, isApiError } from '../errors.js'
import { findItem, openItemManifest } from '../items.js'
import { formatBytes, formatTime } from '../output.js'
import { receivedMode, saveStream } from '../placement.js'
import { readLine, readSecret } from '../prompt.js'
import { checkRisk, reportRisk } from '../risky.js'
import { Session } from '../session.js'

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
  const sources: ShareSource[] = []
  for (const id of ids) {
    const item = await findItem(s, id)
    if (sources.some((x) => x.itemId === item.itemId)) continue
    sources.push({
      itemId: item.itemId,
      manifest: await openItemManifest(s, item),
      open: async () => {
        const { plaintext, done } = await openReceived(s, item, ctx.out)
        return { plaintext, verified: done }
      },
    })
  }
  const created = await createShare(s.client, sources, spoolIn(s.home.downloads), {
    maxDownloads,
    ...(passphrase === undefined ? {} : { passphrase }),
    ...(expiresInSeconds === undefined ? {} : { expiresInSeconds }),
    aead: nodeAead,
    sha256: nodeSha256,
    retry: { giveUpMs: RETRY_MS },
  })
  const { link, summary } = created
  ctx.out.result({ shareId: created.shareId, link, passphrase: passphrase !== undefined, ...pick(summary) }, [
    link,
    `${sources.length} file(s), ${describeLimits(summary)}${passphrase ? '; the passphrase is needed too' : ''}.`,
    'Anyone with this link can download the files: the key after # never reaches the server.',
  ])
}

/** Without progress for this long, an upload gives up. */
const RETRY_MS = Number(process.env.AIRLOCK_RETRY_SECONDS ?? 60) * 1000

/** Re-encrypted files wait for their upload in `<home>/downloads/<blob id>.share`. */
function spoolIn(dir: string): ShareSpool {
  const path = (name: string) => join(dir, `${name}.share`)
  return {
    async write(name, ciphertext) {
      await ciphertext.pipeTo(fileSink(path(name), 'w'))
      return (offset) => fileSource(path(name), offset)
    },
    remove: (name) => rm(path(name), { force: true }),
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
  opts: { out?: string; linkFile?: string; passphraseFile?: string; mode?: string },
): Promise<void> {
  const mode = receivedMode(opts.mode)
  // The link holds the key: kept out of argv (visible in `ps`) unless the person typed it there.
  const text =
    url === undefined || url === '-'
      ? await readSecret({ env: 'AIRLOCK_SHARE_LINK', file: opts.linkFile, question: 'Link: ' })
      : url
  const link = parseShareLink(text.trim())
  const client = new ApiClient(link.origin)
  const opened = await openShare(client, link, () =>
    readSecret({ env: 'AIRLOCK_PASSPHRASE', file: opts.passphraseFile, question: 'Passphrase: ' }),
  )
  const dl = await startShareDownload(client, opened)
  const dest = resolve(opts.out ?? '.')
  const tmp = await mkdtemp(join(tmpdir(), 'airlock-link-'))
  const saved: { name: string; size: number; path: string; risk: unknown }[] = []
  try {
    for (const [i, file] of dl.manifest.files.entries()) {
      const plaintext = await downloadShareFile(client, dl, i, partFile(join(tmp, `${i}.age`)), {
        aead: nodeAead,
        sha256: nodeSha256,
      })
      const path = await saveStream(dest, file.name || 'unnamed', plaintext, mode)
      const risk = reportRisk(ctx.out, path, await checkRisk(path, file.name))
      saved.push({ name: file.name, size: file.size, path, risk })
    }
    await finishShareDownload(client, dl)
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  ctx.out.result(
    { shareId: link.shareId, files: saved },
    saved.map((f) => `saved ${printable(f.name)} (${formatBytes(f.size)}) to ${printable(f.path)}`),
  )
}

/** A downloaded file's ciphertext in a private temporary file. */
function partFile(path: string): CiphertextStore {
  return {
    size: async () => (await stat(path).catch(() => null))?.size ?? 0,
    async write(offset, body) {
      const fh = await open(path, offset > 0 ? 'r+' : 'w', 0o600)
      try {
        const reader = body.getReader()
        for (let pos = offset; ; ) {
          const { done, value } = await reader.read()
          if (done) break
          await fh.write(value, 0, value.length, pos)
          pos += value.length
        }
      } finally {
        await fh.close()
      }
    },
    read: async () => fileSource(path),
  }
}
