import { describe, expect, it } from 'vitest'
import type { z } from 'zod'
import { SHARE_SESSION_HEADER } from '../src/api.js'
import { readAll } from '../src/byte-streams.js'
import { randomBytes, toBase64Url } from '../src/bytes.js'
import { BadResponseError, HashMismatchError, NotFoundError, WrongPassphraseError } from '../src/errors.js'
import type { Manifest } from '../src/manifest.js'
import { parseShareLink } from '../src/share.js'
import {
  createShare,
  downloadShareFile,
  finishShareDownload,
  openShare,
  type ShareSource,
  startShareDownload,
} from '../src/share-flow.js'
import type {
  DownloadOptions,
  DownloadResponse,
  ExchangeOptions,
  ExchangeResponse,
  RequestOptions,
  Transport,
} from '../src/transport.js'
import { ServerError } from '../src/transport.js'

// Share links end to end through core's flows, with real keys and real age, against an in-memory
// server behind the Transport port that can cut, bend and swap what it serves.

const ORIGIN = 'https://airlock.example'
const id = () => toBase64Url(randomBytes(16))

class ShareServer implements Transport {
  readonly origin = ORIGIN
  token: string | null = 'token'
  shareId = ''
  sizes: number[] = []
  blobs: number[][] = []
  sealed: Uint8Array | null = null
  state: 'uploading' | 'active' | 'gone' | 'deleted' = 'uploading'
  opens = 0
  closes = 0
  ranges: (string | undefined)[] = []
  /** Bends the answer to a blob request: the bytes served and the status. */
  serve: (
    n: number,
    bytes: Uint8Array,
    range: number,
  ) => { status: number; bytes: Uint8Array; cut?: number } = (_n, bytes, range) => ({
    status: range > 0 ? 206 : 200,
    bytes: bytes.subarray(range),
  })

  async json<S extends z.ZodType>(method: string, path: string, schema: S, opts: RequestOptions = {}) {
    return schema.parse(this.#json(method, path, opts)) as z.infer<S>
  }

  #json(method: string, path: string, opts: RequestOptions): unknown {
    if (method === 'POST' && path === '/shares') {
      const body = opts.body as { ciphertextSizes: number[] }
      this.shareId = id()
      this.sizes = body.ciphertextSizes
      const uploads = this.sizes.map(() => id())
      this.blobs = this.sizes.map(() => [])
      return {
        shareId: this.shareId,
        expiresAt: 1,
        uploads: uploads.map((b) => ({ blobId: b, uploadUrl: `/api/v1/uploads/${b}` })),
      }
    }
    if (method === 'PUT' && path === `/shares/${this.shareId}/manifest`) {
      this.sealed = opts.bytes!
      this.state = 'active'
      return this.summary()
    }
    if (method === 'DELETE' && path === `/shares/${this.shareId}`) {
      this.state = 'deleted'
      return { ...this.summary(), state: 'revoked' }
    }
    if (this.state === 'gone') throw new ServerError(410, 'GONE', 'gone')
    if (method === 'GET' && path === `/public/shares/${this.shareId}`) {
      return {
        shareId: this.shareId,
        manifest: toBase64Url(this.sealed!),
        files: this.sizes.map((ciphertextSize) => ({ ciphertextSize })),
        expiresAt: 1,
        downloadsLeft: null,
      }
    }
    if (method === 'POST' && path === `/public/shares/${this.shareId}/open`) {
      expect(opts.anonymous).toBe(true)
      this.opens++
      return { session: toBase64Url(randomBytes(32)), expiresAt: 1 }
    }
    throw new ServerError(404, 'NOT_FOUND', `${method} ${path}`)
  }

  summary() {
    return {
      shareId: this.shareId,
      state: 'active',
      itemIds: [],
      createdAt: 0,
      expiresAt: 1,
      maxDownloads: null,
      downloads: 0,
      ciphertextSize: 0,
    }
  }

  async send(method: string, path: string, opts: RequestOptions = {}): Promise<void> {
    if (method === 'POST' && path === `/public/shares/${this.shareId}/close`) {
      expect(opts.headers?.[SHARE_SESSION_HEADER]).toMatch(/^[A-Za-z0-9_-]{43}$/)
      this.closes++
    } else throw new ServerError(404, 'NOT_FOUND', path)
  }

