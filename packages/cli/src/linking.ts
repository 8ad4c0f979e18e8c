import {
  acceptLink as acceptLinkSession,
  type DeviceRecord,
  type DeviceSecrets,
  type LinkApproval,
  type LinkServer,
  type LinkShown,
  linkServerOver,
  NotFoundError,
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

/** Core's mailbox calls over `client`; an unknown or gone code is "no such code" (exit 7). */
function linkServer(client: ApiClient): LinkServer {
  const server = linkServerOver(
    client.origin,
    (path, schema, body, anonymous) => client.json('POST', path, schema, { body, anonymous }),
    (e) => isApiError(e, 'GONE'),
  )
  return {
    ...server,
    join: (target) =>
      server.join(target).catch((e) => {
        if (isApiError(e, 'NOT_FOUND'))
          throw new NotFoundError('no device is waiting with that code (it may have expired)')
        throw e
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
