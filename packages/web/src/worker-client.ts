import type { ErrorInfo } from './errors.ts'
import type { WorkerApi } from './worker/main.ts'
import type { WorkerEvents, WorkerMessage, WorkerRequest } from './worker-protocol.ts'

/**
 * The page's side of the crypto worker: promise-returning calls typed from the worker's own
 * method table, and a stream of events typed from `WorkerEvents`. Only types come from the
 * worker's modules, so the page bundle carries none of its code.
 */

export class WorkerCallError extends Error {
  readonly info: ErrorInfo
  constructor(info: ErrorInfo) {
    super(info.message)
    this.info = info
  }
}

/** The arguments a worker method takes. */
export type WorkerArgs<K extends keyof WorkerApi> = Parameters<WorkerApi[K]>

/** What a worker method resolves to on the page. */
export type WorkerResult<K extends keyof WorkerApi> = Awaited<ReturnType<WorkerApi[K]>>

const worker = new Worker(new URL('./worker/main.ts', import.meta.url), {
  type: 'module',
  name: 'airlock-crypto',
})
let nextId = 1
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>()
const listeners = new Map<keyof WorkerEvents, Set<(data: never) => void>>()

worker.onmessage = (m: MessageEvent<WorkerMessage>) => {
  const msg = m.data
  if ('event' in msg) {
    for (const f of listeners.get(msg.event) ?? []) (f as (data: unknown) => void)(msg.data)
    return
  }
  const p = pending.get(msg.id)
  if (!p) return
  pending.delete(msg.id)
  if (msg.ok) p.resolve(msg.value)
  else p.reject(new WorkerCallError(msg.error))
}

/** Calls a worker method; rejects with `WorkerCallError` carrying the worker's error code. */
export function call<K extends keyof WorkerApi>(method: K, ...args: WorkerArgs<K>): Promise<WorkerResult<K>> {
  const id = nextId++
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
    worker.postMessage({ id, method, args } satisfies WorkerRequest)
  })
}

/** Subscribes to a worker event; returns the unsubscribe function. */
export function on<E extends keyof WorkerEvents>(event: E, f: (data: WorkerEvents[E]) => void): () => void {
  let set = listeners.get(event)
  if (!set) {
    set = new Set()
    listeners.set(event, set)
  }
  set.add(f)
  return () => set.delete(f)
}

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof WorkerCallError) return e.info
  return { code: 'INTERNAL', kind: 'failed', message: e instanceof Error ? e.message : String(e) }
}
