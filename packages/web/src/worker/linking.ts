import { type LinkServer, linkServerOver, NotFoundError } from '@airlock/core'
import { isApiError } from '../errors.ts'
import type { Api } from './api.ts'

/** Core's linking mailbox calls (link-session.ts) over the browser's API client. */
export function linkServer(api: Api): LinkServer {
  const server = linkServerOver(
    api.origin,
    (path, schema, body, anonymous) => api.json('POST', path, schema, { body, anonymous }),
    (e) => isApiError(e, 'GONE'),
  )
  return {
    ...server,
    join: (target) =>
      server.join(target).catch((e) => {
        if (isApiError(e, 'NOT_FOUND') || isApiError(e, 'GONE'))
          throw new NotFoundError('no device is waiting with that code (it may have expired)')
        throw e
      }),
  }
}