  async exchange(method: string, path: string, opts: ExchangeOptions = {}): Promise<ExchangeResponse> {
    const n = this.#blobOf(path)
    const blob = this.blobs[n]!
    if (method === 'PATCH') blob.push(...(await readAll(asStream(opts.body!))))
    const h: Record<string, string> = {
      'upload-offset': String(blob.length),
      'upload-length': String(this.sizes[n]),
    }
    return { status: 204, header: (name) => h[name] }
  }

  #uploadIds: string[] = []
  #blobOf(path: string): number {
    const m = /^\/api\/v1\/uploads\/([A-Za-z0-9_-]{22})$/.exec(path)
    expect(m).not.toBeNull()
    let n = this.#uploadIds.indexOf(m![1]!)
    if (n < 0) n = this.#uploadIds.push(m![1]!) - 1
    return n
  }

  async download(path: string, opts: DownloadOptions = {}): Promise<DownloadResponse> {
    const m = /^\/public\/shares\/([^/]+)\/blobs\/(\d+)$/.exec(path)
    if (!m || m[1] !== this.shareId) throw new ServerError(404, 'NOT_FOUND', path)
    expect(opts.anonymous).toBe(true)
    expect(opts.headers?.[SHARE_SESSION_HEADER]).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const n = Number(m[2])
    const range = opts.headers?.range
    this.ranges.push(range)
    const from = range ? Number(/^bytes=(\d+)-$/.exec(range)![1]) : 0
    const bytes = new Uint8Array(this.blobs[n]!)
    const served = this.serve(n, bytes, from)
    const h: Record<string, string> =
      served.status === 206 ? { 'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` } : {}
    let sent = 0
    const cut = served.cut
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (cut !== undefined && sent >= cut) return c.error(new TypeError('network error'))
        if (sent >= served.bytes.length) return c.close()
        const end = Math.min(served.bytes.length, sent + 1000, cut ?? Number.POSITIVE_INFINITY)
        c.enqueue(served.bytes.slice(sent, end))
        sent = end
      },
    })
    return { status: served.status, header: (name) => h[name], body }
  }
}

function asStream(body: ReadableStream<Uint8Array> | Blob): ReadableStream<Uint8Array> {
  return body instanceof Blob ? body.stream() : body
}

function source(name: string, bytes: Uint8Array): ShareSource {
  const manifest = {
    kind: 'file',
    filename: name,
    type: 'application/octet-stream',
    mtime: 1234,
    created: 5678,
    plaintextSize: bytes.length,
  } as Manifest
  return {
    itemId: id(),
    manifest,
    open: async () => ({ plaintext: new Blob([bytes as BlobPart]).stream() }),
  }
}

/** A spool in memory, read back as a Blob (as the browser's OPFS file is). */
function memorySpool() {
  const held = new Map<string, Blob>()
  return {
    held,
    async write(name: string, ciphertext: ReadableStream<Uint8Array>) {
      const blob = new Blob([(await readAll(ciphertext)) as BlobPart])
      held.set(name, blob)
      return blob
    },
    async remove(name: string) {
      held.delete(name)
    },
  }
}

function memoryStore() {
  let bytes = new Uint8Array(0)
  return {
    size: async () => bytes.length,
    async write(offset: number, body: ReadableStream<Uint8Array>) {
      const reader = body.getReader()
      bytes = bytes.slice(0, offset)
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return
        const next = new Uint8Array(bytes.length + value.length)
        next.set(bytes)
        next.set(value, bytes.length)
        bytes = next
      }
    },
    read: async () => new Blob([bytes as BlobPart]).stream(),
  }
}

async function shared(files: [string, Uint8Array][], passphrase?: string) {
  const server = new ShareServer()
  const spool = memorySpool()
  const created = await createShare(
    server,
    files.map(([n, b]) => source(n, b)),
    spool,
    { maxDownloads: null, ...(passphrase ? { passphrase } : {}) },
  )
  expect(spool.held.size).toBe(0)
  return { server, created, link: parseShareLink(created.link) }
}

