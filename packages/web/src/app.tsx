import { useEffect, useState } from 'preact/hooks'
import type { ErrorInfo } from './errors.ts'
import { resumeAll } from './transfers.ts'
import { Admin } from './views/admin.tsx'
import { Conversations } from './views/conversations.tsx'
import { Devices } from './views/devices.tsx'
import { Settings } from './views/settings.tsx'
import { SHARE_PATH, SharePage } from './views/share-page.tsx'
import { Shares } from './views/shares.tsx'
import { Welcome } from './views/welcome.tsx'
import type { AccountInfo } from './worker/account.ts'
import { call, errorInfo, on } from './worker-client.ts'

type View = 'timeline' | 'links' | 'devices' | 'settings' | 'admin'

/** `#bench-<MiB>`: the crypto worker's encrypt and decrypt speed, for `npm run bench`. */
function Bench({ sizeMiB }: { sizeMiB: number }) {
  const [result, setResult] = useState('running…')
  useEffect(() => {
    call('bench', sizeMiB).then(
      (r) => setResult(JSON.stringify(r)),
      (e) => setResult(JSON.stringify({ error: errorInfo(e).message })),
    )
  }, [])
  return <pre data-testid="bench">{result}</pre>
}

const NAV: Record<View, string> = {
  timeline: 'Timeline',
  links: 'Links',
  devices: 'Devices',
  settings: 'Settings',
  admin: 'Admin',
}

export function App() {
  const bench = /^#bench-(\d+)$/.exec(location.hash)
  if (bench) return <Bench sizeMiB={Number(bench[1])} />
  // A share link's page needs no account: it never loads this browser's keys.
  if (SHARE_PATH.test(location.pathname)) return <SharePage />
  return <Main />
}

function Main() {
  const [state, setState] = useState<'loading' | 'welcome' | 'ready' | 'failed'>('loading')
  const [info, setInfo] = useState<AccountInfo | null>(null)
  const [view, setView] = useState<View>('timeline')
  const [error, setError] = useState<ErrorInfo | null>(null)

  const [isAdmin, setAdmin] = useState(false)

  const ready = (i: AccountInfo) => {
    setInfo(i)
    setState('ready')
    // Only administrators see the Admin page (the server refuses everyone else anyway).
    void call('me').then(
      (m) => setAdmin(m.admin),
      () => setAdmin(false),
    )
    void resumeAll().catch((e) => setError(errorInfo(e)))
  }

  useEffect(() => {
    call('init')
      .then((i) => (i ? ready(i) : setState('welcome')))
      .catch((e) => {
        const err = errorInfo(e)
        if (err.code === 'DEVICE_REMOVED' || err.code === 'NOT_SET_UP') {
          setError(err)
          setState('welcome')
        } else {
          setError(err)
          setState('failed')
        }
      })
    const offErr = on('error', (e) => {
      setError(e)
      if (e.code === 'DEVICE_REMOVED') setState('welcome')
    })
    return offErr
  }, [])

  useEffect(() => {
    const go = () => {
      const v = location.hash.slice(1)
      if (v === 'devices' || v === 'settings' || v === 'timeline' || v === 'links' || v === 'admin')
        setView(v)
    }
    go()
    addEventListener('hashchange', go)
    return () => removeEventListener('hashchange', go)
  }, [])

  const banner = error && (
    <div class={error.kind === 'security' ? 'banner security' : 'banner'} role="alert">
      <span>{error.message}</span>
      <button type="button" class="link" onClick={() => setError(null)} aria-label="Dismiss">
        ✕
      </button>
    </div>
  )

  if (state === 'loading')
    return (
      <main class="center" aria-busy="true">
        <p>Opening Airlock…</p>
      </main>
    )
  if (state === 'failed')
    return (
      <main class="center">
        <div>
          {banner}
          <div class="row">
            <button type="button" onClick={() => location.reload()}>
              Try again
            </button>
            {error?.code === 'LOGIN_REFUSED' && (
              <button
                type="button"
                class="danger"
                onClick={() => void call('forget').then(() => location.reload())}
              >
                Forget this browser
              </button>
            )}
          </div>
        </div>
      </main>
    )
  if (state === 'welcome' || !info)
    return (
      <>
        {banner}
        <Welcome onReady={ready} />
      </>
    )
  return (
    <div class="shell">
      <header class="top">
        <h1>Airlock</h1>
        <nav aria-label="Main">
          {(
            ['timeline', 'links', 'devices', 'settings', ...(isAdmin ? (['admin'] as const) : [])] as const
          ).map((v) => (
            <a key={v} href={`#${v}`} aria-current={view === v ? 'page' : undefined}>
              {NAV[v]}
            </a>
          ))}
        </nav>
        <span class="who" title={info.origin}>
          {info.username}
        </span>
      </header>
      {banner}
      {view === 'timeline' && <Conversations info={info} onError={setError} />}
      {view === 'links' && <Shares onError={setError} />}
      {view === 'devices' && <Devices onError={setError} />}
      {view === 'settings' && <Settings onError={setError} onForgotten={() => setState('welcome')} />}
      {view === 'admin' && isAdmin && <Admin onError={setError} />}
    </div>
  )
}
