import type { FileHandle } from 'node:fs/promises'
import { open, readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { conversationIdSchema, deviceIdSchema, itemIdSchema } from '@airlock/core'
import { z } from 'zod'
import { type HomePaths, readJson, writeFileAtomic } from './config.js'

/**
 * Uploads in flight, kept in `<home>/outbox/` so that a killed `airlock send` can be resumed:
 *
 *     <itemId>.json       the reservation, the source, and the stage
 *     <itemId>.age        the ciphertext, written as it is produced (the spool)
 *     <itemId>.manifest   the sealed manifest, once the ciphertext is complete
 *     <itemId>.lock       the pid of the process working on it
 *
 * The file key lives only in the memory of the process that encrypts, so an item interrupted
 * while `stage` is `encrypting` cannot be continued: it is re-sent from its source. Once it is
 * `sealed`, the spool holds the exact ciphertext and any later process resumes the upload at
 * the server's offset and commits the manifest.
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

/**
 * The ciphertext file as it is being written, readable while it grows: the uploader follows the
 * encrypter, so upload and encryption overlap, and what was uploaded is always on disk first.
 */
export class Spool {
  written = 0
  #pending: Uint8Array[] = []
  #pendingBytes = 0
  #done = false
  #failed: unknown = null
  #wake: (() => void)[] = []

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle | null,
  ) {}

  static async create(path: string): Promise<Spool> {
    return new Spool(path, await open(path, 'w', 0o600))
  }

  /** A spool written by an earlier process, complete at `size` bytes. */
  static complete(path: string, size: number): Spool {
    const s = new Spool(path, null)
    s.written = size
    s.#done = true
    return s
  }

  /** Appends a chunk; it becomes readable once a batch of about 1 MiB has been written. */
  async write(chunk: Uint8Array): Promise<void> {
    this.#pending.push(chunk)
    this.#pendingBytes += chunk.length
    if (this.#pendingBytes >= BATCH) await this.#flush()
  }

  async #flush(): Promise<void> {
    if (this.#pendingBytes === 0) return
    // One writev per batch instead of one write per 64 KiB chunk.
    await this.fh!.writev(this.#pending, this.written)
    this.written += this.#pendingBytes
    this.#pending = []
    this.#pendingBytes = 0
    this.#notify()
  }

  /**
   * From now on the spool is the whole ciphertext. `sync` flushes it to disk; without it the
   * spool is only good until the machine restarts (see `OutboxEntry.boot`).
   */
  async finish(sync: boolean): Promise<void> {
    await this.#flush()
    if (sync) await this.fh!.sync()
    await this.fh!.close()
    this.#done = true
    this.#notify()
  }

  async fail(e: unknown): Promise<void> {
    this.#failed = e
    await this.fh?.close().catch(() => {})
    this.#notify()
  }

  #notify(): void {
    for (const w of this.#wake.splice(0)) w()
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
            await new Promise<void>((resolve) => this.#wake.push(resolve))
          }
          fh ??= await open(this.path, 'r')
          const n = Math.min(1 << 20, this.written - pos)
          const buf = Buffer.allocUnsafe(n)
          const { bytesRead } = await fh.read(buf, 0, n, pos)
          pos += bytesRead
          controller.enqueue(new Uint8Array(buf.buffer, buf.byteOffset, bytesRead))
        },
        cancel: close,
      },
      { highWaterMark: 0 },
    )
  }
}
