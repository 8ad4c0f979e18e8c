import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { id, setup, T0 } from './metadata-fixtures.js'
import { shouldKeepTheAccessLog } from './metadata-store.access-log.js'
import { shouldKeepAccounts } from './metadata-store.accounts.js'
import { shouldKeepContacts } from './metadata-store.contacts.js'
import { shouldKeepConversations } from './metadata-store.conversations.js'
import { shouldAppendTheDeviceLog } from './metadata-store.device-log.js'
import { shouldManageItems } from './metadata-store.items.js'
import { shouldRelayLinkMessages } from './metadata-store.mailboxes.js'
import { shouldKeepThePolicy } from './metadata-store.policy.js'
import { shouldSurviveRaces } from './metadata-store.races.js'
import { shouldManageSessions } from './metadata-store.sessions.js'
import { shouldManageShares } from './metadata-store.shares.js'

/**
 * The contract every `MetadataStore` adapter must meet, one suite per store area
 * (`metadata-store.<area>.ts`), plus the races several writers bring and the expiry that spans
 * areas. Run it from a `*.test.ts` with a factory that returns a fresh, empty, migrated store:
 * `metadataStoreConformance('sqlite', open)`.
 */
export function metadataStoreConformance(name: string, factory: () => Promise<MetadataStore>): void {
  describe(`MetadataStore conformance: ${name}`, () => {
    let store: MetadataStore
    beforeEach(async () => {
      store = await factory()
    })
    afterEach(async () => {
      await store.close()
    })

    shouldKeepAccounts(() => store)
    shouldAppendTheDeviceLog(() => store)
    shouldManageSessions(() => store)
    shouldKeepConversations(() => store)
    shouldKeepContacts(() => store)
    shouldManageItems(() => store)
    shouldRelayLinkMessages(() => store)
    shouldManageShares(() => store)
    shouldKeepTheAccessLog(() => store)
    shouldKeepThePolicy(() => store)
    shouldSurviveRaces(() => store)
    shouldExpireRows(() => store)
  })
}

function shouldExpireRows(s: () => MetadataStore): void {
  describe('expiry', () => {
    it('deletes expired challenges, sessions, invites and mailboxes, and nothing else', async () => {
      const store = s()
      const a = await setup(store)
      await store.sessions.putChallenge({ challenge: 'old', deviceId: 'd', expiresAt: T0 })
      await store.sessions.putChallenge({ challenge: 'new', deviceId: 'd', expiresAt: T0 + 100 })
      await store.sessions.createSession({ tokenHash: 'old', deviceId: 'd', accountId: 'a', expiresAt: T0 })
      await store.sessions.createSession({
        tokenHash: 'new',
        deviceId: 'd',
        accountId: 'a',
        expiresAt: T0 + 100,
      })
      await store.accounts.createInvite({
        id: id(),
        codeHash: 'i-old',
        createdAt: T0,
        expiresAt: T0,
        createdBy: a.accountId,
      })
      await store.mailboxes.createMailbox({
        id: 'mbox-old-0123456789ab',
        nameplate: '0001',
        secretHash: 's',
        createdAt: T0,
        expiresAt: T0,
      })
      await store.mailboxes.addLinkMessage('mbox-old-0123456789ab', 'new', 'x', 8)
      // Each area expires its own rows: two challenges and sessions, one invite, one mailbox.
      expect(await store.sessions.deleteExpired(T0 + 50)).toBe(2)
      expect(await store.accounts.deleteExpiredInvites(T0 + 50)).toBe(1)
      expect(await store.mailboxes.deleteExpired(T0 + 50)).toBe(1)
      expect(await store.sessions.takeChallenge('old')).toBeNull()
      expect(await store.sessions.takeChallenge('new')).not.toBeNull()
      expect(await store.sessions.getSession('old')).toBeNull()
      expect(await store.sessions.getSession('new')).not.toBeNull()
      expect(await store.mailboxes.getMailbox('mbox-old-0123456789ab')).toBeNull()
      expect(await store.accounts.listInvites(a.accountId)).toEqual([])
      expect(await store.accounts.getAccount(a.accountId)).not.toBeNull()
    })
  })
}
