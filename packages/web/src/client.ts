import type { ErrorInfo } from './errors.ts'
import type { Event, Reply, WorkerMessage } from './rpc.ts'

/** The page's side of the crypto worker: promise-returning calls and a stream of events. */

export class WorkerCallError extends Error {
  readonly info: ErrorInfo
  constructor(info: ErrorInfo) {
    super(info.message)
    this.info = info
  }
}

const worker = new Worker(new URL('./worker/main.ts', import.meta.url), {
  type: 'module',
  name: 'airlock-crypto',
})
let nextId = 1
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>()
const listeners = new Map<string, Set<(data: unknown) => void>>()

worker.onmessage = (m: MessageEvent<WorkerMessage>) => {
  const msg = m.data
  if ('event' in msg) {
    for (const f of listeners.get((msg as Event).event) ?? []) f((msg as Event).data)
    return
  }
  const reply = msg as Reply
  const p = pending.get(reply.id)
  if (!p) return
  pending.delete(reply.id)
  if (reply.ok) p.resolve(reply.value)
  else p.reject(new WorkerCallError(reply.error))
}

/** Calls a worker method; rejects with `WorkerCallError` carrying the worker's error code. */
export function call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
  const id = nextId++
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
    worker.postMessage({ id, method, args })
  })
}

/** Subscribes to a worker event; returns the unsubscribe function. */
export function on<T>(event: string, f: (data: T) => void): () => void {
  let set = listeners.get(event)
  if (!set) {
    set = new Set()
    listeners.set(event, set)
  }
  set.add(f as (data: unknown) => void)
  return () => set.delete(f as (data: unknown) => void)
}

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof WorkerCallError) return e.info
  return { code: 'INTERNAL', kind: 'failed', message: e instanceof Error ? e.message : String(e) }
}
