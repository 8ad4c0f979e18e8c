import { type FileHandle, open, readFile } from 'node:fs/promises'
import { SequentialWriter } from './direct.js'

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
        // Not zeroed: only the bytes read are handed on.
        const buf = new Uint8Array(Buffer.allocUnsafeSlow(PIECE).buffer, 0, PIECE)
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
 * A web WritableStream into a file (mode 0600: it may hold plaintext), created or truncated
 * ('w') or created anew ('wx'), written by a {@link SequentialWriter}: whole blocks around the
 * page cache where the file system allows. The file is fsynced on close so a completed write
 * survives a crash before it is renamed into place. With `syncEvery`, data is also synced in the
 * background every that many bytes, so that the final sync, which the caller waits for, has
 * little left to write.
 */
export function fileSink(
  path: string,
  flags: 'w' | 'wx' = 'w',
  opts: { syncEvery?: number } = {},
): WritableStream<Uint8Array> {
  let w: SequentialWriter | null = null
  let synced = 0
  let syncing: Promise<void> = Promise.resolve()
  let syncError: unknown = null
  const writer = async () => {
    w ??= await SequentialWriter.open(path, flags, 0)
    return w
  }
  return new WritableStream<Uint8Array>(
    {
      async write(chunk) {
        const out = await writer()
        await out.write([chunk])
        if (opts.syncEvery !== undefined && out.position - synced >= opts.syncEvery) {
          // At most one background sync at a time: a disk slower than the writer slows the writer.
          await syncing
          if (syncError) throw syncError
          synced = out.position
          syncing = out.fh.datasync().catch((e: unknown) => {
            syncError = e
          })
        }
      },
      async close() {
        const out = await writer()
        await syncing
        if (syncError) throw syncError
        try {
          if (path === '/dev/null') await out.flush()
          else await out.sync()
        } finally {
          await out.close()
        }
      },
      async abort() {
        await syncing
        await w?.close()
      },
    },
    { highWaterMark: 4 },
  )
}

let boot: Promise<string> | null = null

/**
 * This boot of the machine (Linux), or '' where unknown. Bytes written but not synced survive a
 * crash of the process, not of the machine: a file written without a sync is trusted only by the
 * same boot, and wherever the boot cannot be told, writers sync.
 */
export function bootId(): Promise<string> {
  boot ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (t) => t.trim(),
    () => '',
  )
  return boot
}
