import type { FileHandle } from 'node:fs/promises'
import { open, readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { conversationIdSchema, deviceIdSchema, itemIdSchema } from '@airlock/core'
import { writeAll } from '@airlock/core/node'
import { z } from 'zod'
import { type HomePaths, readJson, writeFileAtomic } from './config.js'
import { CliError } from './errors.js'

/**
 * Uploads in flight, kept in `<home>/outbox/` so that a killed `airlock send` can be resumed:
 *
 *     <itemId>.json       the reservation, the source, and the stage
 *     <itemId>.age        the ciphertext, for an upload that failed or is long (see Spool)
 *     <itemId>.manifest   the sealed manifest, once the ciphertext is complete
 *     <itemId>.lock       the pid of the process working on it
 *
 * The file key lives only in the memory of the process that encrypts, so an item interrupted
 * while `stage` is `encrypting` cannot be continued: it is re-sent from its source. Once it is
 * `sealed`, any later process commits the manifest, after uploading the rest from the spool file
 * if the server does not hold it all yet; without the bytes the server needs, it is re-sent.
 */

export const outboxEntrySchema = z.strictObject({
  v: z.literal(1),
  itemId: itemIdSchema,
  uploadPath: z.string(),
  ciphertextSize: z.number().int().nonnegative(),
  createdAt: z.number().int().nonnegative(),
  /** The position of the device log the item was encrypted for. */
  logSeq: z.number().int().nonnegative(),
  /** The conversation and the exact devices it was encrypted to (absent in older entries: self). */
  conversationId: conversationIdSchema.optional(),
  recipients: z.array(deviceIdSchema).max(4096).optional(),
  stage: z.enum(['encrypting', 'sealed']),
  /**
   * Set when the spool was not synced to disk: the boot of the machine that wrote it. After a
   * reboot such a spool may hold garbage and is not resumed from (the source is sent again).
   */
  boot: z.string().max(64).optional(),
  /** The spool file holds the ciphertext from this offset on (absent: from 0, if there is a file). */
  spoolFrom: z.number().int().nonnegative().optional(),
  source: z.strictObject({
    kind: z.enum(['file', 'note']),
    /** Absolute path of the file sent, or null for stdin and notes. */
    path: z.string().nullable(),
    name: z.string(),
    size: z.number().int().nonnegative(),
    mtimeMs: z.number().nonnegative(),
    /** The sensitivity label it is sent with, if any. */
    label: z.string().optional(),
  }),
})
export type OutboxEntry = z.infer<typeof outboxEntrySchema>

export function outboxFiles(home: HomePaths, itemId: string) {
  const base = join(home.outbox, itemId)
  return { state: `${base}.json`, spool: `${base}.age`, manifest: `${base}.manifest`, lock: `${base}.lock` }
}

export async function saveEntry(home: HomePaths, entry: OutboxEntry): Promise<void> {
  await writeFileAtomic(outboxFiles(home, entry.itemId).state, JSON.stringify(entry), 0o600)
}

/** Every readable outbox entry, oldest first. */
export async function listEntries(home: HomePaths): Promise<OutboxEntry[]> {
  const names = await readdir(home.outbox).catch(() => [] as string[])
  const out: OutboxEntry[] = []
  for (const n of names) {
    if (!/^[A-Za-z0-9_-]{22}\.json$/.test(n)) continue
    const e = await readJson(join(home.outbox, n), outboxEntrySchema).catch(() => null)
    if (e) out.push(e)
  }
  return out.sort((a, b) => a.createdAt - b.createdAt)
}

export async function removeEntry(home: HomePaths, itemId: string): Promise<void> {
  const f = outboxFiles(home, itemId)
  for (const p of [f.spool, f.manifest, f.state, f.lock]) await rm(p, { force: true })
}

/**
 * Takes the entry's lock file; false if a live process holds it. A lock left by a dead process
 * (killed mid-upload) is taken over.
 */
export async function lockEntry(home: HomePaths, itemId: string): Promise<boolean> {
  const path = outboxFiles(home, itemId).lock
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600)
      await fh.writeFile(String(process.pid))
      await fh.close()
      return true
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim())
      if (pid > 0 && pid !== process.pid && isAlive(pid)) return false
      await rm(path, { force: true })
    }
  }
  return false
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

const BATCH = 1 << 20

/** Ciphertext the uploader has sent that stays in memory, for a retry at the server's offset. */
export const KEEP_SENT = 16 << 20
/** How far the encrypter may run ahead of the uploader while the spool is in memory. */
export const AHEAD = 8 << 20
/** The largest piece copied into the ring at once. */
const PIECE = 1 << 20
/**
 * The ring that holds the spool in memory. One buffer for the whole upload: chunks kept for
 * megabytes outlive the young generation, and the garbage collections that cost made a list of
 * chunks slower than the disk.
 */
