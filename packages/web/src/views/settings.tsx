import { useState } from 'preact/hooks'
import type { ErrorInfo } from '../errors.ts'
import { addTransfer, newOpId, setTransfer } from '../transfers.ts'
import { call, errorInfo } from '../worker-client.ts'
import { Confirm } from './dialog.tsx'
import { Transfers } from './transfers.tsx'

/** Export everything, notifications, and forgetting this browser. */
export function Settings({
  onError,
  onForgotten,
}: {
  onError: (e: ErrorInfo) => void
  onForgotten: () => void
}) {
  const [forgetting, setForgetting] = useState(false)
  const [notify, setNotify] = useState('Notification' in self ? Notification.permission : 'denied')

  const exportAll = async (e: SubmitEvent) => {
    e.preventDefault()
    const form = e.currentTarget as HTMLFormElement
    const f = new FormData(form)
    const pass = String(f.get('pass'))
    if (pass !== String(f.get('pass2'))) {
      onError({ code: 'INVALID_INPUT', kind: 'input', message: 'the two passphrases differ' })
      return
    }
    form.reset()
    const opId = newOpId()
    addTransfer({
      id: opId,
      direction: 'export',
      name: 'Export',
      phase: 'downloading',
      done: 0,
      total: 0,
      cancel: () => void call('abort', opId),
    })
    try {
      const file = await call('exportAll', pass, opId)
      setTransfer(opId, { phase: 'done', cancel: undefined })
      const url = URL.createObjectURL(file)
      const a = document.createElement('a')
      a.href = url
      a.download = `airlock-export-${new Date().toISOString().slice(0, 10)}.tar`
      a.click()
      setTimeout(() => URL.revokeObjectURL(url), 60_000)
    } catch (err) {
      setTransfer(opId, { phase: 'failed', error: errorInfo(err), cancel: undefined })
    }
  }

  return (
    <main class="page">
      <h2>Settings</h2>
      <form class="card" onSubmit={exportAll}>
        <h3>Export everything</h3>
        <p>
          Downloads every item as a standard <code>.age</code> file encrypted to a passphrase, in one{' '}
          <code>.tar</code> archive. Decrypt each with <code>age -d file.age &gt; file</code>.
        </p>
        <label>
          Passphrase
          <input name="pass" type="password" required minLength={8} autocomplete="new-password" />
        </label>
        <label>
          Passphrase again
          <input name="pass2" type="password" required minLength={8} autocomplete="new-password" />
        </label>
        <button type="submit" class="primary">
          Export
        </button>
      </form>
      <Transfers />
      <section class="card">
        <h3>Notifications</h3>
        {notify === 'granted' ? (
          <p>This browser shows a notification when an item arrives while Airlock is in the background.</p>
        ) : (
          <button
            type="button"
            onClick={() => void Notification.requestPermission().then(setNotify)}
            disabled={notify === 'denied'}
          >
            {notify === 'denied' ? 'Notifications are blocked in this browser' : 'Turn on notifications'}
          </button>
        )}
      </section>
      <section class="card">
        <h3>Forget this browser</h3>
        <p>
          Deletes this device's keys from this browser. Remove it from your devices on another device too.
        </p>
        <button type="button" class="danger" onClick={() => setForgetting(true)}>
          Forget this browser
        </button>
      </section>
      {forgetting && (
        <Confirm
          title="Forget this browser?"
          confirmLabel="Forget"
          onCancel={() => setForgetting(false)}
          onConfirm={async () => {
            await call('forget').catch(() => {})
            setForgetting(false)
            onForgotten()
          }}
        >
          <p>Its keys are deleted. Items stay on your other devices.</p>
        </Confirm>
      )}
    </main>
  )
}
