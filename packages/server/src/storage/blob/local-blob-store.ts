import { createReadStream } from 'node:fs'
import {
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  statfs,
  truncate,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { BlockReader, bootId, SequentialWriter } from '@airlock/core/node'
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  ServerError,
} from '../../errors.js'
import {
  type BlobListing,
  type BlobStatus,
  type BlobStore,
  BlobWriters,
  type FollowedBlob,
  isValidBlobId,
} from './blob-store.js'

/**
 * A `BlobStore` in a local directory:
 *
 *     staging/<id>          bytes received so far
 *     staging/<id>.length   the declared final length (decimal)
 *     staging/<id>.synced   `<offset> <boot id>`: bytes known to be on stable storage, and the boot
 *                           of the machine that wrote that line
 *     blobs/<ab>/<id>       committed blobs, sharded by the id's first two characters
 *
 * Appends are `fdatasync`ed before they are acknowledged (and every 64 MiB on the way), and
 * commit is an fsync and a rename, so a crash leaves either the staged bytes (resumable) or the
 * complete committed blob. After a process crash every byte written is still in the page cache
 * and counts; after a power loss (the boot id changed) only the synced offset does, and anything
 * beyond it, which may be garbage, is cut off before the upload resumes.
 */
export class LocalBlobStore implements BlobStore {
  private readonly staging: string
  private readonly blobs: string
  private readonly writers = new BlobWriters()
  /** Free space beyond the reserve at the last statfs, less what was written since. */
  private room: { spare: number; at: number } | null = null
  /** Followers of uploads in progress, woken after every write (see {@link follow}). */
  private readonly followers = new Map<string, Set<() => void>>()

  private constructor(root: string) {
    this.staging = join(root, 'staging')
    this.blobs = join(root, 'blobs')
  }

  static async open(root: string): Promise<LocalBlobStore> {
    const store = new LocalBlobStore(root)
    await mkdir(store.staging, { recursive: true, mode: 0o700 })
    await mkdir(store.blobs, { recursive: true, mode: 0o700 })
    return store
  }

  async create(id: string, length: number): Promise<void> {
    checkId(id)
    if (!Number.isSafeInteger(length) || length < 0) throw new BadRequestError('invalid blob length')
    if (await this.status(id)) throw new ConflictError('blob exists')
    const tmp = `${this.lengthPath(id)}.tmp`
    await writeFile(tmp, String(length), { mode: 0o600 })
    await rename(tmp, this.lengthPath(id))
    await this.writeSynced(id, 0)
    const fh = await open(this.stagedPath(id), 'wx', 0o600)
    await fh.close()
    await syncDir(this.staging)
  }

