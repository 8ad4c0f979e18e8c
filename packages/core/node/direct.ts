import { constants } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'

/**
 * Big sequential writes around the page cache. A buffered write copies every byte into a page of
 * the page cache, and a page the machine has not used lately is expensive to get: on the virtual
 * machines Airlock is measured on, that copy was half the CPU the server spent receiving a GiB, and
 * it was the largest cost of saving one. Direct I/O (`O_DIRECT`) hands the disk aligned blocks from
 * two reused buffers instead, and leaves the page cache to what the machine is using.
 *
 * Direct I/O needs file offsets, lengths and memory aligned to the device's blocks. Lengths and
 * offsets here are multiples of {@link ALIGN}; memory comes from `WebAssembly.Memory`, whose
 * backing store is whole pages. Whatever does not fill a block (the end of a write) goes through
 * the page cache as before, and so does everything on a file system without direct I/O.
 */
export const ALIGN = 4096
/** Bytes per direct write; two buffers of this size per writer, one per reader. */
const BLOCK_BYTES = 2 * 1024 * 1024
/**
 * Aligned buffers come from one slab for the whole process: a WebAssembly memory starts on a page
 * boundary, and one memory (rather than one per buffer) keeps the address space it reserves to
 * one. Only the slots in use have pages; with all of them in use, more files are written through
 * the page cache.
 */
const SLAB_SLOTS = 32

// Node has WebAssembly; this package's TypeScript libraries do not describe it.
declare const WebAssembly: {
  Memory: new (size: { initial: number; maximum: number }) => { buffer: ArrayBuffer }
}

let slab: { memory: ArrayBuffer; free: number[] } | null | undefined

/** A free aligned slot of the slab, or null (no slot free, or no WebAssembly in this process). */
function alignedBuffer(): Buffer | null {
  if (slab === undefined) {
    try {
      const pages = (SLAB_SLOTS * BLOCK_BYTES) / 65536
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer
      slab = { memory, free: Array.from({ length: SLAB_SLOTS }, (_, i) => SLAB_SLOTS - 1 - i) }
    } catch {
      slab = null
    }
  }
  const slot = slab?.free.pop()
  return slab && slot !== undefined ? Buffer.from(slab.memory, slot * BLOCK_BYTES, BLOCK_BYTES) : null
}

function release(b: Buffer): void {
  if (slab && b.buffer === slab.memory) slab.free.push(b.byteOffset / BLOCK_BYTES)
}

const plainBuffer = () => Buffer.allocUnsafeSlow(BLOCK_BYTES)

const alignDown = (n: number) => n - (n % ALIGN)

/**
 * `count` aligned buffers and a second descriptor of `path` opened with `flags` and `O_DIRECT`;
 * or, for a file that is not regular, with no slots free or on a file system without direct I/O,
 * plain buffers and no such descriptor.
 */
async function directOrPlain(
  path: string,
  isFile: boolean,
  flags: number,
  count: number,
): Promise<{ direct: FileHandle | null; buffers: Buffer[] }> {
  const aligned: Buffer[] = []
  for (let i = 0; isFile && i < count; i++) {
    const b = alignedBuffer()
    if (!b) break
    aligned.push(b)
  }
  if (aligned.length === count) {
    const direct = await open(path, flags | constants.O_DIRECT).catch(() => null)
    if (direct) return { direct, buffers: aligned }
  }
  for (const b of aligned) release(b)
  return { direct: null, buffers: Array.from({ length: count }, plainBuffer) }
}

/**
 * Writes a regular file sequentially from `position`. Bytes are copied into an aligned buffer and
 * written in whole blocks with direct I/O while the next buffer fills; {@link flush} writes the
 * rest through the page cache, so after it the file holds everything written. A block that was
 * partly written earlier (a resumed upload) is read back and rewritten whole.
 */
