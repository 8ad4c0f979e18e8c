import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { T0 } from './metadata-fixtures.js'

/** Conformance of the policy area: one policy document per server. */
export function shouldKeepThePolicy(s: () => MetadataStore): void {
  describe('policy', () => {
    it('stores one policy document and replaces it', async () => {
      const store = s()
      expect(await store.policy.getPolicy()).toBeNull()
      await store.policy.putPolicy({ document: '{"a":1}', updatedAt: T0, updatedBy: 'x' })
      await store.policy.putPolicy({ document: '{"a":2}', updatedAt: T0 + 1, updatedBy: null })
      expect(await store.policy.getPolicy()).toEqual({
        document: '{"a":2}',
        updatedAt: T0 + 1,
        updatedBy: null,
      })
    })
  })
}
