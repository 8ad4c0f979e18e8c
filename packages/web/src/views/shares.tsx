import type { ShareSummary } from '@airlock/core'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { ErrorInfo } from '../errors.ts'
import { formatSize, formatTime } from '../format.ts'
import { newOpId } from '../transfers.ts'
import { call, errorInfo } from '../worker-client.ts'

const LIFETIMES = [
  ['1 hour', 3600],
  ['1 day', 86400],
  ['7 days', 7 * 86400],
  ['30 days', 30 * 86400],
] as const

/** "Share link" on a timeline item: options, then the link to copy. */
export function ShareDialog(props: { itemId: string; name: string; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null)
  const [lifetime, setLifetime] = useState(7 * 86400)
  const [limit, setLimit] = useState('')
  const [passphrase, setPassphrase] = useState('')
  const [busy, setBusy] = useState(false)
  const [link, setLink] = useState<string | null>(null)
  const [copied, setCopied] = useState(false)
  const [error, setError] = useState<ErrorInfo | null>(null)
  useEffect(() => {
    ref.current?.showModal()
  }, [])

  const create = async () => {
    setBusy(true)
    setError(null)
    try {
      const r = await call(
        'createShare',
        [props.itemId],
        {
          expiresInSeconds: lifetime,
          maxDownloads: limit ? Number(limit) : null,
          passphrase: passphrase || undefined,
        },
        newOpId(),
      )
      setLink(r.link)
    } catch (e) {
      setError(errorInfo(e))
    } finally {
      setBusy(false)
    }
  }

  return (
    <dialog ref={ref} onCancel={props.onClose} aria-labelledby="share-title">
      <h2 id="share-title">Share link</h2>
      {error && (
        <p class="banner" role="alert">
          {error.message}
        </p>
      )}
      {link ? (
        <>
          <p>Anyone with this link can download the file{passphrase ? ' (with the passphrase)' : ''}:</p>
          <input
            readOnly
            aria-label="Link"
            value={link}
            data-testid="share-link"
            onFocus={(e) => e.currentTarget.select()}
          />
          <div class="row">
            <button
              type="button"
              onClick={() =>
                void navigator.clipboard?.writeText(link).then(
                  () => setCopied(true),
                  () => {},
                )
              }
            >
              {copied ? 'Copied' : 'Copy'}
            </button>
            <button type="button" class="primary" onClick={props.onClose}>
              Done
            </button>
          </div>
        </>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault()
            void create()
          }}
        >
          <p>
            A link to <strong>{props.name || 'this note'}</strong> for someone without an account. The key is
            in the link after #; the server never sees it.
          </p>
          <label>
            Expires after
            <select value={String(lifetime)} onChange={(e) => setLifetime(Number(e.currentTarget.value))}>
              {LIFETIMES.map(([label, s]) => (
                <option key={s} value={String(s)}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Maximum downloads (empty: unlimited)
            <input type="number" min={1} value={limit} onInput={(e) => setLimit(e.currentTarget.value)} />
          </label>
          <label>
            Passphrase (optional)
            <input
              type="password"
              autocomplete="new-password"
              value={passphrase}
              onInput={(e) => setPassphrase(e.currentTarget.value)}
            />
          </label>
          <div class="row">
            <button type="button" onClick={props.onClose}>
              Cancel
            </button>
            <button type="submit" class="primary" disabled={busy}>
              {busy ? 'Creating…' : 'Create link'}
            </button>
          </div>
        </form>
      )}
    </dialog>
  )
}

/** My share links, with their state and downloads, and Revoke. */
export function Shares({ onError }: { onError: (e: ErrorInfo) => void }) {
  const [shares, setShares] = useState<ShareSummary[] | null>(null)
  const load = () =>
    call('shares').then(setShares, (e) => {
      onError(errorInfo(e))
      setShares([])
    })
  useEffect(() => {
    void load()
  }, [])
  const revoke = async (id: string) => {
    try {
      await call('revokeShare', id)
      await load()
    } catch (e) {
      onError(errorInfo(e))
    }
  }
  return (
    <main class="page">
      <h2>My links</h2>
      {shares === null && <p aria-busy="true">Loading…</p>}
      {shares?.length === 0 && <p>No share links yet. Use “Share link” on a file in the timeline.</p>}
      <ul class="shares" aria-label="Share links">
        {shares?.map((s) => (
          <li key={s.shareId} data-share={s.shareId} data-state={s.state}>
            <span class="state">{s.state}</span> · {s.itemIds.length} file(s), {formatSize(s.ciphertextSize)}{' '}
            · {s.downloads}/{s.maxDownloads ?? '∞'} downloads · until {formatTime(s.expiresAt)}
            {(s.state === 'active' || s.state === 'uploading') && (
              <button type="button" class="danger" onClick={() => void revoke(s.shareId)}>
                Revoke
              </button>
            )}
          </li>
        ))}
      </ul>
    </main>
  )
}
