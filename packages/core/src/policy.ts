import { z } from 'zod'
import { AirlockError } from './errors.js'

/**
 * The organisation's policy: one document an administrator sets and the server enforces, readable
 * by every signed-in client so it can refuse a forbidden action before sending anything. It binds
 * the one piece of item metadata the server sees, the item's sensitivity label.
 *
 * Durations are milliseconds; `null` means "no limit beyond the server's configuration".
 */

const DAY_MS = 86_400_000

/** A sensitivity label as people read it: a letter, then letters, digits, space, `_` or `-`. */
export const labelNameSchema = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[A-Za-z][A-Za-z0-9 _-]*$/, 'letters, digits, space, "_" and "-", starting with a letter')

const durationSchema = z
  .number()
  .int()
  .min(1000)
  .max(100 * 365 * DAY_MS)

/** What a label allows. */
export const labelRuleSchema = z.strictObject({
  name: labelNameSchema,
  /** False: no share links, so the item reaches only the organisation's own accounts. */
  shareLinks: z.boolean(),
  /** Items with this label are deleted this long after they are sent, at the latest. */
  maxRetentionMs: durationSchema.nullable(),
})
export type LabelRule = z.infer<typeof labelRuleSchema>

export const policySchema = z.strictObject({
  /** Who may create invitations: administrators only, or every account. */
  invitations: z.enum(['admins', 'everyone']),
  /** Largest item (ciphertext bytes), below the server's own `--max-item-size`; null = that limit. */
  maxItemBytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).nullable(),
  /** Server-wide retention: every item is deleted this long after it is sent; null = kept. */
  itemLifetimeMs: durationSchema.nullable(),
  shareLinks: z.strictObject({
    allowed: z.boolean(),
    /** Longest lifetime a share link may be given. */
    maxLifetimeMs: durationSchema,
  }),
  /**
   * True: a first direct conversation from a colleague on this server arrives as a request the
   * person accepts, declines or blocks (consent). False: colleagues inside the organisation reach
   * each other at once; blocks still hold, and group invitations still need the member's `join`.
   * Absent in documents from before consent: requests on.
   */
  colleagueRequests: z.boolean().default(true),
  /** The configurable label set; an item may carry one of these names, or none. */
  labels: z
    .array(labelRuleSchema)
    .max(16)
    .refine(
      (ls) => new Set(ls.map((l) => l.name.toLowerCase())).size === ls.length,
      'label names must be unique',
    ),
})
export type Policy = z.infer<typeof policySchema>

/**
 * The policy of a fresh server: only administrators invite; no size limit beyond the server's;
 * items kept until deleted; share links allowed for at most 30 days; first contacts arrive as
 * requests; Internal (no restriction),
 * Confidential (no share links, kept at most 90 days) and Secret (no share links, at most 7 days).
 */
export const DEFAULT_POLICY: Policy = {
  invitations: 'admins',
  maxItemBytes: null,
  itemLifetimeMs: null,
  shareLinks: { allowed: true, maxLifetimeMs: 30 * DAY_MS },
  colleagueRequests: true,
  labels: [
    { name: 'Internal', shareLinks: true, maxRetentionMs: null },
    { name: 'Confidential', shareLinks: false, maxRetentionMs: 90 * DAY_MS },
    { name: 'Secret', shareLinks: false, maxRetentionMs: 7 * DAY_MS },
  ],
}

/** Which rule of the policy refused an action (for messages and for tests). */
export type PolicyRule =
  | 'unknown-label'
  | 'max-item-size'
  | 'share-links-disabled'
  | 'share-link-lifetime'
  | 'label-forbids-share-links'
  | 'label-mismatch'

/** The organisation's policy forbids this action. Carries the rule, never content. */
export class PolicyError extends AirlockError {
  readonly rule: PolicyRule
  constructor(rule: PolicyRule, message: string) {
    super('POLICY', message)
    this.rule = rule
  }
}

/** The rule of the label called `name` (case-insensitive), or null if the policy has none. */
export function findLabel(policy: Policy, name: string): LabelRule | null {
  const n = name.toLowerCase()
  return policy.labels.find((l) => l.name.toLowerCase() === n) ?? null
}

/**
 * Checks an item about to be reserved: its label must be in the policy's set and its size within
 * `maxItemBytes`. Returns the label's canonical spelling (or null); throws `PolicyError`.
 */
export function checkItemPolicy(
  policy: Policy,
  item: { label?: string | null; ciphertextSize: number },
): string | null {
  if (policy.maxItemBytes !== null && item.ciphertextSize > policy.maxItemBytes) {
    throw new PolicyError(
      'max-item-size',
      `the organisation's policy limits items to ${policy.maxItemBytes} bytes`,
    )
  }
  if (item.label === undefined || item.label === null) return null
  const rule = findLabel(policy, item.label)
  if (!rule) throw new PolicyError('unknown-label', 'this label is not in the organisation’s label set')
  return rule.name
}

/**
 * How long an item may be kept after it is sent: the shortest of the server-wide lifetime, the
 * conversation's retention and the label's maximum, or null when none applies.
 */
export function retentionFor(
  policy: Policy,
  opts: { label?: string | null; conversationRetentionMs?: number | null },
): number | null {
  const rule = opts.label ? findLabel(policy, opts.label) : null
  const limits = [policy.itemLifetimeMs, opts.conversationRetentionMs ?? null, rule?.maxRetentionMs ?? null]
  const set = limits.filter((x): x is number => x !== null)
  return set.length === 0 ? null : Math.min(...set)
}

/**
 * The share-link rules: links must be allowed at all, expire within `shareLinks.maxLifetimeMs`
 * of `now`, and carry no item whose label forbids links (unknown labels forbid them too, so a
 * label removed from the set errs on the safe side). Throws `PolicyError`; returns nothing.
 */
export function checkSharePolicy(
  policy: Policy,
  link: { labels: readonly (string | null)[]; expiresAt: number; now: number },
): void {
  if (!policy.shareLinks.allowed) {
    throw new PolicyError('share-links-disabled', 'the organisation’s policy does not allow share links')
  }
  if (link.expiresAt - link.now > policy.shareLinks.maxLifetimeMs) {
    throw new PolicyError(
      'share-link-lifetime',
      `share links may last at most ${Math.floor(policy.shareLinks.maxLifetimeMs / 3_600_000)} hours`,
    )
  }
  for (const label of link.labels) {
    if (label === null) continue
    const rule = findLabel(policy, label)
    if (!rule?.shareLinks) {
      throw new PolicyError(
        'label-forbids-share-links',
        `items labelled ${rule?.name ?? label} cannot be shared by link`,
      )
    }
  }
}

/**
 * The receiving side's check that the server did not strip, add or change an item's label: the
 * label inside the signed manifest must equal the label the server lists. Throws `PolicyError`.
 */
export function checkLabelMatches(
  signed: string | undefined | null,
  listed: string | undefined | null,
): void {
  if ((signed ?? null) !== (listed ?? null)) {
    throw new PolicyError(
      'label-mismatch',
      'the server lists a different sensitivity label than the sender signed',
    )
  }
}
