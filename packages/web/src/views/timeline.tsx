import { type LabelRule, printable, safeFilename } from '@airlock/core'
import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { ErrorInfo } from '../errors.ts'
import { formatSize, formatTime } from '../format.ts'
import type { Risk } from '../risk.ts'
import { Store, useStore } from '../state.ts'
import { addTransfer, newOpId, send, setTransfer } from '../transfers.ts'
import type { AccountInfo } from '../worker/account.ts'
import type { RefusedItem, TimelineItem } from '../worker/items.ts'
import { call, errorInfo, on, type WorkerResult } from '../worker-client.ts'
import { AccessesDialog } from './accesses.tsx'
import { Confirm } from './dialog.tsx'
import { ShareDialog } from './shares.tsx'
import { Transfers } from './transfers.tsx'

type Row = TimelineItem | RefusedItem

interface TimelineState {
  rows: Store<Row[]>
  lastSeq: number
  syncing: Promise<void> | null
}

const MAX_ROWS = 100_000
/** Each conversation's rows, kept while the page lives so switching back is instant. */
const timelines = new Map<string, TimelineState>()
let rowsAccount = ''
/** The highest item seq the person has seen, per conversation (for "new" marks). */
export const seen = new Store<Record<string, number>>({})

function timeline(cid: string): TimelineState {
  let t = timelines.get(cid)
  if (!t) {
    t = { rows: new Store<Row[]>([]), lastSeq: 0, syncing: null }
    timelines.set(cid, t)
  }
  return t
}

/** Catches up from the last seen seq; one sync at a time, another one queued behind it. */
function sync(cid: string, onError: (e: ErrorInfo) => void): Promise<void> {
  const t = timeline(cid)
  const rows = t.rows
  const run = async () => {
    try {
      let res: WorkerResult<'list'>
      do {
        res = await call('list', cid, t.lastSeq)
        t.lastSeq = res.last
        seen.update((m) => ({ ...m, [cid]: Math.max(m[cid] ?? 0, res.last) }))
        const gone = new Set(res.deleted)
        const added = res.items
        rows.update((list) => [...list.filter((r) => !gone.has(r.itemId)), ...added])
        // A timeline past this size stops growing (a server could answer "more" forever).
      } while (res.more && rows.get().length < MAX_ROWS)
      if (
        res.items.length &&
        document.hidden &&
        'Notification' in self &&
        Notification.permission === 'granted'
      )
        new Notification('Airlock', {
          body: res.items.length === 1 ? 'A new item arrived' : `${res.items.length} new items arrived`,
        })
    } catch (e) {
      onError(errorInfo(e))
    }
  }
  t.syncing = (t.syncing ?? Promise.resolve()).then(run)
  return t.syncing
}