describe('share links through core', () => {
  const a = randomBytes(70_000)
  const b = randomBytes(10)

  it('a link made here opens, downloads each file checked, and counts one download', async () => {
    const { server, created, link } = await shared([
      ['a.bin', a],
      ['b.txt', b],
    ])
    expect(created.link).toMatch(new RegExp(`^${ORIGIN}/s/${server.shareId}#AGE-SECRET-KEY-1`))
    const opened = await openShare(server, link)
    expect(opened.manifest!.files.map((f) => [f.name, f.size, f.mtime])).toEqual([
      ['a.bin', a.length, 1234],
      ['b.txt', b.length, 1234],
    ])
    const dl = await startShareDownload(server, opened)
    expect(await readAll(await downloadShareFile(server, dl, 0, memoryStore()))).toEqual(a)
    expect(await readAll(await downloadShareFile(server, dl, 1, memoryStore()))).toEqual(b)
    await finishShareDownload(server, dl)
    expect([server.opens, server.closes]).toEqual([1, 1])
  })

  it('a download cut half way is resumed with a range inside the same download', async () => {
    const { server, link } = await shared([['a.bin', a]])
    let cuts = 0
    server.serve = (_n, bytes, from) =>
      from === 0 && cuts++ === 0
        ? { status: 200, bytes, cut: 30_000 }
        : { status: from > 0 ? 206 : 200, bytes: bytes.subarray(from) }
    const dl = await startShareDownload(server, await openShare(server, link))
    const seen: number[] = []
    const plain = await downloadShareFile(server, dl, 0, memoryStore(), { onProgress: (n) => seen.push(n) })
    expect(await readAll(plain)).toEqual(a)
    expect(server.ranges).toEqual([undefined, 'bytes=30000-'])
    expect(server.opens).toBe(1)
    expect(seen.at(-1)).toBe(server.sizes[0])
  })

  it('a range answered with the whole file, or more bytes than the manifest says, is refused', async () => {
    const { server, link } = await shared([['a.bin', a]])
    const dl = await startShareDownload(server, await openShare(server, link))
    server.serve = (_n, bytes, from) =>
      from === 0 ? { status: 200, bytes, cut: 1000 } : { status: 200, bytes }
    await expect(downloadShareFile(server, dl, 0, memoryStore())).rejects.toThrow(BadResponseError)
    server.serve = (_n, bytes) => ({ status: 200, bytes: new Uint8Array([...bytes, 0]) })
    await expect(downloadShareFile(server, dl, 0, memoryStore())).rejects.toThrow(/more bytes/)
  })

  it('a swapped file does not decrypt as the one the manifest pins', async () => {
    const { server, link } = await shared([
      ['a.bin', randomBytes(10)],
      ['b.bin', randomBytes(10)],
    ])
    const dl = await startShareDownload(server, await openShare(server, link))
    server.serve = (n) => ({ status: 200, bytes: new Uint8Array(server.blobs[1 - n]!) })
    await expect(downloadShareFile(server, dl, 0, memoryStore()).then((p) => readAll(p))).rejects.toThrow(
      HashMismatchError,
    )
  })

  it('a passphrase link stays closed without it and refuses a wrong one, counting nothing', async () => {
    const { server, link } = await shared([['a.bin', b]], 'correct horse')
    expect(link.needsPassphrase).toBe(true)
    expect((await openShare(server, link)).manifest).toBeNull()
    expect((await openShare(server, link, async () => undefined)).manifest).toBeNull()
    // (scrypt at its real work factor: one wrong try is enough here; the CLI and web tests open it.)
    await expect(openShare(server, link, async () => 'wrong')).rejects.toThrow(WrongPassphraseError)
    expect(server.opens).toBe(0)
  })

  it('a gone link is one clear NotFoundError; a link that cannot be finished is withdrawn', async () => {
    const { server, link } = await shared([['a.bin', b]])
    server.state = 'gone'
    await expect(openShare(server, link)).rejects.toThrow(NotFoundError)
    await expect(openShare(server, link)).rejects.toThrow(/expired, was used up, or was revoked/)
    const failing = new ShareServer()
    const broken: ShareSource = {
      ...source('x', b),
      open: () => Promise.reject(new Error('the item did not verify')),
    }
    await expect(createShare(failing, [broken], memorySpool(), { maxDownloads: 1 })).rejects.toThrow(
      /did not verify/,
    )
    expect(failing.state).toBe('deleted')
  })
})
