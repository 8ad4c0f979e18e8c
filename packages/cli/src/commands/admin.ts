import {
  type AdminAccount,
  adminAccountSchema,
  adminAccountsResponseSchema,
  adminShareSchema,
  adminSharesResponseSchema,
  createInviteResponseSchema,
  findLabel,
  isServerError,
  labelNameSchema,
  NotFoundError,
  type Policy,
  policyResponseSchema,
  policySchema,
  printable,
  shareIdSchema,
} from '@airlock/core'
import type { Context } from '../context.js'
import { CliError } from '../errors.js'
import { formatBytes, formatTime } from '../output.js'
import { Session } from '../session.js'

/**
 * `airlock invite` and `airlock admin …`: invitations, the organisation's policy, accounts and
 * every account's share links.
 * Administrators manage accounts and policy; the server gives them sizes and counts, never content.
 */

/** `airlock invite`: a one-time invite code (administrators, or everyone if the policy allows). */
export async function invite(ctx: Context, opts: { hours?: string }): Promise<void> {
  const hours = opts.hours === undefined ? undefined : Number(opts.hours)
  if (hours !== undefined && (!Number.isInteger(hours) || hours < 1 || hours > 720)) {
    throw new CliError('USAGE', '--hours is a whole number from 1 to 720')
  }
  await asAdmin(ctx, 'only administrators can invite on this server', async (s) => {
    const r = await s.client.json('POST', '/invites', createInviteResponseSchema, {
      body: hours === undefined ? {} : { expiresInHours: hours },
    })
    ctx.out.result({ code: r.code, expiresAt: r.expiresAt }, [
      `Invite code: ${r.code}`,
      `Valid once, until ${formatTime(r.expiresAt)}. The new user runs: airlock setup ${s.config.server}`,
    ])
  })
}

/** `airlock admin policy [show]`: the policy in force (every account may read it). */
export async function showPolicy(ctx: Context): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out, { sync: false })
  const p = await s.client.json('GET', '/policy', policyResponseSchema)
  ctx.out.result(p, describePolicy(p))
}

/** `airlock admin policy set <key> <value>`: changes one setting (read, change, write back). */
export async function setPolicy(ctx: Context, key: string, value: string): Promise<void> {
  await asAdmin(ctx, 'only administrators can change the policy', async (s) => {
    const current = await s.client.json('GET', '/policy', policyResponseSchema)
    const next = applySetting(current, key, value)
    const p = await s.client.json('PUT', '/admin/policy', policyResponseSchema, { body: next })
    ctx.out.result(p, ['policy updated', ...describePolicy(p)])
  })
}

/** `airlock admin users`: every account with its devices, usage, quota and state. */
export async function listUsers(ctx: Context): Promise<void> {
  await asAdmin(ctx, 'only administrators can list accounts', async (s) => {
    const r = await s.client.json('GET', '/admin/accounts', adminAccountsResponseSchema)
    ctx.out.result(
      r,
      r.accounts.map(
        (a) =>
          `${printable(a.username).padEnd(20)} ${a.admin ? 'admin' : '     '}  ${a.disabled ? 'DISABLED' : 'active  '}  ${String(a.devices).padStart(2)} device${a.devices === 1 ? ' ' : 's'}  ${formatBytes(a.usedBytes).padStart(9)} used  quota ${a.quotaBytes === null ? 'default' : formatBytes(a.quotaBytes)}`,
      ),
    )
  })
}

/** `airlock admin disable|enable <username>`. */
export async function setDisabled(ctx: Context, username: string, disabled: boolean): Promise<void> {
  await asAdmin(ctx, 'only administrators can disable accounts', async (s) => {
    const a = await accountByName(s, username)
    const r = await updateAccount(s, a, { disabled })
    ctx.out.result(
      r,
      `${printable(r.username)} is ${r.disabled ? 'disabled: it cannot log in, its sessions ended' : 'enabled'}`,
    )
  })
}

