import { RateLimitedError } from './errors.js'

export interface BucketSpec {
  /** Requests allowed at once. */
  burst: number
  /** Sustained requests per minute. */
  perMinute: number
}

/**
 * In-memory token buckets, one per key (e.g. `auth:<ip>`). Per process: several instances
 * behind a balancer each count separately, which only loosens the limit by that factor. Idle
 * buckets are forgotten so memory stays bounded.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()

  constructor(
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key` or throws `RateLimitedError` with a retry-after. */
  take(key: string, spec: BucketSpec): void {
    const now = this.now()
    const rate = spec.perMinute / 60_000
    const b = this.buckets.get(key)
    const tokens = b ? Math.min(spec.burst, b.tokens + (now - b.at) * rate) : spec.burst
    if (tokens < 1) {
      this.buckets.set(key, { tokens, at: now })
      throw new RateLimitedError((1 - tokens) / rate / 1000)
    }
    if (!b && this.buckets.size >= this.maxKeys) this.sweep(now, rate)
    this.buckets.delete(key)
    this.buckets.set(key, { tokens: tokens - 1, at: now })
  }

  private sweep(now: number, rate: number): void {
    // Maps iterate in insertion order and `take` re-inserts, so the oldest come first.
    for (const [k, b] of this.buckets) {
      if (this.buckets.size < this.maxKeys * 0.9) break
      if (now - b.at > 60_000 || b.tokens + (now - b.at) * rate >= 1) this.buckets.delete(k)
      else break
    }
    if (this.buckets.size >= this.maxKeys) {
      const first = this.buckets.keys().next().value
      if (first !== undefined) this.buckets.delete(first)
    }
  }
}

/**
 * The limits the routes use, per client IP (documented in API.md). Generous enough for an office
 * of devices behind one NAT address; they bound work and code guessing, not cryptography.
 */
export const LIMITS = {
  auth: { burst: 100, perMinute: 300 },
  accounts: { burst: 10, perMinute: 10 },
  invites: { burst: 20, perMinute: 20 },
  linkCreate: { burst: 10, perMinute: 20 },
  linkJoin: { burst: 10, perMinute: 20 },
  linkOps: { burst: 120, perMinute: 600 },
} as const satisfies Record<string, BucketSpec>
