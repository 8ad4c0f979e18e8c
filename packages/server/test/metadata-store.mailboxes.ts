import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { expectCode, id, T0 } from './metadata-fixtures.js'

/** Conformance of the mailboxes area: device-linking relays. */
export function shouldRelayLinkMessages(s: () => MetadataStore): void {
  describe('linking mailboxes', () => {
    it('joins once, relays bounded messages per side, and ends', async () => {
      const store = s()
      const m = { id: id(), nameplate: '0042', secretHash: 'sh', createdAt: T0, expiresAt: T0 + 1000 }
      await store.mailboxes.createMailbox(m)
      await expectCode(store.mailboxes.createMailbox({ ...m, id: id() }), 'CONFLICT')
      expect(await store.mailboxes.findMailboxByNameplate('0042')).toMatchObject({
        id: m.id,
        state: 'open',
        failures: 0,
      })
      expect(await store.mailboxes.joinMailbox(m.id, 'acct', 'dev')).toBe(true)
      expect(await store.mailboxes.joinMailbox(m.id, 'acct2', 'dev2')).toBe(false)
      expect(await store.mailboxes.findMailboxByNameplate('0042')).toBeNull()
      expect(await store.mailboxes.getMailbox(m.id)).toMatchObject({
        state: 'joined',
        joinedAccountId: 'acct',
        joinedDeviceId: 'dev',
      })
      expect(await store.mailboxes.addLinkMessage(m.id, 'new', 'a', 2)).toBe(0)
      expect(await store.mailboxes.addLinkMessage(m.id, 'existing', 'b', 2)).toBe(1)
      expect(await store.mailboxes.addLinkMessage(m.id, 'new', 'c', 2)).toBe(2)
      await expectCode(store.mailboxes.addLinkMessage(m.id, 'new', 'd', 2), 'RATE_LIMITED')
      expect(await store.mailboxes.getLinkMessages(m.id, 'new', -1)).toEqual([
        { index: 0, side: 'new', body: 'a' },
        { index: 2, side: 'new', body: 'c' },
      ])
      expect(await store.mailboxes.getLinkMessages(m.id, 'new', 0)).toEqual([
        { index: 2, side: 'new', body: 'c' },
      ])
      await store.mailboxes.endMailbox(m.id, 'closed')
      expect(await store.mailboxes.getMailbox(m.id)).toMatchObject({ state: 'closed', nameplate: null })
      expect(await store.mailboxes.getLinkMessages(m.id, 'new', -1)).toEqual([])
      // The nameplate is free again.
      await store.mailboxes.createMailbox({ ...m, id: id() })
    })
    it('burns a mailbox after too many failures', async () => {
      const store = s()
      const m = { id: id(), nameplate: '1234', secretHash: 'sh', createdAt: T0, expiresAt: T0 + 1000 }
      await store.mailboxes.createMailbox(m)
      expect(await store.mailboxes.recordMailboxFailure(m.id, 3)).toBe('open')
      expect(await store.mailboxes.recordMailboxFailure(m.id, 3)).toBe('open')
      expect(await store.mailboxes.recordMailboxFailure(m.id, 3)).toBe('burnt')
      expect(await store.mailboxes.getMailbox(m.id)).toMatchObject({
        state: 'burnt',
        failures: 3,
        nameplate: null,
      })
    })
  })
}
