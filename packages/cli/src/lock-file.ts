import { open, rm, stat } from 'node:fs/promises'
import { CliError } from './errors.js'

/**
 * A lock file created with O_EXCL, shared by every `airlock` process of one home; one left by a
 * killed process is taken over after 30 s.
 */
export async function withLock<T>(path: string, f: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600)
      await fh.close()
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const age = Date.now() - ((await stat(path).catch(() => null))?.mtimeMs ?? Date.now())
      if (age > 30_000) await rm(path, { force: true })
      else if (Date.now() > deadline) throw new CliError('IO', `${path} is held by another airlock process`)
      else await new Promise((r) => setTimeout(r, 25))
    }
  }
  try {
    return await f()
  } finally {
    await rm(path, { force: true })
  }
}
