import { createHash } from 'node:crypto'
import type { PushEvent } from '@airlock/core'
import type pg from 'pg'
import { currentSchema, type PgSettings, pgClient, pgPool } from '../pg.js'
import { type HubMessage, InProcessPushHub, type PushHub, type Subscriber } from './push-hub.js'

/** NOTIFY payloads must stay under 8000 bytes; account and device ids are ~22 characters. */
const IDS_PER_NOTIFY = 200
const RECONNECT_MS = 1000

type Wire = { a: string[]; e: PushEvent } | { r: string[] }

/**
 * A `PushHub` for several server instances sharing one PostgreSQL database: `publish` and
 * `revoke` send a `NOTIFY` on a channel named after the schema, every instance (this one
 * included) `LISTEN`s on it with a dedicated connection and hands what arrives to its own
 * in-process hub. PostgreSQL delivers notifications in commit order, so one publisher's events
 * arrive in order everywhere. When the listening connection breaks, the hub reconnects and tells
 * its subscribers to `resync` (reconnect and catch up by seq), since events of the gap are lost.
 */
export class PgPushHub implements PushHub {
  private readonly local = new InProcessPushHub()
  private listener: pg.Client | null = null
  private closed = false
  private timer: NodeJS.Timeout | null = null

  private constructor(
    private readonly settings: PgSettings,
    private readonly pool: pg.Pool,
    private readonly channel: string,
  ) {}

  static async open(settings: PgSettings): Promise<PgPushHub> {
    const pool = pgPool(settings, 4)
    try {
      const schema = await currentSchema(pool)
      const channel = `airlock_push_${createHash('sha256').update(schema).digest('hex').slice(0, 24)}`
      const hub = new PgPushHub(settings, pool, channel)
      await hub.listen()
      return hub
    } catch (e) {
      await pool.end()
      throw e
    }
  }

  async publish(accountIds: readonly string[], event: PushEvent): Promise<void> {
    const ids = [...new Set(accountIds)]
    for (let i = 0; i < ids.length; i += IDS_PER_NOTIFY) {
      await this.notify({ a: ids.slice(i, i + IDS_PER_NOTIFY), e: event })
    }
  }

  async revoke(deviceIds: readonly string[]): Promise<void> {
    const ids = [...new Set(deviceIds)]
    for (let i = 0; i < ids.length; i += IDS_PER_NOTIFY) {
      await this.notify({ r: ids.slice(i, i + IDS_PER_NOTIFY) })
    }
  }

  subscribe(sub: Subscriber, listener: (m: HubMessage) => void): () => void {
    return this.local.subscribe(sub, listener)
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    await this.listener?.end().catch(() => {})
    await this.pool.end()
    await this.local.close()
  }

  private async notify(w: Wire): Promise<void> {
    await this.pool.query('select pg_notify($1, $2)', [this.channel, JSON.stringify(w)])
  }

  private async listen(): Promise<void> {
    const client = await pgClient(this.settings)
    client.on('notification', (n) => {
      if (n.channel !== this.channel || !n.payload) return
      let w: Wire
      try {
        w = JSON.parse(n.payload) as Wire
      } catch {
        return
      }
      if ('r' in w) void this.local.revoke(w.r)
      else void this.local.publish(w.a, w.e)
    })
    client.on('error', () => this.lost(client))
    client.on('end', () => this.lost(client))
    await client.query(`LISTEN ${this.channel}`)
    this.listener = client
  }

  private lost(client: pg.Client): void {
    if (this.closed || this.listener !== client) return
    this.listener = null
    void client.end().catch(() => {})
    const retry = () => {
      this.timer = null
      if (this.closed) return
      this.listen().then(
        () => this.local.broadcast({ type: 'resync' }),
        () => {
          this.timer = setTimeout(retry, RECONNECT_MS)
        },
      )
    }
    retry()
  }
}
