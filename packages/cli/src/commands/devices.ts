import { resolve } from 'node:path'
import {
  type DeviceRecord,
  deviceFingerprint,
  logFingerprint,
  NotFoundError,
  printable,
  type VerifiedLog,
} from '@airlock/core'
import type { Context } from '../context.js'
import { CliError, isApiError } from '../errors.js'
import { acceptLink } from '../linking.js'
import { formatTime } from '../output.js'
import { confirm, readSecret } from '../prompt.js'
import { Session } from '../session.js'
import { checkRecoveryOut, createRecoveryKey } from './setup.js'

/** `airlock devices`: the active devices of my verified device log. */
export async function listDevices(ctx: Context, opts: { all?: boolean }): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const log = s.log
  const removed = new Set(log.entries.filter((e) => e.op === 'remove').map((e) => e.device.id))
  const records = opts.all
    ? log.entries.filter((e) => e.op !== 'remove').map((e) => e.device)
    : [...log.active]
  const rows = records.map((d) => ({
    deviceId: d.id,
    name: d.name,
    kind: d.kind,
    created: d.created,
    fingerprint: deviceFingerprint(d),
    active: !removed.has(d.id),
    thisDevice: d.id === s.deviceId,
  }))
  ctx.out.result(
    { accountId: log.accountId, logSeq: log.seq, logFingerprint: logFingerprint(log), devices: rows },
    [
      ...rows.map(
        (r) =>
          `${r.thisDevice ? '*' : ' '} ${r.deviceId}  ${printable(r.name)} (${r.kind}${r.active ? '' : ', removed'}, added ${formatTime(r.created)})\n    fingerprint ${r.fingerprint}`,
      ),
      `Device log ${log.seq}: ${logFingerprint(log)} (the same on every device of the account)`,
    ],
  )
}

/**
 * `airlock devices approve`: adds a new device that runs `airlock link`, after the person has
 * compared the confirmation code shown on both devices.
 */
export async function approveDevice(ctx: Context, opts: { codeFile?: string }): Promise<void> {
  const { out } = ctx
  const s = await Session.open(ctx.home, out)
  const input = await readSecret({
    env: 'AIRLOCK_LINK_CODE',
    file: opts.codeFile,
    question: 'Code (or link) shown on the new device: ',
  })
  const record = await acceptLink(
    s.client,
    input,
    async (r, fingerprint) => {
      out.result({ event: 'device', deviceId: r.id, name: r.name, kind: r.kind, fingerprint }, [
        `New device: "${printable(r.name)}" (${r.kind}) ${r.id}`,
        `  device fingerprint  ${deviceFingerprint(r)}`,
        `Confirmation code:    ${fingerprint}`,
        'It must be exactly the code the new device shows.',
      ])
      return confirm('Add this device to your account?')
    },
    async (r) => {
      const next = await appendWithRetry(s, 'add', r)
      return { accountId: next.accountId, seq: next.seq, head: next.head }
    },
  )
  out.result(
    { event: 'approved', deviceId: record.id, name: record.name },
    `Added "${printable(record.name)}" ${record.id} to your devices.`,
  )
}

/** `airlock devices remove <id>`: appends a `remove` entry; the device can no longer log in. */
export async function removeDevice(ctx: Context, id: string): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const matches = s.log.active.filter((d) => d.id === id || (id.length >= 4 && d.id.startsWith(id)))
  if (matches.length === 0)
    throw new NotFoundError(`no active device ${printable(id)} (see \`airlock devices\`)`)
  if (matches.length > 1)
    throw new CliError('USAGE', `${printable(id)} matches several devices; give more of the id`)
  const target = matches[0]!
  if (s.log.active.length === 1) throw new CliError('USAGE', 'this is the only device of the account')
  const next = await appendWithRetry(s, 'remove', target)
  if (target.id === s.deviceId) ctx.out.warn('this device removed itself: it can no longer log in')
  ctx.out.result(
    { removed: target.id, name: target.name, logSeq: next.seq },
    `Removed "${printable(target.name)}" ${target.id}. It can no longer log in or receive new items.`,
  )
}

/** Appends an entry, syncing and retrying once if another device appended first. */
async function appendWithRetry(s: Session, op: 'add' | 'remove', record: DeviceRecord): Promise<VerifiedLog> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await s.appendLog(op, record)
    } catch (e) {
      if (attempt > 0 || !isApiError(e, 'STALE_HEAD')) throw e
      await s.syncLog()
    }
  }
}

/**
 * `airlock devices add-recovery`: a new paper recovery key (e.g. after losing the old one, which
 * `devices remove` then revokes).
 */
export async function addRecovery(ctx: Context, opts: { recoveryOut?: string }): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const path = opts.recoveryOut ?? resolve(`airlock-recovery-${s.config.username}.txt`)
  await checkRecoveryOut(path)
  const { recovery, next } = await createRecoveryKey(ctx, s.client, s.log, s.device, path)
  await s.adoptLog(next)
  ctx.out.result(
    { recoveryDeviceId: recovery.record.id, recoveryFile: path === '-' ? null : path },
    path === '-'
      ? []
      : [
          `New recovery key ${recovery.record.id} written to ${path}. Store it offline, then delete the file.`,
        ],
  )
}
