import {
  LinkDeclinedError,
  type LinkServer,
  linkCreateResponseSchema,
  linkJoinResponseSchema,
  linkReceiveResponseSchema,
  linkSendResponseSchema,
} from '@airlock/core'
import { isApiError, WebError } from '../errors.ts'
import type { Api } from './api.ts'

/** Core's linking mailbox calls (link-session.ts) over the browser's API client. */
export function linkServer(api: Api): LinkServer {
  const withSecret = (secret?: string) => (secret ? { secret } : {})
  const call = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f()
    } catch (e) {
      if (isApiError(e, 'GONE')) throw new LinkDeclinedError()
      throw e
    }
  }
  return {
    origin: api.origin,
    open: () => api.json('POST', '/link', linkCreateResponseSchema, { anonymous: true }),
    join: async (target) => {
      try {
        return await api.json('POST', '/link/join', linkJoinResponseSchema, { body: target })
      } catch (e) {
        if (isApiError(e, 'NOT_FOUND') || isApiError(e, 'GONE'))
          throw new WebError('NOT_FOUND', 'no device is waiting with that code (it may have expired)')
        throw e
      }
    },
    send: async (mailboxId, body, secret) => {
      await call(() =>
        api.json('POST', '/link/send', linkSendResponseSchema, {
          body: { mailboxId, ...withSecret(secret), body },
          anonymous: secret !== undefined,
        }),
      )
    },
    receive: (mailboxId, after, waitMs, secret) =>
      call(() =>
        api.json('POST', '/link/receive', linkReceiveResponseSchema, {
          body: { mailboxId, ...withSecret(secret), after, waitMs },
          anonymous: secret !== undefined,
        }),
      ),
    close: (mailboxId, outcome, secret) =>
      api.send('POST', '/link/close', {
        body: { mailboxId, ...withSecret(secret), outcome },
        anonymous: secret !== undefined,
      }),
  }
}
