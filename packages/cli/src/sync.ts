import { open, rm, stat } from 'node:fs/promises'
import {
  type DeviceLogEntry,
  DeviceLogError,
  deviceFingerprint,
  entryValue,
  type FetchLogPage,
  ForkError,
  fetchVerifiedLog,
  headAt,
  logResponseSchema,
  printable,
  syncVerifiedLog,
  type VerifiedLog,
  verifyLog,
} from '@airlock/core'
import { z } from 'zod'
import type { ApiClient } from './client.js'
import { type HomePaths, readJson, writeFileAtomic } from './config.js'
import { CliError } from './errors.js'

/**
 * The device log as this device verified it. The whole verified log is kept in `log.json` with
 * its pin `(seq, head)`; every sync extends it with core's `extendVerified`, so the server can
 * never roll it back (`RollbackError`) or swap its history (`ForkError`).
 */

const logFileSchema = z.strictObject({
  v: z.literal(1),
  accountId: z.string(),
  pin: z.strictObject({ seq: z.number().int().nonnegative(), head: z.string() }),
  entries: z.array(z.unknown()),
})

/** Loads and re-verifies the pinned log. Throws `CONFIG` if it is missing or does not verify. */
export async function loadLog(home: HomePaths, accountId: string): Promise<VerifiedLog> {
  const file = await readJson(home.log, logFileSchema)
  if (!file || file.accountId !== accountId) throw new CliError('CONFIG', `${home.log} is missing`)
  try {
    const v = verifyLog(accountId, file.entries, file.pin)
    if (v.seq !== file.pin.seq) throw new DeviceLogError('pin does not match')
    return v
  } catch {
    throw new CliError('CONFIG', `${home.log} does not verify; this device's pinned device log is damaged`)
  }
}

/**
 * Stores `v` as the pinned log, but never lowers the pin: under a lock file shared by every
 * `airlock` process of this home, the stored log is re-read; if it is ahead of `v` and `v` is
 * its prefix, the stored one wins (and is returned); if the two disagree at a position they
 * share, `ForkError`. Returns the log now pinned.
 */
export async function saveLog(home: HomePaths, v: VerifiedLog): Promise<VerifiedLog> {
  return withLock(`${home.log}.lock`, async () => {
    const stored = await readJson(home.log, logFileSchema)
    if (stored && stored.accountId === v.accountId) {
      if (stored.pin.seq > v.seq) {
        const disk = verifyLog(v.accountId, stored.entries, stored.pin)
        if (headAt(disk, v.seq) !== v.head) throw new ForkError()
        return disk
      }
      if (headAt(v, stored.pin.seq) !== stored.pin.head) throw new ForkError()
      if (stored.pin.seq === v.seq) return v
    }
    const file = {
      v: 1,
      accountId: v.accountId,
      pin: { seq: v.seq, head: v.head },
      entries: v.entries.map(entryValue),
    }
    await writeFileAtomic(home.log, `${JSON.stringify(file)}\n`, 0o600)
    return v
  })
}

/** A lock file created with O_EXCL; one left by a killed process is taken over after 30 s. */
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

/** Fetches one page of the log of `accountId` from the server. */
function logPages(client: ApiClient, accountId: string): FetchLogPage {
  return (since) => client.json('GET', `/accounts/${accountId}/log`, logResponseSchema, { query: { since } })
}

/** Fetches the whole log from the server and verifies it against `pin` (or from genesis). */
export function fetchLog(
  client: ApiClient,
  accountId: string,
  pin?: { seq: number; head: string },
): Promise<VerifiedLog> {
  return fetchVerifiedLog(logPages(client, accountId), accountId, pin)
}

/** Brings `v` up to the server's head (core `syncVerifiedLog`: rollback, fork and junk are refused). */
export function syncLog(client: ApiClient, v: VerifiedLog): Promise<VerifiedLog> {
  return syncVerifiedLog(logPages(client, v.accountId), v)
}

/** One line per entry that `after` has beyond `before`: every add and removal is shown. */
export function logChanges(before: VerifiedLog, after: VerifiedLog): string[] {
  const names = new Map<string, string>()
  for (const e of after.entries) names.set(e.device.id, e.device.name)
  return after.entries.slice(before.entries.length).map((e: DeviceLogEntry) => {
    const who = `"${printable(e.device.name)}" (${e.device.kind}, ${e.device.id})`
    const by = `"${printable(names.get(e.signer) ?? e.signer)}"`
    return e.op === 'remove'
      ? `device ${who} was removed from your account by ${by}`
      : `device ${who} was added to your account by ${by}; fingerprint ${deviceFingerprint(e.device)}`
  })
}
