import type { DeviceKind, LinkShown, PushEvent } from '@airlock/core'
import type { ErrorInfo } from './errors.ts'

/**
 * The messages between the page and the crypto worker, and the events the worker sends
 * unasked. The methods the page may call are the worker's own table (`WorkerApi` in
 * worker/main.ts); this file names only what both sides share, so neither imports the other.
 */

/** Every event the worker emits, by name, with its data. */
export interface WorkerEvents {
  /** Bytes done of an operation the page started with this `opId`. */
  progress: {
    opId: string
    phase: 'encrypt' | 'upload' | 'download' | 'export' | 'share'
    done: number
    total: number
  }
  /** Something changed on the server (a device-log change only after the worker synced it), or
   * the push socket reconnected (`resync`) and the page should catch up. */
  push: PushEvent | { type: 'resync' }
  /** A failure outside any call, such as this device having been removed. */
  error: ErrorInfo
  /** A new device shows its link code and QR code while it waits to be approved. */
  'link-shown': LinkShown
  /** The new device asks whether the fingerprint matches the one on the approving device. */
  'link-agreed': { askId: number; fingerprint: string }
  /** The approving device asks whether to add this device, with the link's fingerprint. */
  'link-confirm': {
    askId: number
    device: { id: string; name: string; kind: DeviceKind; fingerprint: string }
    fingerprint: string
  }
  /** The approving device shows the fingerprint the new device must confirm. */
  'link-code-agreed': { fingerprint: string }
}

/** Events that ask the person a yes/no question; the page answers with the `answer` method. */
export type WorkerQuestion = {
  [E in keyof WorkerEvents]: WorkerEvents[E] extends { askId: number } ? E : never
}[keyof WorkerEvents]

/** A call from the page. `method` names a method of `WorkerApi`; the page's `call` checks `args`. */
export type WorkerRequest = { id: number; method: string; args: unknown[] }

export type WorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: ErrorInfo }

export type WorkerEvent = {
  [E in keyof WorkerEvents]: { event: E; data: WorkerEvents[E] }
}[keyof WorkerEvents]

export type WorkerMessage = WorkerReply | WorkerEvent
