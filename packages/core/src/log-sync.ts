import type { LogResponse } from './api.js'
import { extendVerified, MAX_LOG_ENTRIES, type Pin, type VerifiedLog, verifyLog } from './device-log.js'
import { DeviceLogError, ForkError, LimitError, RollbackError } from './errors.js'

/**
 * Reading an account's device log from a server, page by page, for every client. The server is
 * untrusted: whatever it answers is verified with `verifyLog` / `extendVerified`, and its
 * claimed head must be exactly where the verified entries end.
 */

/** One page of `GET /accounts/:id/log`: entries with `seq > since` (all when `since` is undefined). */
export type FetchLogPage = (since: number | undefined) => Promise<LogResponse>

/**
 * The whole log, verified from genesis against `pin` when given. Throws `verifyLog`'s errors,
 * `ForkError` if the server's head differs from the verified one, `DeviceLogError` if the
 * server's head is elsewhere (an incomplete log).
 */
export async function fetchVerifiedLog(
  fetchPage: FetchLogPage,
  accountId: string,
  pin?: Pin,
): Promise<VerifiedLog> {
  const entries: unknown[] = []
  let res: LogResponse
  do {
    res = await fetchPage(entries.length === 0 ? undefined : entries.length - 1)
    entries.push(...res.entries)
    // Bounded while reading, not only when verifying: a server cannot fill memory with pages.
    if (entries.length > MAX_LOG_ENTRIES) throw new LimitError('the device log is too long')
  } while (res.more && res.entries.length > 0)
  const v = verifyLog(accountId, entries, pin)
  checkHead(v, res.head)
  return v
}

/**
 * Brings `v` up to the server's head. Throws `RollbackError` if the server's log is shorter than
 * `v`, `ForkError` if it disagrees with it, `DeviceLogError` for a server that claims more
 * without sending it, and the errors of `extendVerified`.
 */
export async function syncVerifiedLog(fetchPage: FetchLogPage, v: VerifiedLog): Promise<VerifiedLog> {
  let current = v
  let res: LogResponse
  do {
    res = await fetchPage(current.seq)
    if (res.head.seq < v.seq) throw new RollbackError()
    const next = extendVerified(current, res.entries)
    // A server that keeps answering "more" without moving forward would keep us here forever.
    if (res.more && next.seq <= current.seq) throw new DeviceLogError('the server sent no new log entries')
    current = next
  } while (res.more && res.entries.length > 0)
  checkHead(current, res.head)
  return current
}

function checkHead(v: VerifiedLog, head: { seq: number; hash: string }): void {
  if (head.seq === v.seq && head.hash !== v.head) throw new ForkError()
  if (head.seq !== v.seq) throw new DeviceLogError('the server sent an incomplete device log')
}
