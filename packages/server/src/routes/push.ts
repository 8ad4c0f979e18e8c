import { ENDPOINTS, PUSH_CLOSE, type PushServerMessage } from '@airlock/core'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import type { AppContext } from '../context.js'
import { type Auth, authenticateToken, sessionStillValid } from '../domain/sessions.js'

const AUTH_TIMEOUT_MS = 10_000
const PING_INTERVAL_MS = 30_000
/**
 * Push sockets one account may hold at once (a few per device is plenty); more are closed with
 * 1013 (try again later), so one account cannot take the server's connections from others.
 */
export const PUSH_SOCKETS_PER_ACCOUNT = 64

/**
 * `GET /api/v1/push`, a WebSocket per device. The first message must be `{type:'auth', token}`
 * (never a token in the URL); then the server sends `ready` and every item, delete and log event
 * of the device's account. Ping frames every 30 s drop dead peers; the socket is closed with 4401
 * when the session expires (send a new `auth` with a fresh token before then to extend it) or the
 * device is removed. Clients catch up by seq on reconnect.
 */
export function pushRoutes(app: FastifyInstance, ctx: AppContext): void {
  const sockets = new Map<string, number>()
  app.get(ENDPOINTS.push.path, { websocket: true }, (socket, req) => {
    let auth: Auth | null = null
    let counted: string | null = null
    let unsubscribe: (() => void) | null = null
    let alive = true
    let authenticating = false
    const send = (m: PushServerMessage) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m))
    }
    const close = (code: number, reason: string) => {
      cleanup()
      if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING)
        socket.close(code, reason)
    }
    const authTimer = setTimeout(
      () => close(PUSH_CLOSE.unauthenticated, 'authentication timeout'),
      AUTH_TIMEOUT_MS,
    )
    const pingTimer = setInterval(() => {
      if (!alive) {
        cleanup()
        socket.terminate()
        return
      }
      alive = false
      socket.ping()
      if (auth)
        void sessionStillValid(ctx, auth).then(
          (ok) => ok || close(PUSH_CLOSE.unauthenticated, 'session ended'),
        )
    }, PING_INTERVAL_MS)
    const cleanup = () => {
      clearTimeout(authTimer)
      clearInterval(pingTimer)
      unsubscribe?.()
      unsubscribe = null
      if (counted !== null) {
        const n = (sockets.get(counted) ?? 1) - 1
        if (n > 0) sockets.set(counted, n)
        else sockets.delete(counted)
        counted = null
      }
    }

    socket.on('pong', () => {
      alive = true
    })
    socket.on('close', cleanup)
    socket.on('error', cleanup)
    socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      alive = true
      let parsed: unknown
      try {
        parsed = isBinary ? null : JSON.parse(String(data))
      } catch {
        parsed = null
      }
      const r = ENDPOINTS.push.messages.client.safeParse(parsed)
      if (!r.success) {
        send({ type: 'error', code: 'INVALID_BODY', message: 'malformed message' })
        return close(PUSH_CLOSE.badMessage, 'malformed message')
      }
      const msg = r.data
      if (msg.type === 'ping') return send({ type: 'pong' })
      // A later `auth` with a fresh token of the same device extends the session.
      if (authenticating) return
      authenticating = true
      authenticateToken(ctx, msg.token).then(
        (a) => {
          authenticating = false
          if (socket.readyState !== socket.OPEN) return
          if (auth && a.deviceId !== auth.deviceId) return close(PUSH_CLOSE.badMessage, 'another device')
          const first = auth === null
          if (first && (sockets.get(a.accountId) ?? 0) >= PUSH_SOCKETS_PER_ACCOUNT) {
            send({
              type: 'error',
              code: 'RATE_LIMITED',
              message: 'too many push connections for this account',
            })
            return close(1013, 'too many connections')
          }
          auth = a
          clearTimeout(authTimer)
          if (first) {
            counted = a.accountId
            sockets.set(a.accountId, (sockets.get(a.accountId) ?? 0) + 1)
            unsubscribe = ctx.hub.subscribe({ accountId: a.accountId, deviceId: a.deviceId }, (event) => {
              if (event.type === 'revoked') close(PUSH_CLOSE.unauthenticated, 'device removed')
              else if (event.type === 'resync') close(PUSH_CLOSE.goingAway, 'reconnect and catch up')
              else send(event)
            })
          }
          send({ type: 'ready', deviceId: a.deviceId })
        },
        () => {
          authenticating = false
          send({ type: 'error', code: 'UNAUTHENTICATED', message: 'session expired or unknown' })
          close(PUSH_CLOSE.unauthenticated, 'unauthenticated')
        },
      )
    })
    req.log.debug('push socket opened')
  })
}