const RING = KEEP_SENT + AHEAD + PIECE
/** An upload projected to take longer than this is spooled to disk, so that a crash can resume it. */
const LONG_UPLOAD_MS = 60_000
/** …judged after this much of it. */
const JUDGE_AFTER_MS = 2_000

/**
 * The ciphertext between the encrypter and the uploader, readable while it grows.
 *
 * It starts in memory where the source can be read again: an upload that keeps up never writes
 * its ciphertext to disk (a second copy of every file sent cost disk space, page cache and CPU),
 * and the last {@link KEEP_SENT} bytes sent stay in memory for a retry at the server's offset. It
 * moves to a file in the outbox ({@link spill}) when the upload fails, or when it would take longer
 * than {@link LONG_UPLOAD_MS}; from then on a crash resumes it from the file (which holds the
 * ciphertext from {@link spooledFrom}). A crash while it is in memory sends the source again.
 */
export class Spool {
  /** Bytes a reader can have: everything produced, once in memory or written to the file. */
  written = 0
  #ring: Buffer | null = null
  /** The oldest offset the ring still holds. */
  #memFrom = 0
  /** Null while in memory; then the offset from which the file holds the ciphertext. */
  #diskFrom: number | null
  #fh: FileHandle | null
  #spilling: Promise<void> | null = null
  #pending: Uint8Array[] = []
  #pendingBytes = 0
  /** The furthest offset handed to the uploader. */
  #sent = 0
  #started = Date.now()
  #sync = false
  #done = false
  #failed: unknown = null
  #wake: (() => void)[] = []
  /** Runs once the spool has moved to its file (the caller records where it starts). */
  onSpill: (() => Promise<void>) | null = null

  private constructor(
    readonly path: string,
    private readonly total: number,
    fh: FileHandle | null,
    diskFrom: number | null,
  ) {
    this.#fh = fh
    this.#diskFrom = diskFrom
  }

  /** A new spool for `total` bytes: in memory if `memory` (the source can be sent again), else a file. */
  static async create(path: string, total: number, { memory }: { memory: boolean }): Promise<Spool> {
    return memory
      ? new Spool(path, total, null, null)
      : new Spool(path, total, await open(path, 'w', 0o600), 0)
  }

  /** A spool file written by an earlier process: the ciphertext from `from` to `size`. */
  static complete(path: string, size: number, from = 0): Spool {
    const s = new Spool(path, size, null, from)
    s.written = size
    s.#done = true
    return s
  }

  /** No bytes at all: for an upload the server already holds whole. */
  static none(size: number): Spool {
    return Spool.complete('', size, size)
  }

  /** Where the file's ciphertext starts; null while the spool is in memory (no file). */
  get spooledFrom(): number | null {
    return this.#diskFrom
  }

