import {
  API_LIMITS,
  type AppendLogResponse,
  apiAccountIdSchema,
  appendLogRequestSchema,
  type DeviceLogEntry,
  decodeLogEntry,
  encodeLogEntry,
  entryHash,
  extendVerified,
  type ListDevicesResponse,
  type LogResponse,
  logQuerySchema,
  verifyLog,
} from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import { type Auth, requireAuth } from '../auth.js'
import type { AppContext } from '../context.js'
import { NotFoundError, ServerError } from '../errors.js'
import { parseInput } from '../validation.js'

/**
 * The device log of an account, stored as given after checking its shape, chain and signature,
 * and the devices derived from it. The log is readable by every signed-in account (colleagues pin
 * it); the device list by the account and those sharing a conversation with it; both are
 * writable by the account's own devices only.
 */
export function deviceLogRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/accounts/:id/log', async (req) => {
    await requireAuth(ctx, req)
    // Any signed-in account may read any account's log: public keys and device names only, which
    // colleagues pin before their first item (a key directory). Clients trust it only through
    // their own verification and pins.
    const accountId = accountParam(req.params)
    const query = parseInput(logQuerySchema, req.query, 'query')
    const limit = API_LIMITS.logEntriesPerPage
    const rows = await ctx.store.getLog(accountId, query.since ?? -1, limit + 1)
    const head = await ctx.store.getLogHead(accountId)
    if (!head) throw new NotFoundError()
    const res: LogResponse = {
      entries: rows.slice(0, limit).map((r) => JSON.parse(r.entry)),
      head,
      more: rows.length > limit,
    }
    return res
  })

  app.post('/accounts/:id/log', async (req) => {
    const auth = await requireAuth(ctx, req)
    const accountId = ownAccount(auth, req.params)
    const body = parseInput(appendLogRequestSchema, req.body)
    let entry: DeviceLogEntry
    try {
      entry = decodeLogEntry(body.entry)
    } catch {
      throw new ServerError('INVALID_LOG_ENTRY', 'malformed device log entry')
    }
    if (entry.account !== accountId || entry.op === 'genesis') {
      throw new ServerError('INVALID_LOG_ENTRY', 'the entry does not belong to this log')
    }
    const head = await ctx.store.getLogHead(accountId)
    if (!head) throw new NotFoundError()
    if (entry.seq !== head.seq + 1 || entry.prev !== head.hash) {
      throw new ServerError('STALE_HEAD', 'the entry does not extend the current head of the log')
    }
    // Refuse junk early; clients still verify the whole log themselves.
    try {
      const entries = await allEntries(ctx, accountId)
      extendVerified(verifyLog(accountId, entries), [entry])
    } catch {
      throw new ServerError('INVALID_LOG_ENTRY', 'the entry does not verify against the log')
    }
    const hash = entryHash(entry)
    await ctx.store.appendLogEntry(
      accountId,
      { seq: entry.seq, prev: entry.prev, hash, entry: encodeLogEntry(entry), createdAt: ctx.now() },
      entry.op === 'add'
        ? { op: 'add', deviceId: entry.device.id, signKey: entry.device.signKey }
        : { op: 'remove', deviceId: entry.device.id },
    )
    if (entry.op === 'remove') await ctx.hub.revoke([entry.device.id])
    await ctx.hub.publish([accountId], { type: 'log', accountId, seq: entry.seq })
    req.log.info({ op: entry.op, seq: entry.seq }, 'device log appended')
    const res: AppendLogResponse = { head: { seq: entry.seq, hash } }
    return res
  })

  app.get('/accounts/:id/devices', async (req) => {
    const auth = await requireAuth(ctx, req)
    const accountId = await readableAccount(ctx, auth, req.params)
    const devices = await ctx.store.listDevices(accountId)
    const res: ListDevicesResponse = {
      devices: devices.map((d) => ({
        deviceId: d.id,
        active: d.active,
        addedSeq: d.addedSeq,
        removedSeq: d.removedSeq,
      })),
    }
    return res
  })
}

function accountParam(params: unknown): string {
  const id = (params as { id?: unknown }).id
  const r = apiAccountIdSchema.safeParse(id)
  if (!r.success) throw new NotFoundError()
  return r.data
}

/** The account in the path if it is the caller's own; else `NOT_FOUND` (existence never leaks). */
function ownAccount(auth: Auth, params: unknown): string {
  const id = accountParam(params)
  if (id !== auth.accountId) throw new NotFoundError()
  return id
}

async function readableAccount(ctx: AppContext, auth: Auth, params: unknown): Promise<string> {
  const id = accountParam(params)
  if (id === auth.accountId || (await ctx.store.shareConversation(auth.accountId, id))) return id
  throw new NotFoundError()
}

async function allEntries(ctx: AppContext, accountId: string): Promise<unknown[]> {
  const out: unknown[] = []
  for (;;) {
    const rows = await ctx.store.getLog(accountId, out.length - 1, 1000)
    for (const r of rows) out.push(JSON.parse(r.entry))
    if (rows.length < 1000) return out
  }
}
