import type { ErrorInfo } from './errors.ts'
import { Store } from './state.ts'
import type { PendingUpload } from './worker/items.ts'
import { call, errorInfo, on } from './worker-client.ts'

/**
 * Transfers in progress, with speed and time left. Sending: the worker encrypts into OPFS,
 * uploads the spooled ciphertext with core's tus uploader (resumable, retried across dropped
 * connections; a reload resumes it from the pending list), then commits the signed manifest.
 */

export interface Transfer {
  id: string
  direction: 'up' | 'down' | 'export'
  name: string
  phase:
    | 'encrypting'
    | 'uploading'
    | 'committing'
    | 'downloading'
    | 'verifying'
    | 'done'
    | 'failed'
    | 'cancelled'
  done: number
  total: number
  /** Bytes per second over the last few seconds. */
  speed: number
  error?: ErrorInfo
  cancel?: () => void
}

export const transfers = new Store<Transfer[]>([])

const samples = new Map<string, { t: number; n: number }[]>()

export function setTransfer(id: string, patch: Partial<Transfer>): void {
  transfers.update((list) => {
    const i = list.findIndex((t) => t.id === id)
    if (i < 0) return list
    const t = { ...list[i]!, ...patch }
    if (patch.done !== undefined) {
      const s = samples.get(id) ?? []
      const now = performance.now()
      s.push({ t: now, n: patch.done })
      while (s.length > 2 && now - s[0]!.t > 3000) s.shift()
      samples.set(id, s)
      const first = s[0]!
      t.speed = now > first.t ? ((patch.done - first.n) * 1000) / (now - first.t) : 0
    }
    const next = [...list]
    next[i] = t
    return next
  })
  // Finished transfers leave the list after a moment; failures stay until dismissed.
  if (patch.phase === 'done' || patch.phase === 'cancelled') setTimeout(() => dismiss(id), 4000)
}

export function addTransfer(t: Omit<Transfer, 'speed'>): void {
  samples.delete(t.id)
  transfers.update((list) => [...list, { ...t, speed: 0 }])
}

export function dismiss(id: string): void {
  transfers.update((list) => list.filter((t) => t.id !== id))
}

// The worker reports encryption, download and export progress by operation id.
on('progress', (p) => setTransfer(p.opId, { done: p.done, total: p.total }))

let opCounter = 0
export const newOpId = () => `op${Date.now().toString(36)}${(opCounter++).toString(36)}`

/** Sends one file or note into a conversation: encrypt → upload (tus) → commit, in the worker. */
export async function send(
  conversationId: string,
  data: Blob,
  name: string,
  kind: 'file' | 'note',
  opts: { label?: string; onRefused?: (e: ErrorInfo) => void } = {},
): Promise<void> {
  const opId = newOpId()
  let cancelled = false
  let itemId: string | null = null
  const cancel = () => {
    cancelled = true
    void call('abort', opId)
    if (itemId) void call('cancelUpload', itemId)
    setTransfer(opId, { phase: 'cancelled', cancel: undefined })
  }
  addTransfer({
    id: opId,
    direction: 'up',
    name: kind === 'note' ? 'Note' : name,
    phase: 'encrypting',
    done: 0,
    total: data.size,
    cancel,
  })
  try {
    const type =
      kind === 'note' ? 'text/plain; charset=utf-8' : data.type.replace(/[^\x20-\x7e]/g, '').slice(0, 255)
    const mtime = data instanceof File ? data.lastModified : Date.now()
    const input = { data, name, type, mtime, kind, ...(opts.label ? { label: opts.label } : {}) }
    const p = await call('prepare', conversationId, input, opId)
    itemId = p.itemId
    if (cancelled) return
    await navigator.locks.request(`airlock-upload-${p.itemId}`, () => resumeUpload(p, opId))
  } catch (e) {
    if (cancelled) return
    const err = errorInfo(e)
    setTransfer(opId, { phase: 'failed', error: err, cancel: undefined })
    // A refusal by the organisation's policy is shown as a banner, not only in the transfer list.
    if (err.kind === 'policy' || SIZE_CODES.has(err.code)) opts.onRefused?.(err)
  }
}

/** Refusals of the file's size, which the person can act on like a policy refusal. */
const SIZE_CODES = new Set(['ITEM_TOO_LARGE', 'QUOTA_EXCEEDED'])

/** Uploads a prepared item's spooled ciphertext and commits it; used for new sends and after a reload. */
export async function resumeUpload(p: PendingUpload, opId: string): Promise<void> {
  setTransfer(opId, { phase: 'uploading', done: 0, total: p.ciphertextSize })
  await call('upload', p.itemId, opId)
  setTransfer(opId, { phase: 'committing' })
  await call('commit', p.itemId)
  setTransfer(opId, { phase: 'done', done: p.ciphertextSize, cancel: undefined })
}

/** Picks up uploads a previous page left unfinished (reload, crash, closed tab). */
export async function resumeAll(): Promise<void> {
  const list = await call('pending')
  for (const p of list) {
    const opId = newOpId()
    addTransfer({
      id: opId,
      direction: 'up',
      name: p.kind === 'note' ? 'Note' : p.name,
      phase: 'uploading',
      done: 0,
      total: p.ciphertextSize,
      cancel: () => {
        void call('abort', opId)
        void call('cancelUpload', p.itemId)
        setTransfer(opId, { phase: 'cancelled', cancel: undefined })
      },
    })
    // One tab resumes a given upload; another tab that holds it already is left alone.
    void navigator.locks
      .request(`airlock-upload-${p.itemId}`, { ifAvailable: true }, async (lock) => {
        if (!lock) return dismiss(opId)
        await resumeUpload(p, opId)
      })
      .catch((e) => setTransfer(opId, { phase: 'failed', error: errorInfo(e), cancel: undefined }))
  }
}
