import { HashMismatchError } from '@airlock/core'
import { WebError } from '../errors.ts'

/**
 * Files in the origin-private file system (OPFS): ciphertext spooled for upload (so a reload
 * resumes it), ciphertext downloaded for checking, and verified plaintext handed to the browser's
 * download. Large files stay on disk and never sit in memory whole.
 */

async function root(): Promise<FileSystemDirectoryHandle> {
  if (!navigator.storage?.getDirectory)
    throw new WebError(
      'UNSUPPORTED',
      'this browser has no private file storage (OPFS); use a current browser',
    )
  return navigator.storage.getDirectory()
}

/**
 * Writes a stream to a fresh OPFS file; `progress` gets the bytes written so far. More than
 * `max` bytes is `HashMismatchError` (the signed size was exceeded) and nothing is kept. With
 * `from`, the file is continued from that offset instead, and kept on failure (a resumable
 * download).
 */
export async function writeFile(
  name: string,
  data: ReadableStream<Uint8Array>,
  progress?: (n: number) => void,
  signal?: AbortSignal,
  max = Number.MAX_SAFE_INTEGER,
  from?: number,
): Promise<number> {
  const handle = await (await root()).getFileHandle(name, { create: true })
  const access = await handle.createSyncAccessHandle()
  let at = from ?? 0
  try {
    access.truncate(at)
    const reader = data.getReader()
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason
        const { done, value } = await reader.read()
        if (done) break
        if (at + value.length > max) throw new HashMismatchError()
        let off = 0
        while (off < value.length) off += access.write(value.subarray(off), { at: at + off })
        at += value.length
        progress?.(at)
      }
    } catch (e) {
      await reader.cancel(e).catch(() => {})
      throw e
    }
    access.flush()
  } catch (e) {
    access.close()
    if (from === undefined) await removeFile(name)
    throw e
  }
  access.close()
  return at
}

/** The OPFS file `name` as a `File` (a disk-backed Blob). */
export async function readFile(name: string): Promise<File> {
  const handle = await (await root()).getFileHandle(name)
  return handle.getFile()
}

export async function removeFile(name: string): Promise<void> {
  await (await root()).removeEntry(name).catch(() => {})
}

/** Deletes files whose names start with `prefix` (leftovers of an earlier session). */
export async function removeAll(
  prefix: string,
  keep: (name: string) => boolean = () => false,
): Promise<void> {
  const dir = await root()
  for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) {
    if (name.startsWith(prefix) && !keep(name)) await dir.removeEntry(name).catch(() => {})
  }
}
