import { apiAccountIdSchema, appendLogRequestSchema, logQuerySchema } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { AppContext } from '../context.js'
import { appendDeviceLog, listDevices, readDeviceLog } from '../domain/device-log.js'
import { NotFoundError } from '../errors.js'
import { requireAuth } from '../http/auth.js'
import { pathParam } from '../http/params.js'
import { parseInput } from '../validation.js'

/**
 * The device log of an account and the devices derived from it (`domain/device-log.ts`). The
 * log is readable by every signed-in account; the device list by the account and those sharing
 * a conversation with it; both are writable by the account's own devices only.
 */
export function deviceLogRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/accounts/:id/log', async (req) => {
    await requireAuth(ctx, req)
    const accountId = pathParam(req.params, 'id', apiAccountIdSchema)
    const query = parseInput(logQuerySchema, req.query, 'query')
    return readDeviceLog(ctx, accountId, query.since ?? -1)
  })

  app.post('/accounts/:id/log', async (req) => {
    const auth = await requireAuth(ctx, req)
    // Only the account's own log; anyone else's answers as if it did not exist.
    if (pathParam(req.params, 'id', apiAccountIdSchema) !== auth.accountId) throw new NotFoundError()
    const body = parseInput(appendLogRequestSchema, req.body)
    const { response, entry } = await appendDeviceLog(ctx, auth, body.entry)
    req.log.info({ op: entry.op, seq: entry.seq }, 'device log appended')
    return response
  })

  app.get('/accounts/:id/devices', async (req) => {
    const auth = await requireAuth(ctx, req)
    return listDevices(ctx, auth, pathParam(req.params, 'id', apiAccountIdSchema))
  })
}
