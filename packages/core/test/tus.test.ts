import { describe, expect, it } from 'vitest'
import { BadResponseError, NetworkError } from '../src/errors.js'
import { retryTransient } from '../src/retry.js'
import type { ExchangeOptions, ExchangeResponse, Transport } from '../src/transport.js'
import { ServerError } from '../src/transport.js'
import { checkUploadUrl, parseUploadHeader, tusStatus, tusUpload } from '../src/tus.js'

// The tus uploader of both clients against an in-memory tus server behind the Transport port:
// the server's answers are what is under test (strict headers, same-origin URLs), and its faults
// (a cut request, a restart, an expired session, a server that keeps nothing) what it must survive.

const ORIGIN = 'https://airlock.example:8443'
const PATH = '/api/v1/uploads/AAAAAAAAAAAAAAAAAAAAAA'
const fast = { delayMs: 1, maxDelayMs: 2 }

/** A tus server holding one upload of `length` bytes; each hook may fail or bend one request. */
class TusServer implements Transport {
  readonly origin = ORIGIN
  token: string | null = 'token'
  relogin: (() => Promise<void>) | null = null
  stored: number[] = []
  requests: { method: string; offset?: number; bytes?: number }[] = []
  /** Runs before each request (`n` counts them from 0); may throw: nothing is stored then. */
  before: (method: string, n: number) => void = () => {}
  calls = 0
  /** Bytes of a PATCH body kept before the connection breaks (then NetworkError); null: all. */
  cutAfter: number | null = null
  headers: (h: Record<string, string>) => Record<string, string> = (h) => h

  constructor(readonly length: number) {}

  json(): never {
    throw new Error('not used')
  }
  send(): never {
    throw new Error('not used')
  }
  download(): never {
    throw new Error('not used')
  }

  async exchange(method: string, path: string, opts: ExchangeOptions = {}): Promise<ExchangeResponse> {
    expect(path).toBe(PATH)
    expect(opts.headers?.['tus-resumable']).toBe('1.0.0')
    this.before(method, this.calls++)
    if (opts.signal?.aborted) throw opts.signal.reason
    if (method === 'HEAD') {
      this.requests.push({ method })
      return answer(
        this.headers({ 'upload-offset': String(this.stored.length), 'upload-length': String(this.length) }),
      )
    }
    const offset = Number(opts.headers?.['upload-offset'])
    if (offset !== this.stored.length) throw new ServerError(409, 'CONFLICT', 'offset mismatch')
    const bytes =
      opts.body instanceof Blob ? new Uint8Array(await opts.body.arrayBuffer()) : await drain(opts.body!)
    this.requests.push({ method, offset, bytes: bytes.length })
    const keep = this.cutAfter === null ? bytes.length : Math.min(this.cutAfter, bytes.length)
    this.stored.push(...bytes.subarray(0, keep))
    if (keep < bytes.length) {
      this.cutAfter = null
      throw new NetworkError('the connection broke off')
    }
    return answer(this.headers({ 'upload-offset': String(this.stored.length) }))
  }
}

function answer(h: Record<string, string>): ExchangeResponse {
  return { status: 204, header: (name) => h[name] }
}

async function drain(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: number[] = []
  const reader = s.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return new Uint8Array(parts)
    parts.push(...value)
  }
}

function data(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 7 + 3) & 0xff
  return out
}

/** A stream of `bytes` from `offset` in pieces of `piece` bytes. */
function streamFrom(bytes: Uint8Array, piece = 100) {
  return (offset: number) => {
    let at = offset
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= bytes.length) return c.close()
        c.enqueue(bytes.slice(at, at + piece))
        at += piece
      },
    })
  }
}

