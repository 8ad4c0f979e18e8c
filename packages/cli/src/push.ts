import {
  API_PREFIX,
  isAirlockError,
  PUSH_CLOSE,
  type PushEvent,
  pushServerMessageSchema,
} from '@airlock/core'
import type WebSocket from 'ws'
import type { Session } from './session.js'

/**
 * The push WebSocket (`/api/v1/push`): the session token goes in the first message, never in the
 * URL. Reconnects with backoff, logs in again when the server ends the session, and refreshes
 * the token before it expires. `onReady` runs after every (re)connection, so the caller catches
 * up by seq; `onEvent` gets each validated event. Resolves when `signal` aborts; rejects only if
 * this device can no longer log in.
 */
export async function runPush(
  s: Session,
  handlers: { onReady: () => void; onEvent: (e: PushEvent) => void; onDisconnect?: (why: string) => void },
  signal: AbortSignal,
): Promise<void> {
  const url = `${s.client.origin.replace(/^http/, 'ws')}${API_PREFIX}/push`
  // Loaded here: only `watch` keeps a socket.
  const { default: WebSocketClass } = await import('ws')
  let delay = 500
  while (!signal.aborted) {
    let token: string
    try {
      token = await s.freshToken()
    } catch (e) {
      if (isAirlockError(e, 'LOGIN_REFUSED') || isAirlockError(e, 'DEVICE_REMOVED')) throw e
      await sleep(delay, signal)
      delay = Math.min(delay * 2, 15_000)
      continue
    }
    const outcome = await connectOnce(WebSocketClass, s, url, token, handlers, signal, () => {
      delay = 500
    })
    if (signal.aborted) return
    if (outcome === 'unauthenticated') {
      // The session ended (expired, or this device was removed): a fresh login tells which.
      await s.login().catch((e) => {
        if (isAirlockError(e, 'LOGIN_REFUSED')) throw e
      })
    }
    handlers.onDisconnect?.(outcome)
    await sleep(delay, signal)
    delay = Math.min(delay * 2, 15_000)
  }
}

function connectOnce(
  WebSocketClass: typeof WebSocket,
  s: Session,
  url: string,
  token: string,
  handlers: { onReady: () => void; onEvent: (e: PushEvent) => void },
  signal: AbortSignal,
  connected: () => void,
): Promise<'closed' | 'unauthenticated'> {
  return new Promise((resolve) => {
    const ws = new WebSocketClass(url, { maxPayload: 64 * 1024, handshakeTimeout: 15_000 })
    let refresh: NodeJS.Timeout | undefined
    const abort = () => ws.close(1000, 'bye')
    signal.addEventListener('abort', abort, { once: true })
    const scheduleRefresh = () => {
      clearTimeout(refresh)
      // Re-authenticate on the open socket a minute before the session ends.
      refresh = setTimeout(async () => {
        try {
          const fresh = await s.freshToken(120_000)
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'auth', token: fresh }))
          scheduleRefresh()
        } catch {
          ws.close()
        }
      }, 60_000)
    }
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })))
    ws.on('message', (data, isBinary) => {
      let value: unknown
      try {
        value = isBinary ? null : JSON.parse(String(data))
      } catch {
        value = null
      }
      const r = pushServerMessageSchema.safeParse(value)
      if (!r.success) return
      const m = r.data
      if (m.type === 'ready') {
        connected()
        scheduleRefresh()
        handlers.onReady()
      } else if (m.type !== 'pong' && m.type !== 'error') handlers.onEvent(m)
    })
    ws.on('error', () => {})
    ws.on('close', (code) => {
      clearTimeout(refresh)
      signal.removeEventListener('abort', abort)
      resolve(code === PUSH_CLOSE.unauthenticated ? 'unauthenticated' : 'closed')
    })
  })
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
