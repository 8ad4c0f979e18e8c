import { type FileHandle, open } from 'node:fs/promises'

const PIECE = 1 << 20

/**
 * A web ReadableStream over a file, pulled in 1 MiB reads. Written by hand because Node 20's
 * `Readable.toWeb` counts its high-water mark in chunks rather than bytes and so buffers a whole
 * file ahead of a slow consumer.
 */
export function fileSource(path: string, start = 0): ReadableStream<Uint8Array> {
  let fh: FileHandle | null = null
  let pos = start
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        fh ??= await open(path, 'r')
        const buf = new Uint8Array(PIECE)
        const { bytesRead } = await fh.read(buf, 0, PIECE, pos)
        if (bytesRead === 0) {
          await fh.close()
          fh = null
          controller.close()
          return
        }
        pos += bytesRead
        controller.enqueue(bytesRead === PIECE ? buf : buf.subarray(0, bytesRead))
      },
      async cancel() {
        await fh?.close()
        fh = null
      },
    },
    // Two pieces of read-ahead let the disk work while the caller encrypts.
    { highWaterMark: 2 },
  )
}

/**
 * A web WritableStream into a file (mode 0600: it may hold plaintext). `flags` as for
 * `fs.open` ('w' truncates, 'a' appends for resumed downloads). The file is fsynced on close so
 * a completed write survives a crash before it is renamed into place.
 */
export function fileSink(path: string, flags = 'w'): WritableStream<Uint8Array> {
  let fh: FileHandle | null = null
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  // Chunks arrive 64 KiB at a time; gathering them into one writev per MiB saves a trip through
  // the thread pool for each, without copying.
  const flush = async () => {
    fh ??= await open(path, flags, 0o600)
    const parts = pending
    pending = []
    pendingBytes = 0
    await writeAll(fh, parts)
  }
  return new WritableStream<Uint8Array>(
    {
      async write(chunk) {
        pending.push(chunk)
        pendingBytes += chunk.length
        if (pendingBytes >= PIECE) await flush()
      },
      async close() {
        await flush()
        if (path !== '/dev/null') await fh!.sync()
        await fh!.close()
      },
      async abort() {
        await fh?.close()
      },
    },
    { highWaterMark: 4 },
  )
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