describe('checkUploadUrl', () => {
  it('accepts a tus path on the same origin, absolute or not', () => {
    expect(checkUploadUrl(ORIGIN, PATH)).toBe(PATH)
    expect(checkUploadUrl(ORIGIN, `${ORIGIN}${PATH}`)).toBe(PATH)
    expect(checkUploadUrl(`${ORIGIN}/`, `https://AIRLOCK.example:8443${PATH}`)).toBe(PATH)
  })

  it.each([
    ['another host', `https://evil.example${PATH}`],
    ['another port', `https://airlock.example:9443${PATH}`],
    ['plain http', `http://airlock.example:8443${PATH}`],
    ['another scheme', `javascript:alert(1)//${PATH}`],
    ['a protocol-relative URL', `//evil.example${PATH}`],
    ['another API path', '/api/v1/items/AAAAAAAAAAAAAAAAAAAAAA'],
    ['a climb out of the uploads', '/api/v1/uploads/../items/AAAA'],
    ['a query', `${PATH}?x=1`],
    ['a query on an absolute URL', `${ORIGIN}${PATH}?x=1`],
    ['an id that is too long', `/api/v1/uploads/${'A'.repeat(65)}`],
    ['an empty id', '/api/v1/uploads/'],
    ['nothing', ''],
  ])('refuses %s', (_why, url) => {
    expect(() => checkUploadUrl(ORIGIN, url)).toThrow(BadResponseError)
  })
})

describe('parseUploadHeader', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['16777216', 16777216],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ])('reads %s', (v, n) => {
    expect(parseUploadHeader('Upload-Offset', v)).toBe(n)
  })

  it.each([
    undefined,
    '',
    '-1',
    '+1',
    '01',
    ' 1',
    '1 ',
    '1.0',
    '1e3',
    '0x10',
    '9007199254740992',
    '12345678901234567',
    '1, 2',
  ])('refuses %s', (v) => {
    expect(() => parseUploadHeader('Upload-Offset', v)).toThrow(BadResponseError)
  })

  it('a HEAD with an offset beyond the length is refused', async () => {
    const server = new TusServer(10)
    server.headers = () => ({ 'upload-offset': '11', 'upload-length': '10' })
    await expect(tusStatus(server, PATH)).rejects.toThrow(BadResponseError)
  })
})

