import { printable } from '@airlock/core'
import { formatDuration, formatSize, formatSpeed } from '../format.ts'
import { useStore } from '../state.ts'
import { dismiss, transfers } from '../transfers.ts'

const PHASE: Record<string, string> = {
  encrypting: 'Encrypting',
  uploading: 'Uploading',
  committing: 'Finishing',
  downloading: 'Downloading',
  verifying: 'Verifying',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
}

/** Transfers in progress with speed and time left; finished ones can be dismissed. */
export function Transfers() {
  const list = useStore(transfers)
  if (list.length === 0) return null
  return (
    <ul class="transfers" aria-label="Transfers">
      {list.map((t) => {
        const active = !['done', 'failed', 'cancelled'].includes(t.phase)
        const pct = t.total > 0 ? Math.min(100, (t.done / t.total) * 100) : 0
        return (
          <li key={t.id} class={`transfer ${t.phase}`} data-phase={t.phase} data-name={t.name}>
            <div class="row">
              <span class="name">
                {t.direction === 'up' ? '↑' : '↓'} {printable(t.name)}
              </span>
              <span class="muted">
                {PHASE[t.phase]}
                {active &&
                  t.speed > 0 &&
                  ` · ${formatSpeed(t.speed)} · ${formatDuration((t.total - t.done) / t.speed)} left`}
                {!active && t.phase === 'done' && ` · ${formatSize(t.total)}`}
              </span>
              {active && t.cancel ? (
                <button type="button" class="link" onClick={t.cancel}>
                  Cancel
                </button>
              ) : (
                <button type="button" class="link" onClick={() => dismiss(t.id)} aria-label="Dismiss">
                  ✕
                </button>
              )}
            </div>
            {active && <progress max={100} value={pct} aria-label={`${t.name} progress`} />}
            {t.error && (
              <p class={t.error.kind === 'security' ? 'error security' : 'error'}>{t.error.message}</p>
            )}
          </li>
        )
      })}
    </ul>
  )
}