/** Saves a verified file through the browser's download, from its on-disk (OPFS) copy. */
function save(file: File, name: string) {
  const url = URL.createObjectURL(file)
  const a = document.createElement('a')
  a.href = url
  a.download = safeFilename(name)
  a.rel = 'noopener'
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

/**
 * One conversation's items, newest at the bottom, and the composer. `blocked` (keys of a colleague
 * that no longer verify, a group log that does not) disables sending with the reason shown.
 */
export function Timeline({
  info,
  conversationId,
  blocked,
  header,
  onError,
}: {
  info: AccountInfo
  conversationId: string
  blocked?: ErrorInfo | null
  header?: ComponentChildren
  onError: (e: ErrorInfo) => void
}) {
  const cid = conversationId
  // Another account in this tab (after "Forget this browser"): start from empty timelines.
  if (rowsAccount !== info.accountId) {
    rowsAccount = info.accountId
    timelines.clear()
    seen.set({})
  }
  const list = useStore(timeline(cid).rows)
  const [dragging, setDragging] = useState(false)
  const [note, setNote] = useState('')
  const [ask, setAsk] = useState<{ risk: Risk; file: File; name: string } | null>(null)
  const [sharing, setSharing] = useState<{ itemId: string; name: string } | null>(null)
  const [preview, setPreviewState] = useState<{ itemId: string; url?: string; text?: string } | null>(null)
  // One preview at a time; the previous one's blob URL is released.
  const setPreview = (p: { itemId: string; url?: string; text?: string } | null) =>
    setPreviewState((old) => {
      if (old?.url) URL.revokeObjectURL(old.url)
      return p
    })
  const [accesses, setAccesses] = useState<{ itemId: string; name: string } | null>(null)
  const bottom = useRef<HTMLDivElement>(null)
  const picker = useRef<HTMLInputElement>(null)
  // The labels the organisation's policy offers; the server checks the choice again.
  const [labels, setLabels] = useState<LabelRule[]>([])
  const [label, setLabel] = useState('')
  useEffect(() => {
    call('policy').then(
      (p) => setLabels(p.labels),
      (e) => onError(errorInfo(e)),
    )
  }, [])
  const sendOpts = () => ({ ...(label ? { label } : {}), onRefused: onError })

  useEffect(() => {
    void sync(cid, onError)
    const off = on('push', (e) => {
      if (e.type === 'resync' || ((e.type === 'item' || e.type === 'delete') && e.conversationId === cid))
        void sync(cid, onError)
    })
    return off
  }, [cid])
  useEffect(() => bottom.current?.scrollIntoView({ block: 'end' }), [list.length])

  const sendFiles = (files: Iterable<File>) => {
    if (blocked) return onError(blocked)
    for (const f of files) void send(cid, f, f.name || 'unnamed', 'file', sendOpts())
  }
  const sendNote = () => {
    const text = note.trim()
    if (!text) return
    if (blocked) return onError(blocked)
    setNote('')
    void send(cid, new Blob([text]), '', 'note', sendOpts())
  }
  const onPaste = (e: ClipboardEvent) => {
    const files = [...(e.clipboardData?.files ?? [])]
    if (files.length === 0) return
    e.preventDefault()
    const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '-')
    sendFiles(
      files.map((f) =>
        f.name && f.name !== 'image.png'
          ? f
          : new File([f], `pasted-${stamp}.${f.type.split('/')[1] ?? 'bin'}`, { type: f.type }),
      ),
    )
  }

  const download = async (item: TimelineItem, mode: 'save' | 'preview') => {
    const opId = newOpId()
    addTransfer({
      id: opId,
      direction: 'down',
      name: item.name,
      phase: 'downloading',
      done: 0,
      total: item.size,
      cancel: () => void call('abort', opId),
    })
    try {
      const r = await call('download', item.itemId, opId)
      setTransfer(opId, { phase: 'done', done: item.size, cancel: undefined })
      if (mode === 'preview') {
        if (item.type.startsWith('text/') || /\.(txt|md|csv|json|log)$/i.test(item.name))
          setPreview({ itemId: item.itemId, text: await r.file.slice(0, 256 * 1024).text() })
        else
          setPreview({
            itemId: item.itemId,
            url: URL.createObjectURL(r.file.slice(0, r.file.size, safeImageType(item.type))),
          })
        return
      }
      if (r.risk) setAsk({ risk: r.risk, file: r.file, name: r.name })
      else save(r.file, r.name)
    } catch (e) {
      const err = errorInfo(e)
      setTransfer(opId, {
        phase: err.code === 'CANCELLED' ? 'cancelled' : 'failed',
        error: err,
        cancel: undefined,
      })
      if (err.kind === 'security') onError(err)
    }
  }

  const remove = async (itemId: string) => {
    try {
      await call('remove', itemId)
      timeline(cid).rows.update((l) => l.filter((r) => r.itemId !== itemId))
    } catch (e) {
      onError(errorInfo(e))
    }
  }

  return (
    <main
      class={dragging ? 'timeline dragging' : 'timeline'}
      onDragOver={(e) => {
        e.preventDefault()
        setDragging(true)
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault()
        setDragging(false)
        sendFiles(e.dataTransfer?.files ?? [])
      }}
      onPaste={onPaste}
    >
      {header}
      <ol class="items" aria-label="Items" aria-live="polite">
        {list.length === 0 && (
          <li class="empty">Nothing here yet. Drop files, paste, or type a note below.</li>
        )}
        {list.map((r) =>
          r.ok ? (
            <li
              key={r.itemId}
              class={r.senderDeviceId === info.deviceId ? 'item mine' : 'item'}
              data-item={r.itemId}
              data-name={r.name}
              data-label={r.label ?? undefined}
            >
              {r.label && (
                <p class="label-badge" title={`Sensitivity label: ${r.label}`}>
                  {printable(r.label)}
                  {r.expiresAt !== null && <span> · deleted {formatTime(r.expiresAt)}</span>}
                </p>
              )}
              {r.kind === 'note' ? (
                <p class="note">{r.text ?? `Note (${formatSize(r.size)})`}</p>
              ) : (
                <div class="file">
                  <span class="name">{printable(r.name)}</span>
                  <span class="size">{formatSize(r.size)}</span>
                  {r.risk && (
                    <p class="risk" role="note">
                      ⚠ {r.risk.reason}
                    </p>
                  )}
                  <div class="row">
                    <button type="button" onClick={() => void download(r, 'save')}>
                      Save
                    </button>
                    <button type="button" onClick={() => setSharing({ itemId: r.itemId, name: r.name })}>
                      Share link
                    </button>
                    {r.size <= 32 * 1024 * 1024 && /^(image\/(png|jpeg|gif|webp)|text\/)/.test(r.type) && (
                      <button type="button" onClick={() => void download(r, 'preview')}>
                        Preview
                      </button>
                    )}
                  </div>
                  {preview?.itemId === r.itemId &&
                    (preview.url ? (
                      <img src={preview.url} alt={r.name} class="preview" />
                    ) : (
                      <pre class="preview">{preview.text}</pre>
                    ))}
                </div>
              )}
              <footer>
                <span class="sender">
                  {r.senderUser !== undefined && <strong>{printable(r.senderUser)}</strong>}
                  {r.senderUser !== undefined && ' · '}
                  {printable(r.senderName)}
                </span>{' '}
                · <time>{formatTime(r.created)}</time>
                <button
                  type="button"
                  class="link"
                  onClick={() => setAccesses({ itemId: r.itemId, name: r.name || 'note' })}
                  aria-label={`Accesses of ${r.name || 'note'}`}
                >
                  Accesses
                </button>
                <button
                  type="button"
                  class="link"
                  onClick={() => void remove(r.itemId)}
                  aria-label={`Delete ${r.name || 'note'}`}
                >
                  Delete
                </button>
              </footer>
            </li>
          ) : (
            <li key={r.itemId} class="item refused" data-item={r.itemId} role="alert">
              <strong>Refused:</strong> {r.error.message}
            </li>
          ),
        )}
        <div ref={bottom} />
      </ol>
      <Transfers />
      {blocked && (
        <p class="blocked" role="alert">
          Sending is blocked: {blocked.message}
        </p>
      )}
      <form
        class="composer"
        onSubmit={(e) => {
          e.preventDefault()
          sendNote()
        }}
      >
        <button type="button" onClick={() => picker.current?.click()} aria-label="Attach files">
          <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
            <path
              fill="currentColor"
              d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z"
            />
          </svg>
        </button>
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          onChange={(e) => {
            sendFiles(e.currentTarget.files ?? [])
            e.currentTarget.value = ''
          }}
        />
        {labels.length > 0 && (
          <select
            aria-label="Sensitivity label"
            value={label}
            onChange={(e) => setLabel(e.currentTarget.value)}
          >
            <option value="">No label</option>
            {labels.map((l) => (
              <option key={l.name} value={l.name}>
                {l.name}
              </option>
            ))}
          </select>
        )}
        <textarea
          aria-label="Note"
          placeholder="Write a note, paste, or drop files"
          value={note}
          rows={1}
          onInput={(e) => setNote(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault()
              sendNote()
            }
          }}
        />
        <button type="submit" class="primary" disabled={!!blocked}>
          Send
        </button>
      </form>
      {accesses && (
        <AccessesDialog itemId={accesses.itemId} name={accesses.name} onClose={() => setAccesses(null)} />
      )}
      {sharing && (
        <ShareDialog itemId={sharing.itemId} name={sharing.name} onClose={() => setSharing(null)} />
      )}
      {ask && (
        <Confirm
          title="This file may be dangerous"
          confirmLabel="Save anyway"
          onCancel={() => setAsk(null)}
          onConfirm={() => {
            save(ask.file, ask.name)
            setAsk(null)
          }}
        >
          <p>
            <strong>{printable(ask.name)}</strong>: {ask.risk.reason}
          </p>
          <p>Only open it if you sent it yourself and expected it.</p>
        </Confirm>
      )}
    </main>
  )
}

/** Previews only render raster images the browser decodes safely; anything else is not shown. */
function safeImageType(type: string): string {
  return /^image\/(png|jpeg|gif|webp)$/.test(type) ? type : 'application/octet-stream'
}