/** `airlock admin quota <username> <size|default>`. */
export async function setQuota(ctx: Context, username: string, size: string): Promise<void> {
  const quotaBytes = /^(default|none)$/i.test(size) ? null : parseSize(size)
  await asAdmin(ctx, 'only administrators can set quotas', async (s) => {
    const a = await accountByName(s, username)
    const r = await updateAccount(s, a, { quotaBytes })
    ctx.out.result(
      r,
      `${printable(r.username)}: quota ${r.quotaBytes === null ? "the server's default" : formatBytes(r.quotaBytes)}`,
    )
  })
}

/** `airlock admin shares`: every account's share links (owner, dates, downloads, state; no content). */
export async function listAllShares(ctx: Context): Promise<void> {
  await asAdmin(ctx, 'only administrators can list share links', async (s) => {
    const r = await s.client.json('GET', '/admin/shares', adminSharesResponseSchema)
    ctx.out.result(
      r,
      r.shares.length === 0
        ? ['no share links']
        : r.shares.map(
            (x) =>
              `${x.shareId}  ${printable(x.username).padEnd(16)} ${x.state.padEnd(9)}  created ${formatTime(x.createdAt)}  expires ${formatTime(x.expiresAt)}  ${x.downloads}${x.maxDownloads === null ? '' : `/${x.maxDownloads}`} downloads  ${x.files} file${x.files === 1 ? '' : 's'}, ${formatBytes(x.ciphertextSize)}`,
          ),
    )
  })
}

/** `airlock admin revoke-share <id>`: revokes any account's share link at once. */
export async function revokeAnyShare(ctx: Context, shareId: string): Promise<void> {
  if (!shareIdSchema.safeParse(shareId).success) throw new CliError('USAGE', 'not a share link id')
  await asAdmin(ctx, 'only administrators can revoke the share links of others', async (s) => {
    const r = await s.client.json('DELETE', `/admin/shares/${shareId}`, adminShareSchema)
    ctx.out.result(r, `share link ${r.shareId} of ${printable(r.username)} is ${r.state}`)
  })
}

async function asAdmin(ctx: Context, refused: string, f: (s: Session) => Promise<void>): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out, { sync: false })
  try {
    await f(s)
  } catch (e) {
    if (isServerError(e, 'FORBIDDEN'))
      throw new CliError('NOT_ADMIN', `${refused} (this account is not an administrator)`)
    throw e
  }
}

async function accountByName(s: Session, username: string): Promise<AdminAccount> {
  const r = await s.client.json('GET', '/admin/accounts', adminAccountsResponseSchema)
  const a = r.accounts.find((x) => x.username === username.toLowerCase())
  if (!a) throw new NotFoundError(`no account named ${printable(username)}`)
  return a
}

async function updateAccount(
  s: Session,
  a: AdminAccount,
  body: { disabled?: boolean; quotaBytes?: number | null },
): Promise<AdminAccount> {
  try {
    return await s.client.json('PATCH', `/admin/accounts/${a.accountId}`, adminAccountSchema, { body })
  } catch (e) {
    if (isServerError(e, 'CONFLICT'))
      throw new CliError('USAGE', 'an administrator cannot disable their own account')
    throw e
  }
}

/** The settings `policy set` knows, with their value syntax (for `--help` and errors). */
export const POLICY_KEYS = [
  'invitations admins|everyone',
  'max-item-size <size>|none',
  'item-lifetime <duration>|none',
  'share-links on|off',
  'share-link-max-lifetime <duration>',
  'colleague-requests on|off',
  'labels <Name,Name,...>',
  'label.<Name>.share-links on|off',
  'label.<Name>.max-retention <duration>|none',
] as const

