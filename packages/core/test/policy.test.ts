import { describe, expect, it } from 'vitest'
import {
  checkItemPolicy,
  checkLabelMatches,
  checkSharePolicy,
  DEFAULT_POLICY,
  findLabel,
  type Policy,
  PolicyError,
  policySchema,
  retentionFor,
} from '../src/index.js'

const DAY = 86_400_000
const NOW = 1_700_000_000_000

function rule(f: () => unknown): string | null {
  try {
    f()
    return null
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError)
    expect((e as PolicyError).code).toBe('POLICY')
    return (e as PolicyError).rule
  }
}

describe('policy document', () => {
  it('the default policy is valid and has the three documented labels', () => {
    expect(policySchema.parse(DEFAULT_POLICY)).toEqual(DEFAULT_POLICY)
    expect(DEFAULT_POLICY.labels.map((l) => l.name)).toEqual(['Internal', 'Confidential', 'Secret'])
    expect(DEFAULT_POLICY.invitations).toBe('admins')
  })

  it('rejects duplicate label names (case-insensitive), bad names and unknown keys', () => {
    const dup = {
      ...DEFAULT_POLICY,
      labels: [...DEFAULT_POLICY.labels, { ...DEFAULT_POLICY.labels[0]!, name: 'internal' }],
    }
    expect(policySchema.safeParse(dup).success).toBe(false)
    const bad = { ...DEFAULT_POLICY, labels: [{ name: '<script>', shareLinks: true, maxRetentionMs: null }] }
    expect(policySchema.safeParse(bad).success).toBe(false)
    expect(policySchema.safeParse({ ...DEFAULT_POLICY, extra: 1 }).success).toBe(false)
    expect(policySchema.safeParse({ ...DEFAULT_POLICY, itemLifetimeMs: 5 }).success).toBe(false)
  })

  it('finds labels case-insensitively and returns the canonical spelling', () => {
    expect(findLabel(DEFAULT_POLICY, 'SECRET')?.name).toBe('Secret')
    expect(findLabel(DEFAULT_POLICY, 'Public')).toBeNull()
    expect(checkItemPolicy(DEFAULT_POLICY, { label: 'confidential', ciphertextSize: 1 })).toBe('Confidential')
    expect(checkItemPolicy(DEFAULT_POLICY, { ciphertextSize: 1 })).toBeNull()
  })
})

describe('item rules', () => {
  it('refuses a label outside the set and an item over the size limit', () => {
    expect(rule(() => checkItemPolicy(DEFAULT_POLICY, { label: 'Public', ciphertextSize: 1 }))).toBe(
      'unknown-label',
    )
    const small: Policy = { ...DEFAULT_POLICY, maxItemBytes: 100 }
    expect(rule(() => checkItemPolicy(small, { ciphertextSize: 100 }))).toBeNull()
    expect(rule(() => checkItemPolicy(small, { ciphertextSize: 101 }))).toBe('max-item-size')
  })

  it('retention is the shortest of server, conversation and label limits', () => {
    expect(retentionFor(DEFAULT_POLICY, {})).toBeNull()
    expect(retentionFor(DEFAULT_POLICY, { label: 'Secret' })).toBe(7 * DAY)
    expect(retentionFor(DEFAULT_POLICY, { label: 'Secret', conversationRetentionMs: DAY })).toBe(DAY)
    const p: Policy = { ...DEFAULT_POLICY, itemLifetimeMs: 2 * DAY }
    expect(retentionFor(p, { label: 'Confidential' })).toBe(2 * DAY)
    expect(retentionFor(p, { conversationRetentionMs: 30 * DAY })).toBe(2 * DAY)
    expect(retentionFor(p, { label: 'Internal', conversationRetentionMs: 3_600_000 })).toBe(3_600_000)
  })

  it('a label the server strips, adds or changes is detected', () => {
    expect(rule(() => checkLabelMatches('Secret', 'Secret'))).toBeNull()
    expect(rule(() => checkLabelMatches(undefined, null))).toBeNull()
    expect(rule(() => checkLabelMatches('Secret', undefined))).toBe('label-mismatch')
    expect(rule(() => checkLabelMatches(undefined, 'Internal'))).toBe('label-mismatch')
    expect(rule(() => checkLabelMatches('Secret', 'Internal'))).toBe('label-mismatch')
  })
})

describe('checkSharePolicy', () => {
  const ok = { labels: [null, 'Internal'], expiresAt: NOW + DAY, now: NOW }

  it('allows an unlabelled or Internal link within the lifetime', () => {
    expect(rule(() => checkSharePolicy(DEFAULT_POLICY, ok))).toBeNull()
    expect(rule(() => checkSharePolicy(DEFAULT_POLICY, { ...ok, expiresAt: NOW + 30 * DAY }))).toBeNull()
  })

  it('refuses links when they are switched off', () => {
    const off: Policy = { ...DEFAULT_POLICY, shareLinks: { allowed: false, maxLifetimeMs: DAY } }
    expect(rule(() => checkSharePolicy(off, ok))).toBe('share-links-disabled')
  })

  it('refuses a lifetime past the maximum', () => {
    expect(rule(() => checkSharePolicy(DEFAULT_POLICY, { ...ok, expiresAt: NOW + 30 * DAY + 1 }))).toBe(
      'share-link-lifetime',
    )
  })

  it('refuses labels that keep items inside the organisation, and unknown labels', () => {
    for (const label of ['Confidential', 'secret', 'Removed-Label']) {
      expect(
        rule(() => checkSharePolicy(DEFAULT_POLICY, { ...ok, labels: [null, label] })),
        label,
      ).toBe('label-forbids-share-links')
    }
  })
})
