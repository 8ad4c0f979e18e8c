import { isAirlockError } from './errors.js'
import { isServerError, type Transport } from './transport.js'

/**
 * When a client flow tries again. One rule for every client: the network, a server restarting or
 * busy (5xx, 429), an upload's offset race (409) and an expired session are worth another
 * attempt after a pause; anything else is an answer.
 */

/**
 * True for failures worth retrying: `NetworkError`, and server errors with a 5xx, 409 or 429
 * status or the code `UNAUTHENTICATED` (retried after a fresh login).
 */
export function isTransientError(e: unknown): boolean {
  if (isAirlockError(e, 'NETWORK')) return true
  if (isServerError(e)) {
    return e.status >= 500 || e.status === 409 || e.status === 429 || e.apiCode === 'UNAUTHENTICATED'
  }
  return false
}

export interface RetryOptions {
  /** Give up once nothing has progressed for this long (default 60 s). */
  giveUpMs?: number
  /** Give up after this many failed attempts in a row without progress (default: no limit). */
  maxAttempts?: number
  /** The first pause (default 250 ms); it doubles after each failure, up to {@link maxDelayMs}. */
  delayMs?: number
  /** The longest pause (default 5 s). */
  maxDelayMs?: number
  signal?: AbortSignal
}

/**
 * The pauses between attempts of one flow, and the decision to give up. A flow calls
 * {@link progressed} whenever it got further (the clock and the pause start again) and
 * {@link after} with each failure.
 */
export class Retry {
  #last = Date.now()
  #delay: number
  #failures = 0

  constructor(
    /** Its `relogin`, if it has one, runs after an `UNAUTHENTICATED` failure; without, that is final. */
    private readonly transport: Pick<Transport, 'relogin'> | null,
    private readonly opts: RetryOptions = {},
  ) {
    this.#delay = opts.delayMs ?? 250
  }

  progressed(): void {
    this.#last = Date.now()
    this.#delay = this.opts.delayMs ?? 250
    this.#failures = 0
  }

  /**
   * Rethrows `e` unless another attempt is due: when it is not transient, the signal fired, the
   * attempts or the time are used up, or the session expired and cannot be renewed. Otherwise logs
   * in again if the session expired (a login that is refused is thrown) and waits.
   */
  async after(e: unknown): Promise<void> {
    const { signal, giveUpMs = 60_000, maxAttempts = Number.POSITIVE_INFINITY } = this.opts
    if (signal?.aborted || !isTransientError(e)) throw e
    if (++this.#failures > maxAttempts || Date.now() - this.#last > giveUpMs) throw e
    if (isServerError(e, 'UNAUTHENTICATED')) {
      const relogin = this.transport?.relogin
      if (!relogin) throw e
      try {
        await relogin()
      } catch (le) {
        if (!isTransientError(le)) throw le
      }
    }
    await pause(this.#delay, signal)
    this.#delay = Math.min(this.#delay * 2, this.opts.maxDelayMs ?? 5000)
  }
}

/**
 * Runs `attempt` until it succeeds, retrying transient failures (see {@link Retry}). `attempt`
 * calls `progressed()` when it got further, so a long transfer that breaks off late is retried.
 */
export async function retryTransient<T>(
  transport: Pick<Transport, 'relogin'> | null,
  attempt: (progressed: () => void) => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const retry = new Retry(transport, opts)
  for (;;) {
    try {
      return await attempt(() => retry.progressed())
    } catch (e) {
      await retry.after(e)
    }
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const done = () => {
      signal?.removeEventListener('abort', aborted)
      resolve()
    }
    const timer = setTimeout(done, ms)
    const aborted = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', aborted, { once: true })
  })
}
