import { API_PREFIX, type PushEvent, pushServerMessageSchema } from '@airlock/core'

/**
 * The push socket: authenticates with the session token in its first message, reports events
 * (which carry no content; the page catches up by seq), and reconnects with backoff. Every
 * (re)connect reports a `resync` so nothing that happened while offline is missed.
 */
export class Push {
  private ws: WebSocket | null = null
  private stopped = false
  private delay = 500
  private pingTimer: ReturnType<typeof setInterval> | null = null

  constructor(
    private readonly origin: string,
    private readonly token: () => Promise<string>,
    private readonly onEvent: (e: PushEvent | { type: 'resync' } | { type: 'closed'; code: number }) => void,
  ) {}

  start(): void {
    void this.connect()
  }

  stop(): void {
    this.stopped = true
    if (this.pingTimer) clearInterval(this.pingTimer)
    this.ws?.close(1000)
  }

  private async connect(): Promise<void> {
    if (this.stopped) return
    let token: string
    try {
      token = await this.token()
    } catch {
      this.retry()
      return
    }
    const url = new URL(`${API_PREFIX}/push`, this.origin)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    const ws = new WebSocket(url)
    this.ws = ws
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }))
    ws.onmessage = (m) => {
      let msg: ReturnType<typeof pushServerMessageSchema.parse>
      try {
        msg = pushServerMessageSchema.parse(JSON.parse(String(m.data)))
      } catch {
        ws.close(4400)
        return
      }
      if (msg.type === 'ready') {
        this.delay = 500
        this.onEvent({ type: 'resync' })
      } else if (
        msg.type === 'item' ||
        msg.type === 'delete' ||
        msg.type === 'log' ||
        msg.type === 'members' ||
        msg.type === 'request'
      )
        this.onEvent(msg)
    }
    ws.onclose = (e) => {
      if (this.ws !== ws) return
      this.ws = null
      if (e.code === 4401) this.onEvent({ type: 'closed', code: e.code })
      this.retry()
    }
    if (!this.pingTimer)
      this.pingTimer = setInterval(() => {
        if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'ping' }))
      }, 25_000)
  }

  private retry(): void {
    if (this.stopped) return
    setTimeout(() => void this.connect(), this.delay)
    this.delay = Math.min(this.delay * 2, 30_000)
  }
}
