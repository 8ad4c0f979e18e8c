import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { id, T0 } from './metadata-fixtures.js'

/** Conformance of the contacts area: each account's answer to another, one way per pair. */
export function shouldKeepContacts(s: () => MetadataStore): void {
  describe('contacts', () => {
    it('keeps, replaces and clears one answer per account and peer, each way on its own', async () => {
      const store = s()
      const [a, b, c] = [id(), id(), id()]
      expect(await store.contacts.getContact(a, b)).toBeNull()
      await store.contacts.setContact({ accountId: a, peerId: b, consent: 'accepted', updatedAt: T0 })
      await store.contacts.setContact({ accountId: a, peerId: c, consent: 'declined', updatedAt: T0 })
      await store.contacts.setContact({ accountId: a, peerId: b, consent: 'blocked', updatedAt: T0 + 1 })
      expect(await store.contacts.getContact(a, b)).toEqual({
        accountId: a,
        peerId: b,
        consent: 'blocked',
        updatedAt: T0 + 1,
      })
      // An answer is one way: B answered nothing to A.
      expect(await store.contacts.getContact(b, a)).toBeNull()
      expect((await store.contacts.listContacts(a)).map((r) => [r.peerId, r.consent])).toEqual(
        [
          [b, 'blocked'],
          [c, 'declined'],
        ].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
      )
      await store.contacts.clearContact(a, b)
      await store.contacts.clearContact(a, b)
      expect(await store.contacts.getContact(a, b)).toBeNull()
      expect(await store.contacts.listContacts(b)).toEqual([])
    })
  })
}
