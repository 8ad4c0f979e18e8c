import { useEffect, useRef, useState } from 'preact/hooks'
import QRCode from 'qrcode'
import type { ErrorInfo } from '../errors.ts'
import type { AccountInfo } from '../worker/account.ts'
import { call, errorInfo, on } from '../worker-client.ts'
import type { WorkerEvents } from '../worker-protocol.ts'

function defaultDeviceName(): string {
  const ua = navigator.userAgent
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Mac/.test(ua)
        ? 'Mac'
        : /Windows/.test(ua)
          ? 'Windows'
          : /Linux/.test(ua)
            ? 'Linux'
            : 'this computer'
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrom/.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser'
  return `${browser} on ${os}`
}

/** First visit: create an account with a setup or invite code, or link this browser to one. */
export function Welcome({ onReady }: { onReady: (i: AccountInfo) => void }) {
  const [mode, setMode] = useState<'choose' | 'create' | 'link'>('choose')
  return (
    <main class="welcome">
      <h1>Airlock</h1>
      <p class="lead">
        Move files and notes between your devices. Everything is encrypted in this browser; the server cannot
        read it.
      </p>
      {mode === 'choose' && (
        <div class="choices">
          <button type="button" class="primary" onClick={() => setMode('create')}>
            Create an account
          </button>
          <button type="button" onClick={() => setMode('link')}>
            Link this browser to my account
          </button>
        </div>
      )}
      {mode === 'create' && <CreateAccount onReady={onReady} onBack={() => setMode('choose')} />}
      {mode === 'link' && <LinkThisBrowser onReady={onReady} onBack={() => setMode('choose')} />}
    </main>
  )
}

function CreateAccount({ onReady, onBack }: { onReady: (i: AccountInfo) => void; onBack: () => void }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ErrorInfo | null>(null)
  const submit = async (e: SubmitEvent) => {
    e.preventDefault()
    const f = new FormData(e.currentTarget as HTMLFormElement)
    setBusy(true)
    setError(null)
    try {
      onReady(await call('setup', String(f.get('code')), String(f.get('username')), String(f.get('device'))))
    } catch (err) {
      setError(errorInfo(err))
      setBusy(false)
    }
  }
  return (
    <form class="card" onSubmit={submit}>
      <h2>Create an account</h2>
      <label>
        Invite or setup code
        <input name="code" required autocomplete="off" spellcheck={false} />
      </label>
      <label>
        Username
        <input
          name="username"
          required
          pattern="[a-z0-9._\-]{1,32}"
          autocomplete="username"
          title="1–32 of a–z, 0–9, . _ -"
        />
      </label>
      <label>
        Name of this device
        <input name="device" required maxLength={64} value={defaultDeviceName()} />
      </label>
      {error && (
        <p class="error" role="alert">
          {error.message}
        </p>
      )}
      <div class="row">
        <button type="button" onClick={onBack} disabled={busy}>
          Back
        </button>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Creating keys…' : 'Create account'}
        </button>
      </div>
    </form>
  )
}

function LinkThisBrowser({ onReady, onBack }: { onReady: (i: AccountInfo) => void; onBack: () => void }) {
  const [name, setName] = useState(defaultDeviceName())
  const [started, setStarted] = useState(false)
  const [shown, setShown] = useState<WorkerEvents['link-shown'] | null>(null)
  const [fingerprint, setFingerprint] = useState<WorkerEvents['link-agreed'] | null>(null)
  const [confirmed, setConfirmed] = useState(false)
  const [error, setError] = useState<ErrorInfo | null>(null)
  const canvas = useRef<HTMLCanvasElement>(null)

  useEffect(() => {
    const a = on('link-shown', setShown)
    const b = on('link-agreed', setFingerprint)
    return () => {
      a()
      b()
    }
  }, [])
  useEffect(() => {
    if (shown && canvas.current)
      void QRCode.toCanvas(canvas.current, shown.link, { errorCorrectionLevel: 'L', margin: 2, width: 240 })
  }, [shown])

  const start = async (e: SubmitEvent) => {
    e.preventDefault()
    setStarted(true)
    setError(null)
    setShown(null)
    setFingerprint(null)
    setConfirmed(false)
    try {
      onReady(await call('linkOffer', name))
    } catch (err) {
      setError(errorInfo(err))
      setStarted(false)
    }
  }

  if (!started)
    return (
      <form class="card" onSubmit={start}>
        <h2>Link this browser</h2>
        <label>
          Name of this device
          <input required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        {error && (
          <p class="error" role="alert">
            {error.message}
          </p>
        )}
        <div class="row">
          <button type="button" onClick={onBack}>
            Back
          </button>
          <button type="submit" class="primary">
            Show linking code
          </button>
        </div>
      </form>
    )
  return (
    <section class="card link-offer" aria-live="polite">
      <h2>Link this browser</h2>
      {!shown && <p>Opening a linking session…</p>}
      {shown && !fingerprint && (
        <>
          <p>
            On a device that is already set up, scan this QR code (Devices → Add a device), or type this code:
          </p>
          <canvas ref={canvas} aria-label="QR code for linking" />
          <p class="code" data-testid="link-code">
            {shown.code}
          </p>
          <p class="muted">The code expires at {new Date(shown.expiresAt).toLocaleTimeString()}.</p>
          <details>
            <summary>Cannot scan? Show the link</summary>
            <p class="muted">
              Paste it into “Add a device” on the other device. It works once, for ten minutes.
            </p>
            <code class="link-text" data-testid="link-url">
              {shown.link}
            </code>
          </details>
        </>
      )}
      {fingerprint && (
        <>
          <p>Confirmation code:</p>
          <p class="code" data-testid="link-fingerprint">
            {fingerprint.fingerprint}
          </p>
          {confirmed ? (
            <p>Now approve this browser on the other device.</p>
          ) : (
            <>
              <p>Does the other device show exactly this code?</p>
              <div class="row">
                <button type="button" onClick={() => void call('answer', fingerprint.askId, false)}>
                  No, cancel
                </button>
                <button
                  type="button"
                  class="primary"
                  onClick={() => {
                    setConfirmed(true)
                    void call('answer', fingerprint.askId, true)
                  }}
                >
                  The codes match
                </button>
              </div>
            </>
          )}
        </>
      )}
      <p class="muted">Waiting for the other device…</p>
    </section>
  )
}
