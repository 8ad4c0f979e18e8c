import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { T0 } from './metadata-fixtures.js'

/** Conformance of the sessions area: single-use challenges and sessions. */
export function shouldManageSessions(s: () => MetadataStore): void {
  describe('challenges and sessions', () => {
    it('takes a challenge exactly once', async () => {
      const store = s()
      await store.sessions.putChallenge({ challenge: 'c', deviceId: 'd', expiresAt: T0 })
      expect(await store.sessions.takeChallenge('c')).toEqual({
        challenge: 'c',
        deviceId: 'd',
        expiresAt: T0,
      })
      expect(await store.sessions.takeChallenge('c')).toBeNull()
    })
    it('stores, finds and deletes sessions', async () => {
      const store = s()
      await store.sessions.createSession({ tokenHash: 'h', deviceId: 'd', accountId: 'a', expiresAt: T0 })
      expect(await store.sessions.getSession('h')).toEqual({
        tokenHash: 'h',
        deviceId: 'd',
        accountId: 'a',
        expiresAt: T0,
      })
      await store.sessions.deleteSession('h')
      expect(await store.sessions.getSession('h')).toBeNull()
    })
  })
}