describe('tusUpload', () => {
  it('uploads a Blob in chunks, reporting progress after each', async () => {
    const bytes = data(1000)
    const server = new TusServer(1000)
    const seen: number[] = []
    await tusUpload(server, PATH, {
      size: 1000,
      source: new Blob([bytes]),
      chunkSize: 300,
      onProgress: (n) => seen.push(n),
      ...fast,
    })
    expect(new Uint8Array(server.stored)).toEqual(bytes)
    expect(server.requests.map((r) => r.method)).toEqual(['HEAD', 'PATCH', 'PATCH', 'PATCH', 'PATCH'])
    expect(seen).toEqual([0, 300, 600, 900, 1000])
  })

  it('sends a stream in one PATCH and a fresh upload without asking first', async () => {
    const bytes = data(1000)
    const server = new TusServer(1000)
    let start = -1
    await tusUpload(server, PATH, {
      size: 1000,
      source: streamFrom(bytes),
      fresh: true,
      onStart: (o) => {
        start = o
      },
      ...fast,
    })
    expect(new Uint8Array(server.stored)).toEqual(bytes)
    expect(server.requests).toEqual([{ method: 'PATCH', offset: 0, bytes: 1000 }])
    expect(start).toBe(0)
  })

  it('resumes a cut request at the offset the server kept, and only sends the rest', async () => {
    for (const source of ['blob', 'stream'] as const) {
      const bytes = data(1000)
      const server = new TusServer(1000)
      server.cutAfter = 450
      const transient: unknown[] = []
      await tusUpload(server, PATH, {
        size: 1000,
        source: source === 'blob' ? new Blob([bytes]) : streamFrom(bytes),
        fresh: true,
        onTransient: async (e) => {
          transient.push(e)
        },
        ...fast,
      })
      expect(new Uint8Array(server.stored)).toEqual(bytes)
      expect(server.requests).toEqual([
        { method: 'PATCH', offset: 0, bytes: 1000 },
        { method: 'HEAD' },
        { method: 'PATCH', offset: 450, bytes: 550 },
      ])
      expect(transient).toHaveLength(1)
    }
  })

  it('retries a restarting server (503) and a busy one (429), then finishes', async () => {
    const server = new TusServer(500)
    server.before = (_m, n) => {
      if (n === 0) throw new ServerError(503, 'UNAVAILABLE', 'restarting')
      if (n === 1) throw new ServerError(429, 'RATE_LIMITED', 'busy')
    }
    await tusUpload(server, PATH, { size: 500, source: new Blob([data(500)]), ...fast })
    expect(server.stored).toHaveLength(500)
  })

  it('logs in again after an expired session, where the transport can', async () => {
    const server = new TusServer(500)
    let logins = 0
    server.before = () => {
      if (server.token === 'token') throw new ServerError(401, 'UNAUTHENTICATED', 'expired')
    }
    server.relogin = async () => {
      logins++
      server.token = 'fresh'
    }
    await tusUpload(server, PATH, { size: 500, source: new Blob([data(500)]), ...fast })
    expect(logins).toBe(1)
    expect(server.stored).toHaveLength(500)
    // Without a way to log in, an expired session is an answer, not something to wait out.
    const other = new TusServer(500)
    other.before = () => {
      throw new ServerError(401, 'UNAUTHENTICATED', 'expired')
    }
    await expect(
      tusUpload(other, PATH, { size: 500, source: new Blob([data(500)]), ...fast }),
    ).rejects.toThrow(ServerError)
  })

  it('stops at once on a refusal, another length or an impossible offset', async () => {
    const refused = new TusServer(500)
    refused.before = () => {
      throw new ServerError(413, 'ITEM_TOO_LARGE', 'no')
    }
    await expect(
      tusUpload(refused, PATH, { size: 500, source: new Blob([data(500)]), ...fast }),
    ).rejects.toThrow(/no/)
    expect(refused.requests).toHaveLength(0)
    await expect(
      tusUpload(new TusServer(501), PATH, { size: 500, source: new Blob([data(500)]), ...fast }),
    ).rejects.toThrow(/upload length/)
    const liar = new TusServer(500)
    liar.headers = (h) => ('upload-length' in h ? h : { 'upload-offset': '400' })
    await expect(
      tusUpload(liar, PATH, { size: 500, source: new Blob([data(500)]), chunkSize: 100, ...fast }),
    ).rejects.toThrow(/beyond what was sent/)
  })

  it('gives up on a server that keeps nothing it is sent', async () => {
    const server = new TusServer(500)
    server.before = () => {
      server.cutAfter = 0
    }
    await expect(
      tusUpload(server, PATH, { size: 500, source: new Blob([data(500)]), maxStuck: 3, ...fast }),
    ).rejects.toThrow(/stored no more/)
    // The first HEAD finds where it starts; three more in which nothing was kept end it.
    expect(server.requests.filter((r) => r.method === 'HEAD')).toHaveLength(4)
  })

  it('an abort ends it with the signal reason, without more attempts', async () => {
    const server = new TusServer(500)
    const abort = new AbortController()
    server.before = () => {
      abort.abort(new Error('cancelled by the person'))
    }
    await expect(
      tusUpload(server, PATH, { size: 500, source: new Blob([data(500)]), signal: abort.signal, ...fast }),
    ).rejects.toThrow(/cancelled by the person/)
    expect(server.requests).toHaveLength(0)
  })

  it('whatever the source throws for an offset it no longer has ends it', async () => {
    const server = new TusServer(500)
    server.stored = [...data(100)]
    await expect(
      tusUpload(server, PATH, {
        size: 500,
        source: () => {
          throw new Error('the spool no longer has these bytes')
        },
        ...fast,
      }),
    ).rejects.toThrow(/no longer has/)
  })
})

describe('retryTransient', () => {
  it('retries network failures up to its limit and passes anything else on at once', async () => {
    let n = 0
    await expect(
      retryTransient(
        null,
        async () => {
          n++
          throw new NetworkError()
        },
        { maxAttempts: 3, ...fast },
      ),
    ).rejects.toThrow(NetworkError)
    expect(n).toBe(4)
    n = 0
    await expect(
      retryTransient(
        null,
        async () => {
          n++
          throw new ServerError(403, 'FORBIDDEN', 'no')
        },
        fast,
      ),
    ).rejects.toThrow(ServerError)
    expect(n).toBe(1)
    expect(
      await retryTransient(null, async () => (++n === 3 ? 'done' : Promise.reject(new NetworkError())), fast),
    ).toBe('done')
  })
})
