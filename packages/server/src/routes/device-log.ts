import { ENDPOINTS } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { appendDeviceLog, listDevices, readDeviceLog } from '../domain/device-log.js'
import { NotFoundError } from '../errors.js'
import { requireAuth } from '../http/auth.js'
import { bodyOf, on, queryOf } from '../http/endpoint.js'
import { paramOf } from '../http/params.js'

/**
 * The device log of an account and the devices derived from it (`domain/device-log.ts`). The
 * log is readable by every signed-in account; the device list by the account and those sharing
 * a conversation with it; both are writable by the account's own devices only.
 */
export function deviceLogRoutes(app: FastifyInstance, ctx: AppContext): void {
  on(app, 'getDeviceLog', async (req) => {
    await requireAuth(ctx, req)
    const accountId = paramOf(ENDPOINTS.getDeviceLog, 'id', req.params)
    const query = queryOf(ENDPOINTS.getDeviceLog, req.query)
    return readDeviceLog(ctx, accountId, query.since ?? -1)
  })

  on(app, 'appendDeviceLog', async (req) => {
    const auth = await requireAuth(ctx, req)
    // Only the account's own log; anyone else's answers as if it did not exist.
    if (paramOf(ENDPOINTS.appendDeviceLog, 'id', req.params) !== auth.accountId) throw new NotFoundError()
    const body = bodyOf(ENDPOINTS.appendDeviceLog, req.body)
    const { response, entry } = await appendDeviceLog(ctx, auth, body.entry)
    req.log.info({ op: entry.op, seq: entry.seq }, 'device log appended')
    return response
  })

  on(app, 'listDevices', async (req) => {
    const auth = await requireAuth(ctx, req)
    return listDevices(ctx, auth, paramOf(ENDPOINTS.listDevices, 'id', req.params))
  })
}
