import { AUTH_SIGN_CONTEXT, authSignedValue, type SessionResponse } from './api.js'
import { callEndpoint } from './call-endpoint.js'
import type { DirectoryServer } from './directory.js'
import { BadResponseError, LoginRefusedError } from './errors.js'
import { type DeviceSecrets, signCanonical } from './identity.js'
import type { FetchLogPage } from './log-sync.js'
import { isServerError, type Transport } from './transport.js'

/**
 * Logging a device in, and the read-only server calls every signed-in client makes through its
 * {@link Transport}: device-log pages, group-log pages and the username of an account.
 */

/**
 * Logs `device` in: the server's challenge is signed with the device key together with the origin
 * the device believes it talks to, so a look-alike server cannot relay the login. Sets
 * `t.token`. Throws `LoginRefusedError` when the server refuses the device (removed, or unknown
 * there) and `BadResponseError` when it answers for another device. A refusal is never proof
 * of removal: only the verified device log is, so callers keep the keys.
 */
export async function login(t: Transport, device: DeviceSecrets): Promise<SessionResponse> {
  const deviceId = device.record.id
  const { challenge } = await callEndpoint(t, 'authChallenge', { body: { deviceId } })
  const origin = t.origin
  const signature = signCanonical(device, AUTH_SIGN_CONTEXT, authSignedValue({ challenge, deviceId, origin }))
  let s: SessionResponse
  try {
    s = await callEndpoint(t, 'createSession', { body: { deviceId, challenge, origin, signature } })
  } catch (e) {
    if (isServerError(e, 'BAD_SIGNATURE')) throw new LoginRefusedError()
    if (isServerError(e, 'UNAUTHENTICATED')) throw new LoginRefusedError('the server refused the login')
    throw e
  }
  if (s.deviceId !== deviceId) throw new BadResponseError('login answer (another device)')
  t.token = s.token
  return s
}

/** Pages of an account's device log (`GET /accounts/:id/log`), for core's log-sync functions. */
export function logPagesOver(t: Transport, accountId: string): FetchLogPage {
  return (since) => callEndpoint(t, 'getDeviceLog', { params: { id: accountId }, query: { since } })
}

/** The server calls core's `Directory` makes, over a transport. */
export function directoryServerOver(t: Transport): DirectoryServer {
  return {
    logPage: (id, since) => logPagesOver(t, id)(since),
    groupLogPage: (cid, since) => callEndpoint(t, 'getGroupLog', { params: { cid }, query: { since } }),
    username: async (id) => (await callEndpoint(t, 'lookupAccount', { query: { accountId: id } })).username,
  }
}
