import { printable } from '@airlock/core'
import { useEffect, useState } from 'preact/hooks'
import type { ErrorInfo } from '../errors.ts'
import { Store, useStore } from '../state.ts'
import type { AccountInfo } from '../worker/account.ts'
import type { ColleagueInfo, ConversationRow } from '../worker/conversations.ts'
import { call, errorInfo, on } from '../worker-client.ts'
import { Fingerprint } from './fingerprint.tsx'
import { GroupPanel } from './group.tsx'
import { seen, Timeline } from './timeline.tsx'

/** The conversation shown; kept while the person visits Devices or Settings. */
const selected = new Store<string>('')

/**
 * Conversations: "My devices" first, then colleagues and groups. The selected one shows its
 * timeline, with the colleague's safety fingerprint or the group's members above it.
 */
export function Conversations({ info, onError }: { info: AccountInfo; onError: (e: ErrorInfo) => void }) {
  const cid = useStore(selected) || info.selfConversationId
  const marks = useStore(seen)
  const [rows, setRows] = useState<ConversationRow[] | null>(null)
  const [creating, setCreating] = useState<'direct' | 'group' | null>(null)
  const [blocked, setBlocked] = useState<ErrorInfo | null>(null)

  const load = () =>
    call('conversations')
      .then(setRows)
      .catch((e) => onError(errorInfo(e)))
  useEffect(() => {
    void load()
    return on('push', (e) => {
      if (e.type === 'item' || e.type === 'members' || e.type === 'resync') void load()
    })
  }, [])
  useEffect(() => setBlocked(null), [cid])

  // The list is reloaded first, so a conversation just made is there when it is shown.
  const open = async (id: string) => {
    await load()
    setCreating(null)
    selected.set(id)
  }
  const row = rows?.find((r) => r.conversationId === cid)
  // The server lists only conversations I am in: one that left the list was left, or I was removed.
  const gone: ErrorInfo | null =
    rows && !row && cid !== info.selfConversationId
      ? { code: 'NOT_MEMBER', kind: 'notFound', message: 'you are no longer a member of this conversation' }
      : null
  const problem = gone ?? blocked ?? row?.problem ?? null

  let header = null
  if (gone)
    header = (
      <section class="panel" role="alert">
        {gone.message}
      </section>
    )
  else if (row?.kind === 'direct' && row.peer)
    header = <ColleaguePanel key={cid} peer={row.peer} onBlocked={setBlocked} onChanged={load} />
  else if (row?.kind === 'group')
    header = <GroupPanel key={cid} cid={cid} onBlocked={setBlocked} onError={onError} />

  return (
    <div class="chats">
      <aside class="chat-list">
        <nav aria-label="Conversations">
          <ul>
            {(rows ?? []).map((r) => (
              <li key={r.conversationId}>
                <button
                  type="button"
                  class="chat"
                  aria-current={r.conversationId === cid ? 'true' : undefined}
                  data-conversation={r.conversationId}
                  onClick={() => void open(r.conversationId)}
                >
                  <span class="title">{printable(r.title)}</span>
                  {r.kind === 'group' && <span class="muted">group</span>}
                  {r.peer?.verified && (
                    <span class="verified" title="Safety fingerprint compared">
                      ✓
                    </span>
                  )}
                  {r.problem && (
                    <span class="danger-mark" title={r.problem.message}>
                      ⚠
                    </span>
                  )}
                  {r.conversationId !== cid && r.lastSeq > (marks[r.conversationId] ?? 0) && (
                    <span class="new">new</span>
                  )}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <div class="row">
          <button type="button" onClick={() => setCreating('direct')}>
            New conversation
          </button>
          <button type="button" onClick={() => setCreating('group')}>
            New group
          </button>
        </div>
      </aside>
      {creating === 'direct' && (
        <NewDirect onOpened={open} onCancel={() => setCreating(null)} onError={onError} />
      )}
      {creating === 'group' && (
        <NewGroup onOpened={open} onCancel={() => setCreating(null)} onError={onError} />
      )}
      {!creating && (
        <Timeline
          key={cid}
          info={info}
          conversationId={cid}
          blocked={problem}
          header={header}
          onError={onError}
        />
      )}
    </div>
  )
}

function NewDirect({
  onOpened,
  onCancel,
  onError,
}: {
  onOpened: (cid: string) => void
  onCancel: () => void
  onError: (e: ErrorInfo) => void
}) {
  const [username, setUsername] = useState('')
  const [busy, setBusy] = useState(false)
  return (
    <form
      class="page"
      onSubmit={async (e) => {
        e.preventDefault()
        setBusy(true)
        try {
          const r = await call('openDirect', username)
          onOpened(r.conversationId)
        } catch (err) {
          onError(errorInfo(err))
        } finally {
          setBusy(false)
        }
      }}
    >
      <h2>New conversation</h2>
      <label>
        Colleague’s username
        <input value={username} onInput={(e) => setUsername(e.currentTarget.value)} required />
      </label>
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>
          Start conversation
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  )
}

function NewGroup({
  onOpened,
  onCancel,
  onError,
}: {
  onOpened: (cid: string) => void
  onCancel: () => void
  onError: (e: ErrorInfo) => void
}) {
  const [name, setName] = useState('')
  const [members, setMembers] = useState('')
  const [busy, setBusy] = useState(false)
  return (
    <form
      class="page"
      onSubmit={async (e) => {
        e.preventDefault()
        setBusy(true)
        try {
          const usernames = members
            .split(/[\s,]+/)
            .map((u) => u.trim())
            .filter(Boolean)
          onOpened(await call('createGroup', name.trim(), usernames))
        } catch (err) {
          onError(errorInfo(err))
        } finally {
          setBusy(false)
        }
      }}
    >
      <h2>New group</h2>
      <label>
        Group name
        <input value={name} maxLength={128} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <label>
        Members (usernames, separated by commas)
        <input value={members} onInput={(e) => setMembers(e.currentTarget.value)} />
      </label>
      <div class="row">
        <button type="submit" class="primary" disabled={busy}>
          Create group
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  )
}

/**
 * The colleague of a direct conversation: their device list's safety fingerprint (the number their
 * own Devices page shows), "I compared it", and a red warning when their keys no longer verify.
 */
function ColleaguePanel({
  peer,
  onBlocked,
  onChanged,
}: {
  peer: NonNullable<ConversationRow['peer']>
  onBlocked: (e: ErrorInfo | null) => void
  onChanged: () => void
}) {
  const [c, setC] = useState<ColleagueInfo | null>(null)
  const [problem, setProblem] = useState<ErrorInfo | null>(null)
  const [open, setOpen] = useState(!peer.verified)
  const load = (f: 'colleague' | 'markVerified') =>
    call(f, peer.accountId).then(
      (v) => {
        setC(v)
        setProblem(null)
        onBlocked(null)
        if (f === 'markVerified') onChanged()
      },
      (e) => {
        const err = errorInfo(e)
        setProblem(err)
        onBlocked(err)
      },
    )
  useEffect(() => {
    void load('colleague')
    return on('push', (e) => {
      if (e.type === 'resync') void load('colleague')
    })
  }, [])
  const name = printable(peer.username)
  if (problem)
    return (
      <section class="panel keys-changed" role="alert">
        <strong>Do not send anything to {name}.</strong> {problem.message}
      </section>
    )
  return (
    <section class="panel" aria-label={`Safety fingerprint of ${name}`}>
      <div class="row">
        <strong>{name}</strong>
        {c?.verified ? (
          <span class="ok" data-testid="colleague-verified">
            ✓ Verified
          </span>
        ) : (
          <span class="muted">not verified yet</span>
        )}
        <button type="button" class="link" onClick={() => setOpen(!open)}>
          {open ? 'Hide safety fingerprint' : 'Show safety fingerprint'}
        </button>
      </div>
      {open && c && (
        <>
          <Fingerprint value={c.fingerprint} testId="colleague-fingerprint" />
          <p class="muted">
            {name}’s Devices page shows this number for their device list. Compare it with them in person or
            on a call (or scan the QR code on their screen).
          </p>
          {!c.verified && (
            <button type="button" class="primary" onClick={() => void load('markVerified')}>
              I compared it with {name}
            </button>
          )}
        </>
      )}
    </section>
  )
}
