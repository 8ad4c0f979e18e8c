import {
  acceptLink as acceptLinkSession,
  type DeviceRecord,
  type DeviceSecrets,
  type LinkApproval,
  LinkDeclinedError,
  type LinkServer,
  type LinkShown,
  linkCreateResponseSchema,
  linkJoinResponseSchema,
  linkReceiveResponseSchema,
  linkSendResponseSchema,
  offerLink as offerLinkSession,
  parseLinkInput,
} from '@airlock/core'
import type { ApiClient } from './client.js'
import { CliError, isApiError } from './errors.js'

/**
 * Linking a new device through the server's mailbox: the protocol is core's (link-session.ts);
 * this is its transport over the CLI's API client.
 */

export type Approved = LinkApproval
export type { LinkShown }

/** Core's mailbox calls over `client`; a mailbox that is gone ends the session as declined. */
function linkServer(client: ApiClient): LinkServer {
  const anon = (secret?: string) => ({ ...(secret ? { secret } : {}) })
  const call = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f()
    } catch (e) {
      if (isApiError(e, 'GONE')) throw new LinkDeclinedError()
      throw e
    }
  }
  return {
    origin: client.origin,
    open: () => client.json('POST', '/link', linkCreateResponseSchema, { anonymous: true }),
    // Joining a mailbox that is gone or unknown is "no such code" (exit 7), not a declined session.
    join: (target) =>
      client.json('POST', '/link/join', linkJoinResponseSchema, { body: target }).catch((e) => {
        if (isApiError(e, 'NOT_FOUND'))
          throw new CliError('NOT_FOUND', 'no device is waiting with that code (it may have expired)')
        throw e
      }),
    send: (mailboxId, body, secret) =>
      call(() =>
        client.json('POST', '/link/send', linkSendResponseSchema, {
          body: { mailboxId, ...anon(secret), body },
          anonymous: secret !== undefined,
        }),
      ).then(() => {}),
    receive: (mailboxId, after, waitMs, secret) =>
      call(() =>
        client.json('POST', '/link/receive', linkReceiveResponseSchema, {
          body: { mailboxId, ...anon(secret), after, waitMs },
          anonymous: secret !== undefined,
        }),
      ),
    close: (mailboxId, outcome, secret) =>
      client.send('POST', '/link/close', {
        body: { mailboxId, ...anon(secret), outcome },
        anonymous: secret !== undefined,
      }),
  }
}

/** The new device's side (core `offerLink`). */
export function offerLink(
  client: ApiClient,
  device: DeviceSecrets,
  show: (s: LinkShown) => Promise<void> | void,
  agreed: (fingerprint: string) => Promise<boolean | undefined> | boolean | undefined,
): Promise<Approved> {
  return offerLinkSession(linkServer(client), device, show, agreed)
}

/** The existing device's side, from what the person typed: a short code or a QR link. */
export function acceptLink(
  client: ApiClient,
  input: string,
  confirm: (record: DeviceRecord, fingerprint: string) => Promise<boolean>,
  approve: (record: DeviceRecord) => Promise<Approved>,
): Promise<DeviceRecord> {
  const parsed = parseLinkInput(input, Date.now())
  if (parsed.payload && parsed.payload.origin !== client.origin) {
    throw new CliError(
      'USAGE',
      `that link is for another server (${parsed.payload.origin}); this device uses ${client.origin}`,
    )
  }
  return acceptLinkSession(linkServer(client), parsed, confirm, approve)
}
