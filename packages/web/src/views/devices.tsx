import { printable } from '@airlock/core'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { ErrorInfo } from '../errors.ts'
import { formatTime } from '../format.ts'
import { scanQr } from '../scan.ts'
import { call, errorInfo, on, type WorkerResult } from '../worker-client.ts'
import type { WorkerEvents } from '../worker-protocol.ts'
import { Confirm } from './dialog.tsx'

type DevicesInfo = WorkerResult<'devices'>
type DeviceRow = DevicesInfo['devices'][number]
type LinkAsk = WorkerEvents['link-confirm']

/** The account's devices from the verified device log; remove one; approve a new one. */
export function Devices({ onError }: { onError: (e: ErrorInfo) => void }) {
  const [data, setData] = useState<DevicesInfo | null>(null)
  const [removing, setRemoving] = useState<DeviceRow | null>(null)
  const [showAll, setShowAll] = useState(false)
  const load = () =>
    call('devices')
      .then(setData)
      .catch((e) => onError(errorInfo(e)))
  useEffect(() => {
    void load()
    return on('push', (e) => {
      if (e.type === 'log' || e.type === 'resync') void load()
    })
  }, [])

  const rows = data?.devices.filter((d) => showAll || d.active) ?? []
  return (
    <main class="page">
      <h2>Devices</h2>
      {!data && <p aria-busy="true">Loading…</p>}
      {data && (
        <>
          <ul class="devices">
            {rows.map((d) => (
              <li key={d.id} class={d.active ? 'device' : 'device removed'} data-device={d.id}>
                <div class="row">
                  <strong>{printable(d.name)}</strong>
                  <span class="muted">
                    {d.kind === 'web' ? 'browser' : d.kind === 'cli' ? 'command line' : 'recovery key'}
                    {d.thisDevice && ' · this browser'}
                    {!d.active && ' · removed'} · added {formatTime(d.created)}
                  </span>
                  {d.active && !d.thisDevice && (
                    <button type="button" class="danger" onClick={() => setRemoving(d)}>
                      Remove
                    </button>
                  )}
                </div>
                <p class="fingerprint" title="Device fingerprint">
                  {d.fingerprint}
                </p>
              </li>
            ))}
          </ul>
          <label class="inline">
            <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.currentTarget.checked)} />{' '}
            Show removed devices
          </label>
          <section class="card">
            <h3>Safety fingerprint of your device list</h3>
            <p class="fingerprint" data-testid="log-fingerprint">
              {data.logFingerprint}
            </p>
            <p class="muted">
              Every one of your devices shows the same number for the same list (entry {data.logSeq}).
            </p>
          </section>
        </>
      )}
      <AddDevice onAdded={() => void load()} />
      {removing && (
        <Confirm
          title={`Remove “${printable(removing.name)}”?`}
          confirmLabel="Remove device"
          onCancel={() => setRemoving(null)}
          onConfirm={async () => {
            const d = removing
            setRemoving(null)
            try {
              await call('removeDevice', d.id)
              await load()
            } catch (e) {
              onError(errorInfo(e))
            }
          }}
        >
          <p>It will no longer receive new items, and its session ends at once. This cannot be undone.</p>
        </Confirm>
      )}
    </main>
  )
}

function AddDevice({ onAdded }: { onAdded: () => void }) {
  const [input, setInput] = useState('')
  const [busy, setBusy] = useState(false)
  const [ask, setAsk] = useState<LinkAsk | null>(null)
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null)
  const [scanning, setScanning] = useState<AbortController | null>(null)
  const video = useRef<HTMLVideoElement>(null)

  const [agreed, setAgreed] = useState<string | null>(null)
  useEffect(() => {
    const a = on('link-confirm', setAsk)
    const b = on('link-code-agreed', (x) => setAgreed(x.fingerprint))
    return () => {
      a()
      b()
    }
  }, [])

  const accept = async (code: string) => {
    setBusy(true)
    setMessage(null)
    setAgreed(null)
    try {
      const added = await call('linkAccept', code)
      setMessage({ text: `Added “${added.name}” to your devices.`, error: false })
      setInput('')
      onAdded()
    } catch (e) {
      setMessage({ text: errorInfo(e).message, error: true })
    } finally {
      setBusy(false)
      setAsk(null)
      setAgreed(null)
    }
  }
  const scan = async () => {
    const c = new AbortController()
    setScanning(c)
    try {
      const text = await scanQr(video.current!, c.signal)
      setScanning(null)
      await accept(text)
    } catch (e) {
      setScanning(null)
      if (!(e instanceof DOMException && e.name === 'AbortError'))
        setMessage({ text: errorInfo(e).message, error: true })
    }
  }

  return (
    <section class="card">
      <h3>Add a device</h3>
      <p>
        On the new device, open this server and choose “Link this browser”, or run <code>airlock link</code>.
        Then scan its QR code or type its code here.
      </p>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault()
          void accept(input)
        }}
      >
        <input
          aria-label="Code from the new device"
          placeholder="1234-5678-9012"
          value={input}
          onInput={(e) => setInput(e.currentTarget.value)}
          disabled={busy}
          autocomplete="off"
          spellcheck={false}
        />
        <button type="submit" class="primary" disabled={busy || input.trim() === ''}>
          Add
        </button>
        <button type="button" onClick={() => (scanning ? scanning.abort() : void scan())} disabled={busy}>
          {scanning ? 'Stop camera' : 'Scan QR code'}
        </button>
      </form>
      <video ref={video} hidden={!scanning} playsInline muted class="scanner" />
      {busy && !ask && !agreed && <p aria-busy="true">Waiting for the new device…</p>}
      {busy && !ask && agreed && (
        <div aria-live="polite">
          <p>Confirmation code:</p>
          <p class="code" data-testid="agreed-fingerprint">
            {agreed}
          </p>
          <p>Check that the new device shows exactly this code and confirm there.</p>
        </div>
      )}
      {message && (
        <p class={message.error ? 'error' : 'ok'} role="status">
          {message.text}
        </p>
      )}
      {ask && (
        <Confirm
          title="Add this device?"
          confirmLabel="Add device"
          danger={false}
          onCancel={() => void call('answer', ask.askId, false)}
          onConfirm={() => void call('answer', ask.askId, true)}
        >
          <p>
            <strong>{printable(ask.device.name)}</strong> (
            {ask.device.kind === 'web' ? 'browser' : 'command line'})
          </p>
          <p>Confirmation code:</p>
          <p class="code" data-testid="confirm-fingerprint">
            {ask.fingerprint}
          </p>
          <p>Add it only if the new device shows exactly the same code.</p>
        </Confirm>
      )}
    </section>
  )
}
