import type { ErrorInfo } from './errors.ts'

/** Messages between the page and the crypto worker. */
export type Request = { id: number; method: string; args: unknown[] }
export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ErrorInfo }
export type Event = { event: string; data: unknown }
export type WorkerMessage = Reply | Event