  /** Appends a chunk; in memory it waits while the uploader is more than {@link AHEAD} behind. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.#spilling) await this.#spilling
    if (this.#failed) throw this.#failed
    if (this.#diskFrom === null) {
      for (let i = 0; i < chunk.length; i += PIECE) {
        for (;;) {
          if (this.#spilling) await this.#spilling
          if (this.#failed) throw this.#failed
          if (this.#diskFrom !== null) return this.write(chunk.subarray(i))
          if (this.written - this.#sent < AHEAD) break
          if (this.#longUpload()) await this.spill()
          else await this.#wait(500)
        }
        // No await between the checks above and the copy: a spill cannot start in between.
        this.#toRing(chunk.subarray(i, i + PIECE))
      }
      return
    }
    this.#pending.push(chunk)
    this.#pendingBytes += chunk.length
    if (this.#pendingBytes >= BATCH) await this.#flush()
  }

  /**
   * Copies a piece into the ring. The bytes it overwrites are at least KEEP_SENT behind what the
   * uploader was handed: at most AHEAD + PIECE are unsent, and the ring is KEEP_SENT larger.
   */
  #toRing(piece: Uint8Array): void {
    this.#ring ??= Buffer.allocUnsafe(RING)
    const at = this.written % RING
    const first = Math.min(piece.length, RING - at)
    this.#ring.set(piece.subarray(0, first), at)
    if (first < piece.length) this.#ring.set(piece.subarray(first), 0)
    this.written += piece.length
    this.#memFrom = Math.max(this.#memFrom, this.written - RING)
    this.#notify()
  }

  /** The ring's bytes from `pos`: up to `max`, not across its end (a view, not a copy). */
  #fromRing(pos: number, max: number): Uint8Array {
    const at = pos % RING
    return this.#ring!.subarray(at, at + Math.min(max, this.written - pos, RING - at))
  }

  #longUpload(): boolean {
    const elapsed = Date.now() - this.#started
    if (elapsed < JUDGE_AFTER_MS) return false
    return this.#sent === 0 || (this.total * elapsed) / this.#sent > LONG_UPLOAD_MS
  }

  async #flush(): Promise<void> {
    if (this.#pendingBytes === 0) return
    // One writev per batch instead of one write per 64 KiB chunk.
    await writeAll(this.#fh!, this.#pending, this.written)
    this.written += this.#pendingBytes
    this.#pending = []
    this.#pendingBytes = 0
    this.#notify()
  }

  /**
   * Moves the spool to its file: what is still in memory is written out, and so is everything
   * after it. Called when the upload fails or turns out long; idempotent.
   */
  async spill(): Promise<void> {
    if (this.#diskFrom !== null || this.#failed) return
    this.#spilling ??= (async () => {
      // Taken before the first await: writes wait for the spill, so these bytes stay as they are.
      const from = this.#memFrom
      const parts: Uint8Array[] = []
      for (let pos = from; pos < this.written; ) {
        const part = this.#fromRing(pos, RING)
        parts.push(part)
        pos += part.length
      }
      let fh: FileHandle | null = await open(this.path, 'w', 0o600)
      try {
        await writeAll(fh, parts, from)
        if (this.#failed) return
        if (this.#done) {
          if (this.#sync) await fh.sync()
        } else {
          this.#fh = fh
          fh = null
        }
        this.#diskFrom = from
        this.#ring = null
      } finally {
        await fh?.close().catch(() => {})
        this.#spilling = null
        this.#notify()
      }
      await this.onSpill?.()
    })()
    await this.#spilling
  }

  /**
   * From now on the spool is the whole ciphertext. `sync` flushes its file to disk; without it
   * the file is only good until the machine restarts (see `OutboxEntry.boot`).
   */
  async finish(sync: boolean): Promise<void> {
    if (this.#spilling) await this.#spilling
    this.#sync = sync
    if (this.#fh) {
      await this.#flush()
      if (sync) await this.#fh.sync()
      await this.#fh.close()
      this.#fh = null
    }
    this.#done = true
    this.#notify()
  }

  async fail(e: unknown): Promise<void> {
    this.#failed = e
    this.#ring = null
    await this.#fh?.close().catch(() => {})
    this.#notify()
  }

  #notify(): void {
    for (const w of this.#wake.splice(0)) w()
  }

  #wait(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        if (timer) clearTimeout(timer)
        resolve()
      }
      const timer =
        ms === undefined
          ? null
          : setTimeout(() => {
              const i = this.#wake.indexOf(wake)
              if (i >= 0) this.#wake.splice(i, 1)
              resolve()
            }, ms)
      this.#wake.push(wake)
    })
  }

  /** True if a reader can start at `offset`: the bytes from there are still here. */
  has(offset: number): boolean {
    return offset >= (this.#diskFrom ?? this.#memFrom)
  }

  /** A stream of the spool from `start`, waiting for bytes not yet written. */
  reader(start: number): ReadableStream<Uint8Array> {
    let pos = start
    let fh: FileHandle | null = null
    const close = async () => {
      const h = fh
      fh = null
      await h?.close().catch(() => {})
    }
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          for (;;) {
            if (this.#spilling) await this.#spilling
            if (this.#failed) {
              await close()
              controller.error(this.#failed)
              return
            }
            if (pos < this.written) break
            if (this.#done) {
              await close()
              controller.close()
              return
            }
            await this.#wait()
          }
          if (!this.has(pos)) {
            await close()
            controller.error(spoolGap())
            return
          }
          let chunk: Uint8Array
          if (this.#diskFrom === null) {
            // A view of the ring, overwritten only once KEEP_SENT more has been handed out: the
            // upload pipeline holds a few chunks of at most a PIECE (stream queues of one chunk
            // each, the socket's buffer), and the kernel copies what is written to it.
            chunk = this.#fromRing(pos, PIECE)
          } else {
            fh ??= await open(this.path, 'r')
            const n = Math.min(1 << 20, this.written - pos)
            const buf = Buffer.allocUnsafe(n)
            const { bytesRead } = await fh.read(buf, 0, n, pos)
            chunk = new Uint8Array(buf.buffer, buf.byteOffset, bytesRead)
          }
          pos += chunk.length
          if (pos > this.#sent) {
            this.#sent = pos
            this.#notify()
          }
          controller.enqueue(chunk)
        },
        cancel: close,
      },
      { highWaterMark: 0 },
    )
  }
}

/** The server needs bytes this spool no longer has (it lost more than was kept): send anew. */
export function spoolGap(): CliError {
  return new CliError(
    'SPOOL_GAP',
    'the server lost part of the upload that is no longer kept here; run `airlock resume` to send it again',
  )
}
