import {
  choosePinned,
  deviceFingerprint,
  fetchVerifiedLog,
  type LogChange,
  type LogPinStore,
  loadStoredLog,
  logPagesOver,
  type Pin,
  printable,
  storedLogOf,
  type Transport,
  type VerifiedLog,
} from '@airlock/core'
import { z } from 'zod'
import { type HomePaths, readJson, writeFileAtomic } from './config.js'
import { CliError } from './errors.js'
import { withLock } from './lock-file.js'

/**
 * The device log as this device verified it, kept in `log.json` with its pin `(seq, head)`: the
 * CLI's pin store for core's `OwnLog`, which decides what may be pinned (never lower, never a fork).
 */

const logFileSchema = z.strictObject({
  v: z.literal(1),
  accountId: z.string(),
  pin: z.strictObject({ seq: z.number().int().nonnegative(), head: z.string() }),
  entries: z.array(z.unknown()),
})

/** `log.json` as core's pin store, under a lock file shared by every `airlock` process of this home. */
export function logFileStore(home: HomePaths): LogPinStore {
  return {
    update: (decide) =>
      withLock(`${home.log}.lock`, async () => {
        const file = await readJson(home.log, logFileSchema)
        const next = decide(file ? { accountId: file.accountId, pin: file.pin, entries: file.entries } : null)
        if (next) await writeFileAtomic(home.log, `${JSON.stringify({ v: 1, ...next })}\n`, 0o600)
      }),
  }
}

/** Loads and re-verifies the pinned log. Throws `CONFIG` if it is missing or does not verify. */
export async function loadLog(home: HomePaths, accountId: string): Promise<VerifiedLog> {
  const file = await readJson(home.log, logFileSchema)
  if (!file || file.accountId !== accountId) throw new CliError('CONFIG', `${home.log} is missing`)
  const v = loadStoredLog(file, accountId)
  if (!v)
    throw new CliError('CONFIG', `${home.log} does not verify; this device's pinned device log is damaged`)
  return v
}

/** Pins `v` (a new device's first log), never lowering a pin already there; returns the log now pinned. */
export async function saveLog(home: HomePaths, v: VerifiedLog): Promise<VerifiedLog> {
  let chosen = v
  await logFileStore(home).update((stored) => {
    chosen = choosePinned(stored, v)
    return chosen === v ? storedLogOf(v) : null
  })
  return chosen
}

/** Fetches the whole log from the server and verifies it against `pin` (or from genesis). */
export function fetchLog(t: Transport, accountId: string, pin?: Pin): Promise<VerifiedLog> {
  return fetchVerifiedLog(logPagesOver(t, accountId), accountId, pin)
}

/** One line per device added or removed: every change to the account is shown. */
export function logChangeLine(c: LogChange): string {
  const who = `"${printable(c.device.name)}" (${c.device.kind}, ${c.device.id})`
  const by = `"${printable(c.signerName)}"`
  return c.op === 'remove'
    ? `device ${who} was removed from your account by ${by}`
    : `device ${who} was added to your account by ${by}; fingerprint ${deviceFingerprint(c.device)}`
}
