import {
  API_LIMITS,
  type AppendLogResponse,
  type DeviceLogEntry,
  decodeLogEntry,
  encodeLogEntry,
  entryHash,
  extendVerified,
  type ListDevicesResponse,
  type LogResponse,
  verifyLog,
} from '@airlock/core'
import type { AppContext } from '../context.js'
import { NotFoundError, ServerError } from '../errors.js'
import type { Auth } from './sessions.js'

/**
 * A page of an account's device log. Any signed-in account may read any account's log: public
 * keys and device names only, which colleagues pin before their first item (a key directory).
 * Clients trust it only through their own verification and pins.
 */
export async function readDeviceLog(ctx: AppContext, accountId: string, since: number): Promise<LogResponse> {
  const limit = API_LIMITS.logEntriesPerPage
  const rows = await ctx.store.logs.getLog(accountId, since, limit + 1)
  const head = await ctx.store.logs.getLogHead(accountId)
  if (!head) throw new NotFoundError()
  return { entries: rows.slice(0, limit).map((r) => JSON.parse(r.entry)), head, more: rows.length > limit }
}

/**
 * Appends an entry to the caller's own device log after checking its shape, chain and signature
 * against the stored log (clients still verify the whole log themselves), and applies it to the
 * devices: a removed device's sessions end and its push sockets close. Tells the account's
 * devices.
 */
export async function appendDeviceLog(
  ctx: AppContext,
  auth: Auth,
  raw: unknown,
): Promise<{ response: AppendLogResponse; entry: DeviceLogEntry }> {
  const accountId = auth.accountId
  let entry: DeviceLogEntry
  try {
    entry = decodeLogEntry(raw)
  } catch {
    throw new ServerError('INVALID_LOG_ENTRY', 'malformed device log entry')
  }
  if (entry.account !== accountId || entry.op === 'genesis') {
    throw new ServerError('INVALID_LOG_ENTRY', 'the entry does not belong to this log')
  }
  const head = await ctx.store.logs.getLogHead(accountId)
  if (!head) throw new NotFoundError()
  if (entry.seq !== head.seq + 1 || entry.prev !== head.hash) {
    throw new ServerError('STALE_HEAD', 'the entry does not extend the current head of the log')
  }
  // Refuse junk early; clients still verify the whole log themselves.
  try {
    extendVerified(verifyLog(accountId, await allEntries(ctx, accountId)), [entry])
  } catch {
    throw new ServerError('INVALID_LOG_ENTRY', 'the entry does not verify against the log')
  }
  const hash = entryHash(entry)
  await ctx.store.logs.appendLogEntry(
    accountId,
    { seq: entry.seq, prev: entry.prev, hash, entry: encodeLogEntry(entry), createdAt: ctx.now() },
    entry.op === 'add'
      ? { op: 'add', deviceId: entry.device.id, signKey: entry.device.signKey }
      : { op: 'remove', deviceId: entry.device.id },
  )
  if (entry.op === 'remove') await ctx.hub.revoke([entry.device.id])
  await ctx.hub.publish([accountId], { type: 'log', accountId, seq: entry.seq })
  return { response: { head: { seq: entry.seq, hash } }, entry }
}

/**
 * The devices of an account, for the account itself and for accounts sharing a conversation
 * with it; `NOT_FOUND` for anyone else, so existence never leaks.
 */
export async function listDevices(
  ctx: AppContext,
  auth: Auth,
  accountId: string,
): Promise<ListDevicesResponse> {
  if (
    accountId !== auth.accountId &&
    !(await ctx.store.conversations.shareConversation(auth.accountId, accountId))
  )
    throw new NotFoundError()
  const devices = await ctx.store.logs.listDevices(accountId)
  return {
    devices: devices.map((d) => ({
      deviceId: d.id,
      active: d.active,
      addedSeq: d.addedSeq,
      removedSeq: d.removedSeq,
    })),
  }
}

async function allEntries(ctx: AppContext, accountId: string): Promise<unknown[]> {
  const out: unknown[] = []
  for (;;) {
    const rows = await ctx.store.logs.getLog(accountId, out.length - 1, 1000)
    for (const r of rows) out.push(JSON.parse(r.entry))
    if (rows.length < 1000) return out
  }
}
