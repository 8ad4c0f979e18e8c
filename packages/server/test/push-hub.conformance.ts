import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { HubMessage, PushHub } from '../src/storage/push/push-hub.js'

/**
 * The contract every `PushHub` adapter must meet. Delivery may be asynchronous (another process
 * relays it), so the suite waits for messages instead of expecting them synchronously.
 */
export function pushHubConformance(name: string, factory: () => Promise<PushHub>): void {
  describe(`PushHub conformance: ${name}`, () => {
    let hub: PushHub
    beforeEach(async () => {
      hub = await factory()
    })
    afterEach(async () => {
      await hub.close()
    })

    const collect = (accountId: string, deviceId: string) => {
      const got: HubMessage[] = []
      const off = hub.subscribe({ accountId, deviceId }, (m) => got.push(m))
      return { got, off }
    }
    const settle = () => new Promise((r) => setTimeout(r, 50))
    const item = (seq: number) => ({ type: 'item', conversationId: 'c'.repeat(22), seq }) as const

    it('delivers to every device of the named accounts, in order, and to no one else', async () => {
      const a1 = collect('A', 'a1')
      const a2 = collect('A', 'a2')
      const b1 = collect('B', 'b1')
      const c1 = collect('C', 'c1')
      await hub.publish(['A'], item(1))
      await hub.publish(['A', 'B'], item(2))
      await hub.publish(['A', 'A'], { type: 'log', accountId: 'A'.repeat(22), seq: 3 })
      await settle()
      expect(a1.got).toEqual([item(1), item(2), { type: 'log', accountId: 'A'.repeat(22), seq: 3 }])
      expect(a2.got).toEqual(a1.got)
      expect(b1.got).toEqual([item(2)])
      expect(c1.got).toEqual([])
    })

    it('stops delivering after unsubscribe', async () => {
      const a = collect('A', 'a1')
      await hub.publish(['A'], item(1))
      await settle()
      a.off()
      a.off()
      await hub.publish(['A'], item(2))
      await settle()
      expect(a.got).toEqual([item(1)])
    })

    it('tells a revoked device, and only it', async () => {
      const a1 = collect('A', 'a1')
      const a2 = collect('A', 'a2')
      await hub.revoke(['a2'])
      await settle()
      expect(a1.got).toEqual([])
      expect(a2.got).toEqual([{ type: 'revoked' }])
    })

    it('drops a listener that throws without affecting the others', async () => {
      hub.subscribe({ accountId: 'A', deviceId: 'bad' }, () => {
        throw new Error('socket gone')
      })
      const ok = collect('A', 'good')
      await hub.publish(['A'], item(1))
      await hub.publish(['A'], item(2))
      await settle()
      expect(ok.got).toEqual([item(1), item(2)])
    })
  })
}
