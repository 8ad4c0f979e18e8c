import { printable, safeFilename } from '@airlock/core'
import { useEffect, useState } from 'preact/hooks'
import type { ErrorInfo } from '../errors.ts'
import { formatSize, formatTime } from '../format.ts'
import type { Risk } from '../risk.ts'
import type { OpenedShare } from '../worker/shares.ts'
import { call, errorInfo, on, type WorkerResult } from '../worker-client.ts'
import { Confirm } from './dialog.tsx'

/** `/s/<id>#<key>` on this origin: a share link's download page. */
export const SHARE_PATH = /^\/s\/[A-Za-z0-9_-]{22}$/

function save(file: File, name: string) {
  const url = URL.createObjectURL(file)
  const a = document.createElement('a')
  a.href = url
  a.download = safeFilename(name || 'unnamed')
  a.rel = 'noopener'
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60_000)
}

/**
 * The download page for people without an account: nothing from IndexedDB, no login. The worker
 * opens the link's manifest with the key after `#` (which the browser never sends) and the
 * passphrase if the link has one; the download is counted only when the person asks for it.
 */
export function SharePage() {
  const [share, setShare] = useState<OpenedShare | null>(null)
  const [error, setError] = useState<ErrorInfo | null>(null)
  const [passphrase, setPassphrase] = useState('')
  const [busy, setBusy] = useState<string | null>('Opening the link…')
  const [progress, setProgress] = useState<number | null>(null)
  const [files, setFiles] = useState<WorkerResult<'shareDownload'> | null>(null)
  const [ask, setAsk] = useState<{ file: File; name: string; risk: Risk } | null>(null)

  const open = async (pass?: string) => {
    setError(null)
    setBusy(pass ? 'Checking the passphrase…' : 'Opening the link…')
    try {
      setShare(await call('shareOpen', location.href, pass))
    } catch (e) {
      setError(errorInfo(e))
    } finally {
      setBusy(null)
    }
  }
  useEffect(() => {
    void open()
    return on('progress', (p) => {
      if (p.opId === 'share-page') setProgress(p.total > 0 ? p.done / p.total : 1)
    })
  }, [])

  const download = async () => {
    setError(null)
    setBusy('Downloading and checking…')
    try {
      const got = await call('shareDownload', 'share-page')
      setFiles(got)
      const only = got.length === 1 ? got[0] : undefined
      if (only && !only.risk) save(only.file, only.name)
    } catch (e) {
      setError(errorInfo(e))
    } finally {
      setBusy(null)
      setProgress(null)
    }
  }

  return (
    <main class="center share-page">
      <div>
        <h1>Airlock</h1>
        <p class="hint">
          Files shared with you, end-to-end encrypted: they are decrypted here, in this browser.
        </p>
        {error && (
          <div
            class={error.kind === 'security' ? 'banner security' : 'banner'}
            role="alert"
            data-testid="share-error"
          >
            {error.message}
          </div>
        )}
        {busy && (
          <p aria-busy="true">
            {busy}
            {progress !== null && ` ${Math.round(progress * 100)} %`}
          </p>
        )}
        {share?.needsPassphrase && !share.files && (
          <form
            onSubmit={(e) => {
              e.preventDefault()
              void open(passphrase)
            }}
          >
            <label>
              Passphrase
              <input
                type="password"
                autocomplete="off"
                value={passphrase}
                onInput={(e) => setPassphrase(e.currentTarget.value)}
              />
            </label>
            <button type="submit" class="primary" disabled={busy !== null || passphrase === ''}>
              Unlock
            </button>
          </form>
        )}
        {share?.files && !files && (
          <>
            <ul class="share-files" aria-label="Files">
              {share.files.map((f) => (
                <li key={f.name}>
                  <span class="name">{printable(f.name)}</span> <span class="size">{formatSize(f.size)}</span>
                </li>
              ))}
            </ul>
            <p class="hint">
              Available until {formatTime(share.expiresAt)}
              {share.downloadsLeft !== null && `, ${share.downloadsLeft} download(s) left`}.
            </p>
            <button type="button" class="primary" disabled={busy !== null} onClick={() => void download()}>
              Download
            </button>
          </>
        )}
        {files && (
          <ul class="share-files" aria-label="Downloaded files">
            {files.map((f) => (
              <li key={f.name} data-name={f.name}>
                <span class="name">{printable(f.name)}</span>{' '}
                <span class="size">{formatSize(f.file.size)}</span>
                {f.risk && (
                  <p class="risk" role="note">
                    ⚠ {f.risk.reason}
                  </p>
                )}
                <button
                  type="button"
                  onClick={() =>
                    f.risk ? setAsk({ file: f.file, name: f.name, risk: f.risk }) : save(f.file, f.name)
                  }
                >
                  Save
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
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
          <p>Only open it if you expected exactly this file.</p>
        </Confirm>
      )}
    </main>
  )
}
