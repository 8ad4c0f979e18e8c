import { printable } from '@airlock/core'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { ErrorInfo } from '../errors.ts'
import type { AccessRow } from '../worker/accesses.ts'
import { call, errorInfo } from '../worker-client.ts'

/**
 * Who downloaded one of my items: the worker fetches the item's access chain and verifies it
 * before anything is shown; a chain that does not verify is a security warning, never a list.
 */
export function AccessesDialog(props: { itemId: string; name: string; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null)
  const [rows, setRows] = useState<AccessRow[] | null>(null)
  const [error, setError] = useState<ErrorInfo | null>(null)
  useEffect(() => {
    ref.current?.showModal()
    call('accesses', props.itemId).then(setRows, (e) => setError(errorInfo(e)))
  }, [props.itemId])
  return (
    <dialog ref={ref} onCancel={props.onClose} aria-labelledby="accesses-title" class="accesses">
      <h2 id="accesses-title">Accesses: {printable(props.name)}</h2>
      {error ? (
        <p class={error.kind === 'security' ? 'error security' : 'error'} role="alert" data-code={error.code}>
          {error.message}
        </p>
      ) : rows === null ? (
        <p aria-busy="true">Checking the access log…</p>
      ) : rows.length === 0 ? (
        <p>Nobody has downloaded it yet.</p>
      ) : (
        <>
          <table>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Who</th>
                <th scope="col">When</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.seq} data-kind={r.kind}>
                  <td>{r.seq}</td>
                  <td>{printable(r.who)}</td>
                  <td>
                    <time dateTime={new Date(r.at).toISOString()}>{new Date(r.at).toLocaleString()}</time>
                  </td>
                  <td>{printable(r.address)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="verified">
            {rows.length} download{rows.length === 1 ? '' : 's'}; the log verifies (hash chain from the first
            access).
          </p>
        </>
      )}
      <div class="row">
        <button type="button" onClick={props.onClose} autofocus>
          Close
        </button>
      </div>
    </dialog>
  )
}
