import type { PushEvent } from '@airlock/core'

/**
 * What a subscriber receives: a data event, `revoked` when its device was removed, or `resync`
 * when the hub may have missed events (its connection to other instances was lost), so the
 * client should reconnect and catch up by seq.
 */
export type HubMessage = PushEvent | { type: 'revoked' } | { type: 'resync' }

export interface Subscriber {
  accountId: string
  deviceId: string
}

/**
 * Fan-out of push events to connected devices. `publish` reaches every subscriber of the given
 * accounts; `revoke` tells a removed device's subscribers to disconnect. Delivery is best effort
 * and in order per subscriber; clients catch up by seq after a reconnect, so nothing is lost when
 * an event is. Adapters: in-process (`InProcessPushHub`); PostgreSQL LISTEN/NOTIFY
 * (`pg-push-hub.ts`), for several server instances. Every adapter must pass `test/push-hub.conformance.ts`.
 */
export interface PushHub {
  publish(accountIds: readonly string[], event: PushEvent): Promise<void>
  revoke(deviceIds: readonly string[]): Promise<void>
  /** Returns the unsubscribe function. A listener that throws is unsubscribed. */
  subscribe(sub: Subscriber, listener: (m: HubMessage) => void): () => void
  close(): Promise<void>
}

interface Entry {
  sub: Subscriber
  listener: (m: HubMessage) => void
}

/** The default hub: one process, listeners called synchronously in subscription order. */
export class InProcessPushHub implements PushHub {
  private readonly byAccount = new Map<string, Set<Entry>>()
  private readonly byDevice = new Map<string, Set<Entry>>()

  async publish(accountIds: readonly string[], event: PushEvent): Promise<void> {
    for (const accountId of new Set(accountIds)) {
      for (const e of [...(this.byAccount.get(accountId) ?? [])]) this.deliver(e, event)
    }
  }

  async revoke(deviceIds: readonly string[]): Promise<void> {
    for (const deviceId of new Set(deviceIds)) {
      for (const e of [...(this.byDevice.get(deviceId) ?? [])]) this.deliver(e, { type: 'revoked' })
    }
  }

  subscribe(sub: Subscriber, listener: (m: HubMessage) => void): () => void {
    const entry: Entry = { sub: { ...sub }, listener }
    add(this.byAccount, sub.accountId, entry)
    add(this.byDevice, sub.deviceId, entry)
    return () => this.remove(entry)
  }

  /** Sends `m` to every subscriber (used by relaying hubs). */
  broadcast(m: HubMessage): void {
    for (const set of [...this.byDevice.values()]) for (const e of [...set]) this.deliver(e, m)
  }

  async close(): Promise<void> {
    this.byAccount.clear()
    this.byDevice.clear()
  }

  /** Number of live subscriptions (for tests and health). */
  get size(): number {
    let n = 0
    for (const s of this.byDevice.values()) n += s.size
    return n
  }

  private deliver(e: Entry, m: HubMessage): void {
    try {
      e.listener(m)
    } catch {
      this.remove(e)
    }
  }

  private remove(e: Entry): void {
    del(this.byAccount, e.sub.accountId, e)
    del(this.byDevice, e.sub.deviceId, e)
  }
}

function add(m: Map<string, Set<Entry>>, k: string, e: Entry): void {
  let s = m.get(k)
  if (!s) {
    s = new Set()
    m.set(k, s)
  }
  s.add(e)
}

function del(m: Map<string, Set<Entry>>, k: string, e: Entry): void {
  const s = m.get(k)
  if (!s) return
  s.delete(e)
  if (s.size === 0) m.delete(k)
}
