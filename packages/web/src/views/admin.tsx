import { type AdminAccount, type AdminShare, type LabelRule, type Policy, printable } from '@airlock/core'
import { useEffect, useState } from 'preact/hooks'
import type { ErrorInfo } from '../errors.ts'
import { formatSize, formatTime } from '../format.ts'
import { call, errorInfo, type WorkerResult } from '../worker-client.ts'

const DAY = 86_400_000
const MiB = 1024 * 1024

/** Days in a form field ('' = no limit) and back. */
const toDays = (ms: number | null) => (ms === null ? '' : String(+(ms / DAY).toFixed(3)))
const fromDays = (v: string): number | null => (v.trim() === '' ? null : Math.round(Number(v) * DAY))

/**
 * The Admin page (administrators only): the organisation's policy as a form, the accounts with
 * their devices, usage, quota and a disable/enable switch, and every account's share links with a
 * revoke button. Administrators manage accounts and policy; the server gives them no content.
 */
export function Admin({ onError }: { onError: (e: ErrorInfo) => void }) {
  const [policy, setPolicy] = useState<Policy | null>(null)
  const [accounts, setAccounts] = useState<AdminAccount[]>([])
  const [shares, setShares] = useState<AdminShare[]>([])
  const [saved, setSaved] = useState(false)
  const [newLabel, setNewLabel] = useState('')
  const [invite, setInvite] = useState<WorkerResult<'invite'> | null>(null)

  const load = () =>
    Promise.all([call('policy'), call('adminAccounts'), call('adminShares')]).then(
      ([p, a, s]) => {
        setPolicy(p)
        setAccounts(a)
        setShares(s)
      },
      (e) => onError(errorInfo(e)),
    )
  useEffect(() => void load(), [])
  if (!policy) return <main class="admin" aria-busy="true" />

  const edit = (p: Partial<Policy>) => {
    setSaved(false)
    setPolicy({ ...policy, ...p })
  }
  const editLabel = (i: number, l: Partial<LabelRule>) =>
    edit({ labels: policy.labels.map((x, j) => (j === i ? { ...x, ...l } : x)) })
  const save = async () => {
    try {
      setPolicy(await call('putPolicy', policy))
      setSaved(true)
    } catch (e) {
      onError(errorInfo(e))
    }
  }
  const update = async (a: AdminAccount, change: { disabled?: boolean; quotaBytes?: number | null }) => {
    try {
      const next = await call('adminUpdate', a.accountId, change)
      setAccounts((list) => list.map((x) => (x.accountId === next.accountId ? next : x)))
      // Disabling suspends the account's share links; enabling lets them work again.
      if (change.disabled !== undefined) setShares(await call('adminShares'))
    } catch (e) {
      onError(errorInfo(e))
    }
  }
  const revoke = async (s: AdminShare) => {
    try {
      const next = await call('adminRevokeShare', s.shareId)
      setShares((list) => list.map((x) => (x.shareId === next.shareId ? next : x)))
    } catch (e) {
      onError(errorInfo(e))
    }
  }

  return (
    <main class="admin">
      <section aria-labelledby="policy-h">
        <h2 id="policy-h">Organisation policy</h2>
        <form
          onSubmit={(e) => {
            e.preventDefault()
            void save()
          }}
        >
          <label>
            Who may invite{' '}
            <select
              name="invitations"
              value={policy.invitations}
              onChange={(e) => edit({ invitations: e.currentTarget.value as Policy['invitations'] })}
            >
              <option value="admins">Administrators only</option>
              <option value="everyone">Every account</option>
            </select>
          </label>
          <label>
            Largest item (MiB, empty: the server's limit){' '}
            <input
              name="maxItemMiB"
              inputMode="numeric"
              value={policy.maxItemBytes === null ? '' : String(policy.maxItemBytes / MiB)}
              onInput={(e) => {
                const v = e.currentTarget.value.trim()
                edit({ maxItemBytes: v === '' ? null : Math.round(Number(v) * MiB) })
              }}
            />
          </label>
          <label>
            Delete every item after (days, empty: keep){' '}
            <input
              name="itemLifetimeDays"
              inputMode="decimal"
              value={toDays(policy.itemLifetimeMs)}
              onInput={(e) => edit({ itemLifetimeMs: fromDays(e.currentTarget.value) })}
            />
          </label>
          <label>
            <input
              type="checkbox"
              name="shareLinks"
              checked={policy.shareLinks.allowed}
              onChange={(e) =>
                edit({ shareLinks: { ...policy.shareLinks, allowed: e.currentTarget.checked } })
              }
            />{' '}
            Share links allowed
          </label>
          <label>
            <input
              type="checkbox"
              name="colleagueRequests"
              checked={policy.colleagueRequests}
              onChange={(e) => edit({ colleagueRequests: e.currentTarget.checked })}
            />{' '}
            A first contact from a colleague is a request (off: colleagues reach each other at once)
          </label>
          <label>
            Longest share link (days){' '}
            <input
              name="shareLinkDays"
              inputMode="decimal"
              value={toDays(policy.shareLinks.maxLifetimeMs)}
              onInput={(e) =>
                edit({
                  shareLinks: { ...policy.shareLinks, maxLifetimeMs: fromDays(e.currentTarget.value) ?? 0 },
                })
              }
            />
          </label>
          <table class="labels" aria-label="Sensitivity labels">
            <thead>
              <tr>
                <th>Label</th>
                <th>Share links</th>
                <th>Keep at most (days)</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {policy.labels.map((l, i) => (
                <tr key={l.name} data-label={l.name}>
                  <td>{printable(l.name)}</td>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`${l.name}: share links allowed`}
                      checked={l.shareLinks}
                      onChange={(e) => editLabel(i, { shareLinks: e.currentTarget.checked })}
                    />
                  </td>
                  <td>
                    <input
                      aria-label={`${l.name}: keep at most (days)`}
                      inputMode="decimal"
                      value={toDays(l.maxRetentionMs)}
                      onInput={(e) => editLabel(i, { maxRetentionMs: fromDays(e.currentTarget.value) })}
                    />
                  </td>
                  <td>
                    <button
                      type="button"
                      class="link"
                      onClick={() => edit({ labels: policy.labels.filter((_, j) => j !== i) })}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="row">
            <input
              aria-label="New label"
              placeholder="New label"
              value={newLabel}
              onInput={(e) => setNewLabel(e.currentTarget.value)}
            />
            <button
              type="button"
              onClick={() => {
                const name = newLabel.trim()
                if (!name) return
                edit({ labels: [...policy.labels, { name, shareLinks: true, maxRetentionMs: null }] })
                setNewLabel('')
              }}
            >
              Add label
            </button>
          </div>
          <button type="submit" class="primary">
            Save policy
          </button>
          {saved && <span role="status"> Saved.</span>}
        </form>
      </section>
      <section aria-labelledby="accounts-h">
        <h2 id="accounts-h">Accounts</h2>
        <div class="row">
          <button
            type="button"
            onClick={() => void call('invite').then(setInvite, (e) => onError(errorInfo(e)))}
          >
            Make an invite code
          </button>
          {invite && (
            <span>
              <code data-testid="invite-code">{invite.code}</code> valid once, until{' '}
              {formatTime(invite.expiresAt)}
            </span>
          )}
        </div>
        <table class="accounts" aria-label="Accounts">
          <thead>
            <tr>
              <th>User</th>
              <th>Devices</th>
              <th>Used</th>
              <th>Quota</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {accounts.map((a) => (
              <AccountRow key={a.accountId} a={a} update={update} />
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="shares-h">
        <h2 id="shares-h">Share links</h2>
        <p>
          Every account's links: who made them, when they expire and how often they were downloaded, never
          what they hold. A disabled account's links are suspended until it is enabled.
        </p>
        {shares.length === 0 ? (
          <p>No share links.</p>
        ) : (
          <table class="accounts" aria-label="Share links">
            <thead>
              <tr>
                <th>Owner</th>
                <th>Created</th>
                <th>Expires</th>
                <th>Downloads</th>
                <th>State</th>
              </tr>
            </thead>
            <tbody>
              {shares.map((s) => (
                <tr key={s.shareId} data-share={s.shareId} data-owner={s.username}>
                  <td>{printable(s.username)}</td>
                  <td>{formatTime(s.createdAt)}</td>
                  <td>{formatTime(s.expiresAt)}</td>
                  <td>
                    {s.downloads}
                    {s.maxDownloads === null ? '' : ` of ${s.maxDownloads}`}
                  </td>
                  <td>
                    {SHARE_STATES[s.state]}{' '}
                    {(s.state === 'active' || s.state === 'suspended' || s.state === 'uploading') && (
                      <button type="button" class="danger" onClick={() => void revoke(s)}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </main>
  )
}

const SHARE_STATES: Record<AdminShare['state'], string> = {
  uploading: 'Uploading',
  active: 'Active',
  suspended: 'Suspended (owner disabled)',
  revoked: 'Revoked',
  expired: 'Expired',
  exhausted: 'Used up',
}

function AccountRow({
  a,
  update,
}: {
  a: AdminAccount
  update: (a: AdminAccount, change: { disabled?: boolean; quotaBytes?: number | null }) => Promise<void>
}) {
  const [quota, setQuota] = useState(a.quotaBytes === null ? '' : String(a.quotaBytes / MiB))
  return (
    <tr data-user={a.username}>
      <td>
        {printable(a.username)}
        {a.admin && ' (admin)'}
      </td>
      <td>{a.devices}</td>
      <td>{formatSize(a.usedBytes)}</td>
      <td>
        <input
          aria-label={`${a.username}: quota (MiB, empty: default)`}
          inputMode="numeric"
          value={quota}
          onInput={(e) => setQuota(e.currentTarget.value)}
        />
        <button
          type="button"
          onClick={() =>
            void update(a, { quotaBytes: quota.trim() === '' ? null : Math.round(Number(quota) * MiB) })
          }
        >
          Set
        </button>
      </td>
      <td>
        {a.disabled ? 'Disabled ' : 'Active '}
        {!a.admin && (
          <button
            type="button"
            class={a.disabled ? '' : 'danger'}
            onClick={() => void update(a, { disabled: !a.disabled })}
          >
            {a.disabled ? 'Enable' : 'Disable'}
          </button>
        )}
      </td>
    </tr>
  )
}