/** The policy with one setting changed; `USAGE` for an unknown key or a bad value. */
export function applySetting(p: Policy, key: string, value: string): Policy {
  const next: Policy = structuredClone(p)
  const labelKey = /^label\.([^.]+)\.(share-links|max-retention)$/.exec(key)
  if (labelKey) {
    const rule = findLabel(next, labelKey[1]!)
    if (!rule)
      throw new CliError('USAGE', `no label ${printable(labelKey[1]!)} in the policy (set labels first)`)
    if (labelKey[2] === 'share-links') rule.shareLinks = onOff(value)
    else rule.maxRetentionMs = orNone(value, parseDuration)
  } else {
    switch (key) {
      case 'invitations':
        if (value !== 'admins' && value !== 'everyone')
          throw new CliError('USAGE', 'invitations: admins or everyone')
        next.invitations = value
        break
      case 'max-item-size':
        next.maxItemBytes = orNone(value, parseSize)
        break
      case 'item-lifetime':
        next.itemLifetimeMs = orNone(value, parseDuration)
        break
      case 'share-links':
        next.shareLinks.allowed = onOff(value)
        break
      case 'share-link-max-lifetime':
        next.shareLinks.maxLifetimeMs = parseDuration(value)
        break
      case 'colleague-requests':
        next.colleagueRequests = onOff(value)
        break
      case 'labels': {
        const names = value
          .split(',')
          .map((n) => n.trim())
          .filter((n) => n.length > 0)
        for (const n of names) {
          if (!labelNameSchema.safeParse(n).success)
            throw new CliError('USAGE', `not a valid label name: ${printable(n)}`)
        }
        // Existing labels keep their rules; new ones start unrestricted.
        next.labels = names.map((name) => {
          const old = findLabel(p, name)
          return old ? { ...old, name } : { name, shareLinks: true, maxRetentionMs: null }
        })
        break
      }
      default:
        throw new CliError(
          'USAGE',
          `unknown policy setting ${printable(key)}; one of:\n  ${POLICY_KEYS.join('\n  ')}`,
        )
    }
  }
  const r = policySchema.safeParse(next)
  if (!r.success) throw new CliError('USAGE', `invalid policy: ${r.error.issues[0]?.message ?? 'rejected'}`)
  return r.data
}

/** People's lines for a policy. */
export function describePolicy(p: Policy): string[] {
  const d = (ms: number | null) => (ms === null ? 'none' : formatDuration(ms))
  return [
    `invitations              ${p.invitations === 'admins' ? 'administrators only' : 'every account'}`,
    `max-item-size            ${p.maxItemBytes === null ? "the server's limit" : formatBytes(p.maxItemBytes)}`,
    `item-lifetime            ${p.itemLifetimeMs === null ? 'kept until deleted' : formatDuration(p.itemLifetimeMs)}`,
    `share-links              ${p.shareLinks.allowed ? 'on' : 'off'}`,
    `share-link-max-lifetime  ${formatDuration(p.shareLinks.maxLifetimeMs)}`,
    `colleague-requests       ${p.colleagueRequests ? 'on (a first contact is a request)' : 'off (colleagues reach each other at once)'}`,
    `labels                   ${p.labels.length === 0 ? '(none)' : p.labels.map((l) => l.name).join(', ')}`,
    ...p.labels.map(
      (l) =>
        `  ${l.name.padEnd(22)} share links ${l.shareLinks ? 'allowed' : 'forbidden'}, max retention ${d(l.maxRetentionMs)}`,
    ),
  ]
}

function onOff(v: string): boolean {
  if (/^(on|yes|true|allowed)$/i.test(v)) return true
  if (/^(off|no|false|forbidden)$/i.test(v)) return false
  throw new CliError('USAGE', `expected on or off, not ${printable(v)}`)
}

function orNone<T>(v: string, parse: (v: string) => T): T | null {
  return /^(none|off|unlimited)$/i.test(v) ? null : parse(v)
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** A byte size: `1048576`, `512M`, `16G`, `1.5T` (binary units). */
export function parseSize(v: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(v)
  const n = m ? Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!) : Number.NaN
  if (!Number.isSafeInteger(n) || n < 1)
    throw new CliError('USAGE', `not a size: ${printable(v)} (e.g. 500M, 2G)`)
  return n
}

const DURATION_UNITS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}

/** A duration: `90s`, `15m`, `12h`, `30d`, `2w`. */
export function parseDuration(v: string): number {
  const m = /^\s*([0-9]+)\s*([smhdw])\s*$/i.exec(v)
  const n = m ? Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]! : Number.NaN
  if (!Number.isSafeInteger(n) || n < 1000)
    throw new CliError('USAGE', `not a duration: ${printable(v)} (e.g. 12h, 30d)`)
  return n
}

/** `30d`, `12h`, `15m` or seconds, whichever is exact. */
export function formatDuration(ms: number): string {
  for (const [u, f] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (ms % f === 0) return `${ms / f}${u}`
  }
  return `${Math.round(ms / 1000)}s`
}
