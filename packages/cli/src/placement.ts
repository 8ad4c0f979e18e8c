import { randomBytes } from 'node:crypto'
import { chmod, lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { collisionKey, safeFilename, unusedName } from '@airlock/core'
import { fileSink } from '@airlock/core/node'
import { CliError } from './errors.js'

/**
 * Writing received files. Names come from manifests another device wrote, so each path
 * component goes through core's `safeFilename`, directories are only ever created (or reused when
 * they are real directories, never symlinks), and a file is written to a temporary file first and
 * moved into place only when its stream ended without error, under a name nothing else has
 * (`unusedName`, claimed with O_EXCL), so nothing is ever overwritten. Files are written with mode
 * 0600 unless the person asks otherwise (`--mode`).
 */

const MAX_DEPTH = 8

/** Received files are readable by their owner only, unless the person asks (`--mode`). */
export const RECEIVED_MODE = 0o600

/**
 * The `--mode` of received files: octal permission bits (`600`, `0640`, `644`), never execute,
 * setuid, setgid or sticky bits (a received file is never made runnable). The umask still applies.
 */
export function receivedMode(text: string | undefined): number {
  if (text === undefined) return RECEIVED_MODE
  if (!/^0?[0-7]{3}$/.test(text))
    throw new CliError('USAGE', '--mode takes octal permissions such as 600 or 640')
  const mode = Number.parseInt(text, 8)
  if (mode & 0o111) throw new CliError('USAGE', '--mode: received files are never made executable')
  if (!(mode & 0o400)) throw new CliError('USAGE', '--mode: the owner must be able to read the file')
  return mode
}

/** Safe components of a relative name with `/` separators; `..`, `.` and empty parts dropped. */
export function safeComponents(name: string): string[] {
  const parts = name
    .split('/')
    .filter((p) => p !== '' && p !== '.' && p !== '..')
    .map(safeFilename)
  if (parts.length === 0) return ['unnamed']
  if (parts.length > MAX_DEPTH)
    return [...parts.slice(0, MAX_DEPTH - 1), safeFilename(parts.slice(MAX_DEPTH - 1).join('_'))]
  return parts
}

async function takenKeys(dir: string): Promise<Set<string>> {
  const names = await readdir(dir).catch(() => [] as string[])
  return new Set(names.map(collisionKey))
}

/** A directory for `component` inside `dir`: an existing real directory, or a new one. */
async function childDir(dir: string, component: string): Promise<string> {
  const path = join(dir, component)
  const st = await lstat(path).catch(() => null)
  if (st?.isDirectory()) return path
  const taken = await takenKeys(dir)
  for (;;) {
    const name = unusedName(component, (k) => taken.has(k))
    try {
      await mkdir(join(dir, name), { mode: 0o700 })
      return join(dir, name)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      taken.add(collisionKey(name))
    }
  }
}

/**
 * Writes `data` to `<dest>/<safe relative name>` and returns the path. The destination must
 * exist (or is created); on any stream error the temporary file is removed and nothing is left.
 */
export async function saveStream(
  dest: string,
  name: string,
  data: ReadableStream<Uint8Array>,
  mode = RECEIVED_MODE,
): Promise<string> {
  const tmp = await tempFile(dest)
  try {
    await data.pipeTo(fileSink(tmp, 'wx'))
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
  return placeFile(dest, name, tmp, mode)
}

/** A path for a temporary file in `dest` (created if missing), hidden and not yet claimed. */
export async function tempFile(dest: string): Promise<string> {
  await mkdir(dest, { recursive: true, mode: 0o700 })
  return join(dest, `.airlock-${randomBytes(8).toString('hex')}.part`)
}

/**
 * Moves the complete temporary file `tmp` (from {@link tempFile} in `dest`) to
 * `<dest>/<safe relative name>` under a name nothing else has, and returns the path. On failure
 * the temporary file is removed.
 */
export async function placeFile(
  dest: string,
  name: string,
  tmp: string,
  mode = RECEIVED_MODE,
): Promise<string> {
  try {
    // Before the rename, so the file is never visible under its name with wider permissions.
    await chmod(tmp, mode & ~process.umask())
    const parts = safeComponents(name)
    let dir = dest
    for (const c of parts.slice(0, -1)) dir = await childDir(dir, c)
    const final = await claimName(dir, parts.at(-1)!)
    await rename(tmp, final)
    return final
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}

/** Creates an empty placeholder under an unused name (O_EXCL), which the rename then replaces. */
async function claimName(dir: string, leaf: string): Promise<string> {
  const taken = await takenKeys(dir)
  for (;;) {
    const name = unusedName(leaf, (k) => taken.has(k))
    try {
      const fh = await open(join(dir, name), 'wx', 0o600)
      await fh.close()
      return join(dir, name)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      taken.add(collisionKey(name))
    }
  }
}
