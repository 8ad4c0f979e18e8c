import { printable } from '@airlock/core'
import { useEffect, useState } from 'preact/hooks'
import type { ErrorInfo } from '../errors.ts'
import type { GroupInfo } from '../worker/conversations.ts'
import { call, errorInfo, on, type WorkerArgs } from '../worker-client.ts'
import { Confirm } from './dialog.tsx'
import { Fingerprint } from './fingerprint.tsx'

/** A group's members and roles from its verified log; add, remove, leave. */
export function GroupPanel({
  cid,
  onBlocked,
  onError,
}: {
  cid: string
  onBlocked: (e: ErrorInfo | null) => void
  onError: (e: ErrorInfo) => void
}) {
  const [g, setG] = useState<GroupInfo | null>(null)
  const [open, setOpen] = useState(false)
  const [adding, setAdding] = useState('')
  const [removing, setRemoving] = useState<GroupInfo['members'][number] | null>(null)
  const [leaving, setLeaving] = useState(false)
  const [problem, setProblem] = useState<ErrorInfo | null>(null)
  const show = (v: GroupInfo) => {
    setG(v)
    setProblem(null)
    onBlocked(
      v.myRole
        ? null
        : { code: 'NOT_MEMBER', kind: 'notFound', message: 'you are not a member of this group' },
    )
  }
  const load = () =>
    call('group', cid).then(show, (e) => {
      const err = errorInfo(e)
      // A member who was removed can no longer read the group.
      const gone = err.code === 'NOT_FOUND' || err.code === 'FORBIDDEN'
      const shown = gone
        ? {
            code: 'NOT_MEMBER',
            kind: 'notFound' as const,
            message: 'you are no longer a member of this group',
          }
        : err
      setProblem(shown)
      onBlocked(shown)
    })
  const change = (c: WorkerArgs<'changeGroup'>[1]) =>
    call('changeGroup', cid, c).then(show, (e) => {
      onError(errorInfo(e))
      return null
    })
  useEffect(() => {
    void load()
    return on('push', (e) => {
      if (e.type === 'resync' || (e.type === 'members' && e.conversationId === cid)) void load()
    })
  }, [])
  if (problem)
    return (
      <section class={problem.kind === 'security' ? 'panel keys-changed' : 'panel'} role="alert">
        {problem.message}
      </section>
    )
  if (!g) return <section class="panel" aria-busy="true" />
  const manager = g.myRole === 'owner' || g.myRole === 'admin'
  return (
    <section class="panel" aria-label={`Group ${printable(g.name)}`}>
      <div class="row">
        <strong>{printable(g.name)}</strong>
        <span class="muted">
          {g.members.length} members · you are {g.myRole ?? 'not a member'}
        </span>
        <button type="button" class="link" onClick={() => setOpen(!open)}>
          {open ? 'Hide members' : 'Members'}
        </button>
      </div>
      {open && (
        <>
          <ul class="members">
            {g.members.map((m) => (
              <li key={m.accountId} class="member" data-account={m.accountId} data-username={m.username}>
                <span>{printable(m.username)}</span>
                <span class="muted">{m.role}</span>
                {m.me && <span class="muted">(you)</span>}
                {manager && !m.me && m.role !== 'owner' && (g.myRole === 'owner' || m.role === 'member') && (
                  <button type="button" class="danger" onClick={() => setRemoving(m)}>
                    Remove
                  </button>
                )}
              </li>
            ))}
          </ul>
          <Fingerprint value={g.fingerprint} testId="group-fingerprint" />
          <p class="muted">Every member sees this number for the same member list (entry {g.seq}).</p>
          {manager && (
            <form
              class="row"
              onSubmit={(e) => {
                e.preventDefault()
                const u = adding.trim()
                if (!u) return
                setAdding('')
                void change({ op: 'add', username: u })
              }}
            >
              <label>
                Add a member (username)
                <input value={adding} onInput={(e) => setAdding(e.currentTarget.value)} />
              </label>
              <button type="submit">Add member</button>
            </form>
          )}
          {g.myRole && g.myRole !== 'owner' && (
            <button type="button" class="danger" onClick={() => setLeaving(true)}>
              Leave group
            </button>
          )}
        </>
      )}
      {removing && (
        <Confirm
          title={`Remove ${printable(removing.username)}?`}
          confirmLabel="Remove member"
          onCancel={() => setRemoving(null)}
          onConfirm={() => {
            const m = removing
            setRemoving(null)
            void change({ op: 'remove', accountId: m.accountId })
          }}
        >
          <p>
            They will get nothing sent to this group from now on. What they already received stays with them.
          </p>
        </Confirm>
      )}
      {leaving && (
        <Confirm
          title={`Leave ${printable(g.name)}?`}
          confirmLabel="Leave group"
          onCancel={() => setLeaving(false)}
          onConfirm={() => {
            setLeaving(false)
            void change({ op: 'leave' })
          }}
        >
          <p>You will get nothing sent to this group from now on.</p>
        </Confirm>
      )}
    </section>
  )
}