export class SequentialWriter {
  #buf: Buffer
  #spare: Buffer
  /** File offset of `#buf[0]`: a multiple of ALIGN while direct I/O is in use. */
  #base: number
  #used: number
  #written: number
  #directBytes = 0
  #inFlight: Promise<void> = Promise.resolve()
  #error: unknown = null
  #closed = false

  private constructor(
    readonly fh: FileHandle,
    private direct: FileHandle | null,
    buffers: [Buffer, Buffer],
    position: number,
    private readonly onWritten: () => void,
  ) {
    this.#written = position
    this.#buf = buffers[0]
    this.#spare = buffers[1]
    this.#base = direct ? alignDown(position) : position
    this.#used = position - this.#base
  }

  /**
   * Opens `path` with `flags` (as for `fs.open`; the file is created with mode 0600) to write from
   * `position` on (the file's end when omitted). `onWritten` is called whenever more of the file
   * has been written.
   */
  static async open(
    path: string,
    flags: string,
    position?: number,
    onWritten: () => void = () => {},
  ): Promise<SequentialWriter> {
    const fh = await open(path, flags, 0o600)
    try {
      const st = await fh.stat()
      const at = position ?? st.size
      const { direct, buffers } = await directOrPlain(path, st.isFile(), constants.O_WRONLY, 2)
      const w = new SequentialWriter(fh, direct, [buffers[0]!, buffers[1]!], at, onWritten)
      if (w.#used > 0) {
        // The start of a partly written block, rewritten whole by the first direct write.
        const { bytesRead } = await fh.read(w.#buf, 0, w.#used, w.#base)
        if (bytesRead !== w.#used) {
          await w.close()
          throw new Error(`cannot write at ${at}: the file is shorter`)
        }
      }
      return w
    } catch (e) {
      await fh.close().catch(() => {})
      throw e
    }
  }

  /** File offset after the last byte written. */
  get position(): number {
    return this.#base + this.#used
  }

  /** File offset up to which every byte is in the file (short of {@link position} after an error). */
  get written(): number {
    return this.#written
  }

  /** Bytes written with direct I/O so far (the rest went through the page cache). */
  get directBytes(): number {
    return this.#directBytes
  }

  /** Appends `parts`; bytes may stay buffered until {@link flush}. */
  async write(parts: readonly Uint8Array[]): Promise<void> {
    if (this.#error) throw this.#error
    for (const part of parts) {
      let off = 0
      while (off < part.length) {
        const n = Math.min(part.length - off, this.#buf.length - this.#used)
        this.#buf.set(part.subarray(off, off + n), this.#used)
        this.#used += n
        off += n
        if (this.#used === this.#buf.length) await this.#drain()
      }
    }
  }

  /** Writes every buffered byte; after it the file holds all that was written. */
  async flush(): Promise<void> {
    await this.#drain()
    await this.#inFlight
    if (this.#error) throw this.#error
    if (this.#used > 0) {
      // The unaligned end goes through the page cache; it stays buffered too, so the next write
      // can complete its block.
      await writeAll(this.fh, [this.#buf.subarray(0, this.#used)], this.#base)
      this.#done(this.position)
    }
  }

  async datasync(): Promise<void> {
    await this.flush()
    await this.fh.datasync()
  }

  async sync(): Promise<void> {
    await this.flush()
    await this.fh.sync()
  }

  /** Closes the file without flushing; its buffers go back to the slab. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#inFlight
    await this.direct?.close().catch(() => {})
    await this.fh.close()
    release(this.#buf)
    release(this.#spare)
  }

  /** Starts writing the whole blocks in `#buf` and carries the rest over to the other buffer. */
  async #drain(): Promise<void> {
    await this.#inFlight
    if (this.#error) throw this.#error
    const whole = this.direct ? alignDown(this.#used) : this.#used
    if (whole === 0) return
    const full = this.#buf
    const base = this.#base
    const rest = this.#used - whole
    this.#buf = this.#spare
    this.#spare = full
    full.copy(this.#buf, 0, whole, whole + rest)
    this.#base += whole
    this.#used = rest
    this.#inFlight = this.#writeBlocks(full.subarray(0, whole), base).catch((e: unknown) => {
      this.#error = e
    })
  }

  async #writeBlocks(data: Buffer, at: number): Promise<void> {
    const direct = this.direct
    if (direct) {
      try {
        await writeAll(direct, [data], at)
        this.#directBytes += data.length
        this.#done(at + data.length)
        return
      } catch (e) {
        // EINVAL: the device wants more alignment than this gives. Carry on through the page cache.
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e
        this.direct = null
        await direct.close().catch(() => {})
      }
    }
    await writeAll(this.fh, [data], at)
    this.#done(at + data.length)
  }

  #done(upTo: number): void {
    if (upTo <= this.#written) return
    this.#written = upTo
    this.onWritten()
  }
}

/**
 * Writes every byte of `parts` with `writev`, again for whatever a short write left, at
 * `position` (or the file position). Returns the number of bytes written.
 */
export async function writeAll(
  fh: FileHandle,
  parts: readonly Uint8Array[],
  position?: number,
): Promise<number> {
  let rest = [...parts]
  let total = 0
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, position === undefined ? undefined : position + total)
    total += bytesWritten
    rest = dropWritten(rest, bytesWritten)
  }
  return total
}

function dropWritten(parts: Uint8Array[], n: number): Uint8Array[] {
  let i = 0
  while (i < parts.length && n >= parts[i]!.length) n -= parts[i++]!.length
  const rest = parts.slice(i)
  if (n > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(n)
  return rest
}

/**
 * Reads a file at any offset, in whole blocks with direct I/O where the file system allows (see
 * {@link SequentialWriter}): a file written around the page cache is read back the same way.
 */
export class BlockReader {
  #buf: Buffer | null
  #reading: Promise<unknown> = Promise.resolve()

  private constructor(
    readonly fh: FileHandle,
    private direct: FileHandle | null,
    buf: Buffer,
  ) {
    this.#buf = buf
  }

  /** Whether reads bypass the page cache. */
  get isDirect(): boolean {
    return this.direct !== null
  }

  static async open(path: string): Promise<BlockReader> {
    const fh = await open(path, 'r')
    try {
      const { direct, buffers } = await directOrPlain(path, (await fh.stat()).isFile(), constants.O_RDONLY, 1)
      return new BlockReader(fh, direct, buffers[0]!)
    } catch (e) {
      await fh.close().catch(() => {})
      throw e
    }
  }

  /**
   * Up to `max` bytes at `position`; empty at the end of the file. The bytes are valid until the
   * next call.
   */
  read(position: number, max: number): Promise<Buffer> {
    const buf = this.#buf
    if (!buf) return Promise.reject(new Error('the reader is closed'))
    const reading = this.#read(buf, position, max)
    this.#reading = reading.catch(() => {})
    return reading
  }

  async #read(buf: Buffer, position: number, max: number): Promise<Buffer> {
    const direct = this.direct
    if (direct) {
      const start = alignDown(position)
      try {
        const { bytesRead } = await direct.read(buf, 0, buf.length, start)
        const skip = position - start
        return buf.subarray(skip, Math.max(skip, Math.min(bytesRead, skip + max)))
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e
        this.direct = null
        await direct.close().catch(() => {})
      }
    }
    const { bytesRead } = await this.fh.read(buf, 0, Math.min(max, buf.length), position)
    return buf.subarray(0, bytesRead)
  }

  async close(): Promise<void> {
    if (!this.#buf) return
    const buf = this.#buf
    this.#buf = null
    // The buffer goes back to the slab only once no read is filling it.
    await this.#reading
    await this.direct?.close().catch(() => {})
    await this.fh.close()
    release(buf)
  }
}