  async append(
    id: string,
    offset: number,
    data: Readable | AsyncIterable<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<number> {
    checkId(id)
    this.writers.begin(id)
    try {
      const length = await this.stagedLength(id)
      if (length === null) throw new NotFoundError('no such staged blob')
      const path = this.stagedPath(id)
      const size = await this.trustedSize(id, (await stat(path)).size)
      if (size !== offset) throw new ConflictError('offset does not match the stored size')
      // Bytes past the trusted size (unsynced before a power loss) are dropped, not resumed from.
      await truncate(path, size)
      // Followers are woken whenever more of the file is written.
      const out = await SequentialWriter.open(path, 'r+', offset, () => this.wakeFollowers(id))
      let synced = offset
      try {
        for await (const chunk of data as AsyncIterable<Uint8Array>) {
          if (signal?.aborted) break
          const room = length - out.position
          const take = chunk.length > room ? chunk.subarray(0, room) : chunk
          await this.checkRoom(take.length)
          await out.write([take])
          if (take !== chunk) throw new PayloadTooLargeError('more bytes than the declared length')
          if (out.position - synced >= SYNC_EVERY) {
            await out.datasync()
            synced = out.position
            await this.writeSynced(id, synced)
          }
        }
      } finally {
        // Whatever arrived before a failure is kept, so the upload resumes from there.
        const ok = await out.datasync().then(
          () => true,
          () => false,
        )
        await out.close()
        if (ok && out.written !== synced) await this.writeSynced(id, out.written).catch(() => {})
      }
      return out.written
    } finally {
      this.writers.end(id)
    }
  }

  async status(id: string): Promise<BlobStatus | null> {
    checkId(id)
    const committed = await fileSize(this.committedPath(id))
    if (committed !== null) return { length: committed, size: committed, committed: true }
    const length = await this.stagedLength(id)
    if (length === null) return null
    const size = await this.trustedSize(id, (await fileSize(this.stagedPath(id))) ?? 0)
    return { length, size, committed: false }
  }

  async commit(id: string): Promise<void> {
    checkId(id)
    const s = await this.status(id)
    if (!s) throw new NotFoundError('no such blob')
    if (s.committed) return
    if (s.size !== s.length) throw new ServerError('UPLOAD_INCOMPLETE', 'the upload is not complete')
    const fh = await open(this.stagedPath(id), 'r')
    await fh.sync()
    await fh.close()
    const shard = join(this.blobs, id.slice(0, 2))
    await mkdir(shard, { recursive: true, mode: 0o700 })
    await rename(this.stagedPath(id), this.committedPath(id))
    await syncDir(shard)
    await rm(this.lengthPath(id), { force: true })
    await rm(this.syncedPath(id), { force: true })
    await syncDir(this.staging)
  }

  async read(id: string, range?: { start: number; end: number }): Promise<Readable> {
    checkId(id)
    const size = await fileSize(this.committedPath(id))
    if (size === null) throw new NotFoundError('no such blob')
    if (range && (range.start < 0 || range.end < range.start || range.end >= size)) {
      throw new ServerError('RANGE_NOT_SATISFIABLE', 'range not satisfiable', {
        'content-range': `bytes */${size}`,
      })
    }
    return createReadStream(this.committedPath(id), range ? { start: range.start, end: range.end } : {})
  }

  async follow(id: string, signal: AbortSignal): Promise<FollowedBlob | null> {
    checkId(id)
    const committed = await fileSize(this.committedPath(id))
    if (committed !== null) {
      const stream = await this.read(id)
      return { length: committed, chunks: stream, close: async () => void stream.destroy() }
    }
    const declared = await this.stagedLength(id)
    if (declared === null) return null
    const length = declared
    // The descriptor keeps reading the same file after commit renames it.
    const reader = await BlockReader.open(this.stagedPath(id)).catch(() => null)
    // Committed (renamed) in between: read it whole. Otherwise (deleted, or a `.length` left
    // without its file by a crash in `create`) there is nothing to follow — retrying would spin.
    if (!reader) return (await fileSize(this.committedPath(id))) !== null ? this.follow(id, signal) : null
    const gone = async () => (await this.status(id)) === null
    const wait = (ms: number) =>
      new Promise<void>((resolve) => {
        const set = this.followers.get(id) ?? new Set()
        this.followers.set(id, set)
        const done = () => {
          clearTimeout(timer)
          signal.removeEventListener('abort', done)
          set.delete(done)
          if (set.size === 0 && this.followers.get(id) === set) this.followers.delete(id)
          resolve()
        }
        // Polling as well covers another instance writing to a shared directory.
        const timer = setTimeout(done, ms)
        set.add(done)
        signal.addEventListener('abort', done)
      })
    let closed: Promise<void> | null = null
    const close = () => {
      closed ??= reader.close().catch(() => {})
      return closed
    }
    async function* bytes(): AsyncGenerator<Uint8Array> {
      let pos = 0
      let lastGrowth = Date.now()
      try {
        while (pos < length && !signal.aborted) {
          // Reading at the end of the file returns nothing; then wait for the uploader. The reader
          // reuses one buffer for the whole follow: a buffer per read was a GiB of garbage per GiB
          // followed, and the collections it caused cost more CPU than the reads themselves.
          const got = await reader!.read(pos, length - pos)
          if (got.length > 0) {
            pos += got.length
            lastGrowth = Date.now()
            yield got
            continue
          }
          if (Date.now() - lastGrowth > FOLLOW_STALL_MS) throw new Error('the upload stopped')
          await wait(FOLLOW_POLL_MS)
          if (await gone()) throw new Error('the upload was abandoned')
        }
      } finally {
        await close()
      }
    }
    return { length, chunks: bytes(), close }
  }

  private wakeFollowers(id: string): void {
    const set = this.followers.get(id)
    if (set) for (const f of [...set]) f()
  }

  async delete(id: string): Promise<void> {
    checkId(id)
    await rm(this.committedPath(id), { force: true })
    await rm(this.stagedPath(id), { force: true })
    await rm(this.lengthPath(id), { force: true })
    await rm(this.syncedPath(id), { force: true })
    this.wakeFollowers(id)
  }

  async *list(): AsyncIterable<BlobListing> {
    const seen = new Set<string>()
    for (const name of await readdir(this.staging)) {
      const id = name.endsWith('.length') ? name.slice(0, -'.length'.length) : name
      if (!isValidBlobId(id) || seen.has(id)) continue
      seen.add(id)
      const st = await stat(this.stagedPath(id)).catch(() => stat(this.lengthPath(id)).catch(() => null))
      if (!st) continue
      const size = (await fileSize(this.stagedPath(id))) ?? 0
      yield { id, size, committed: false, modifiedAt: st.mtimeMs }
    }
    for (const shard of await readdir(this.blobs)) {
      for (const id of await readdir(join(this.blobs, shard)).catch(() => [] as string[])) {
        if (!isValidBlobId(id)) continue
        const st = await stat(join(this.blobs, shard, id)).catch(() => null)
        if (st) yield { id, size: st.size, committed: true, modifiedAt: st.mtimeMs }
      }
    }
  }

  private async stagedLength(id: string): Promise<number | null> {
    const text = await readFile(this.lengthPath(id), 'utf8').catch(() => null)
    if (text === null || !/^(0|[1-9][0-9]{0,15})$/.test(text)) return null
    return Number(text)
  }

  /**
   * Refuses a write that would leave less than the reserve free (2 % of the file system, at least
   * 2 MiB and at most 256 MiB): uploads stop with 507 before the disk is full, so the database
   * can still record logins and commits and what is stored stays downloadable.
   */
  private async checkRoom(bytes: number): Promise<void> {
    // statfs costs about a millisecond here: far from the reserve, a recent answer less what was
    // written since will do; near it, every write asks again.
    const known = this.room
    if (known && Date.now() - known.at < ROOM_TTL_MS && known.spare - bytes > ROOM_SLACK) {
      known.spare -= bytes
      return
    }
    this.room = null
    const fs = await statfs(this.staging).catch(() => null)
    if (!fs) return
    const reserve = Math.min(256 * 1024 * 1024, Math.max(2 * 1024 * 1024, fs.blocks * fs.bsize * 0.02))
    const spare = fs.bavail * fs.bsize - reserve
    if (spare - bytes < 0) {
      throw new ServerError('INSUFFICIENT_STORAGE', 'the server is out of storage space; try again later')
    }
    this.room = { spare: spare - bytes, at: Date.now() }
  }

  /**
   * The size of a staged blob that can be resumed from: the file's size, unless the machine
   * rebooted since the synced offset was recorded (or it cannot tell), then at most that offset.
   * Blobs staged before `.synced` files existed have none and keep their file size.
   */
  private async trustedSize(id: string, fileBytes: number): Promise<number> {
    const text = await readFile(this.syncedPath(id), 'utf8').catch(() => null)
    if (text === null) return fileBytes
    const m = /^(0|[1-9][0-9]{0,15}) (\S*)$/.exec(text)
    if (!m) return 0
    const boot = await bootId()
    return boot !== '' && m[2] === boot ? fileBytes : Math.min(fileBytes, Number(m[1]))
  }

  /** Records that the first `offset` bytes of a staged blob are on stable storage. */
  private async writeSynced(id: string, offset: number): Promise<void> {
    const tmp = `${this.syncedPath(id)}.tmp`
    await writeFile(tmp, `${offset} ${await bootId()}`, { mode: 0o600 })
    await rename(tmp, this.syncedPath(id))
  }

  private syncedPath(id: string): string {
    return join(this.staging, `${id}.synced`)
  }

  private stagedPath(id: string): string {
    return join(this.staging, id)
  }

  private lengthPath(id: string): string {
    return join(this.staging, `${id}.length`)
  }

  private committedPath(id: string): string {
    return join(this.blobs, id.slice(0, 2), id)
  }
}

/** How often, and how long, a follower of an upload in progress waits for more before giving up. */
const FOLLOW_POLL_MS = 250
const FOLLOW_STALL_MS = 120_000
/** How long, and down to how much spare space, a statfs answer is reused (see checkRoom). */
const ROOM_TTL_MS = 1000
const ROOM_SLACK = 64 * 1024 * 1024
/** Long uploads are synced (and their offset recorded) this often, so little is lost to a power cut. */
const SYNC_EVERY = 64 * 1024 * 1024

function checkId(id: string): void {
  if (!isValidBlobId(id)) throw new BadRequestError('invalid blob id')
}

async function fileSize(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size
  } catch {
    return null
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
