import { open, rm } from 'node:fs/promises'
import {
  API_PREFIX,
  type CommittedItem,
  type EarlyItem,
  finishFollowedItem,
  type Manifest,
  NetworkError,
  openItemEarly,
} from '@airlock/core'
import { fileSink, nodeAead, nodeSha256 } from '@airlock/core/node'
import { itemFileName } from './items.js'
import { placeFile, tempFile } from './placement.js'
import type { Session } from './session.js'

/**
 * Receiving an item while its sender is still uploading it. When the server announces an upload
 * (push `upload`), `watch` follows its blob (`GET /items/:id/live`) and decrypts it as it arrives
 * into a hidden temporary file. Nothing there is an item yet: it is kept private until the item
 * is committed and core's `EarlyItem.finish` has verified the signed manifest, the SHA-256 of
 * every ciphertext byte and the padding; only then is it cut to its size and moved into place.
 * Anything that goes wrong (the upload is abandoned, the network breaks, the server cannot
 * stream uploads) just drops the attempt: the item is then downloaded the ordinary way.
 */

/** Uploads followed at once; more are received after their commit, as before. */
const MAX_FOLLOWED = 2
/** A followed upload that never became an item (abandoned, deleted) is discarded after this. */
const KEEP_MS = 10 * 60_000
/** The temporary file is synced as it grows, so the item is durable soon after it is committed. */
const SYNC_EVERY = 64 * 1024 * 1024

interface Followed {
  tmp: string
  early: EarlyItem
}

export class LiveDownloads {
  readonly #followed = new Map<string, Promise<Followed | null>>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #running = 0

  constructor(
    private readonly s: Session,
    private readonly dest: string,
    private readonly signal: AbortSignal,
    /** The permissions of saved files (`--mode`). */
    private readonly mode: number,
  ) {}

  /** Starts following an upload the server announced, unless too many are followed already. */
  follow(itemId: string): void {
    if (this.#followed.has(itemId) || this.#running >= MAX_FOLLOWED || this.signal.aborted) return
    this.#running++
    const attempt = this.#download(itemId)
      .catch(() => null)
      .finally(() => {
        this.#running--
      })
    this.#followed.set(itemId, attempt)
    void attempt.then((f) => {
      if (!f) {
        if (this.#followed.get(itemId) === attempt) this.#followed.delete(itemId)
        return
      }
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        if (this.#followed.get(itemId) !== attempt) return
        this.#followed.delete(itemId)
        void rm(f.tmp, { force: true })
      }, KEEP_MS)
      timer.unref()
      this.#timers.add(timer)
    })
  }

  /**
   * The committed `item`, if its upload was followed to the end: verified, cut to its size and
   * moved into place. Null if it was not followed, or if anything failed, verification included:
   * then nothing is left and the item is received the ordinary way, which checks it again from
   * scratch and reports what is wrong. (A follower may legitimately have read bytes that a server
   * lost to a power cut and the resumed upload replaced; only a full download can tell.)
   */
  async finish(item: CommittedItem): Promise<{ manifest: Manifest; path: string } | null> {
    const attempt = this.#followed.get(item.itemId)
    if (!attempt) return null
    this.#followed.delete(item.itemId)
    const f = await attempt
    if (!f) return null
    try {
      const manifest = await finishFollowedItem(this.s, item, f.early)
      const fh = await open(f.tmp, 'r+')
      try {
        if ((await fh.stat()).size !== manifest.plaintextSize) {
          await fh.truncate(manifest.plaintextSize)
          await fh.sync()
        }
      } finally {
        await fh.close()
      }
      return { manifest, path: await placeFile(this.dest, itemFileName(manifest), f.tmp, this.mode) }
    } catch {
      await rm(f.tmp, { force: true })
      return null
    }
  }

  /** Drops a followed upload that is not to be saved (the item is this device's own). */
  async discard(itemId: string): Promise<void> {
    const attempt = this.#followed.get(itemId)
    this.#followed.delete(itemId)
    const f = await attempt
    if (f) await rm(f.tmp, { force: true })
  }

  /** Drops what was followed but not taken (its temporary files). */
  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    const left = [...this.#followed.values()]
    this.#followed.clear()
    for (const f of await Promise.all(left)) if (f) await rm(f.tmp, { force: true })
  }

  async #download(itemId: string): Promise<Followed | null> {
    const res = await this.s.client.stream('GET', `${API_PREFIX}/items/${encodeURIComponent(itemId)}/live`, {
      signal: this.signal,
    })
    const size = Number(res.headers['content-length'])
    if (res.status !== 200 || !Number.isSafeInteger(size)) {
      res.body.destroy()
      return null
    }
    const body = res.body[Symbol.asyncIterator]()
    let got = 0
    const ciphertext = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await body.next()
        if (done) {
          if (got === size) controller.close()
          else controller.error(new NetworkError('the upload broke off'))
          return
        }
        const chunk = value as Buffer
        got += chunk.length
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length))
      },
      cancel() {
        res.body.destroy()
      },
    })
    // Header errors (not addressed to this device, not post-quantum) come here, before any file.
    const early = await openItemEarly({
      device: this.s.device,
      ciphertext,
      aead: nodeAead,
      sha256: nodeSha256,
    }).catch((e) => {
      res.body.destroy()
      throw e
    })
    const tmp = await tempFile(this.dest)
    try {
      await early.padded.pipeTo(fileSink(tmp, 'wx', { syncEvery: SYNC_EVERY }))
    } catch (e) {
      res.body.destroy()
      await rm(tmp, { force: true })
      throw e
    }
    return { tmp, early }
  }
}
