import { resolve } from 'node:path'
import { BadResponseError, type CommittedItem, deleteItemResponseSchema, printable } from '@airlock/core'
import type { Context } from '../context.js'
import { conversationLabel, listConversations, resolveTarget } from '../conversations.js'
import { receiveItem } from '../download.js'
import { CliError, describeError, isApiError } from '../errors.js'
import { findItem, itemFileName, listItems, openItemManifest } from '../items.js'
import { formatBytes, formatTime } from '../output.js'
import { receivedMode } from '../placement.js'
import { checkRisk, reportRisk, riskByName } from '../risky.js'
import { Session } from '../session.js'

/**
 * `airlock inbox [--in who]`: items of all my conversations (or one), each shown only from its
 * verified manifest, with where it was sent ("me", "@colleague", "#group") and who sent it.
 */
export async function inbox(ctx: Context, opts: { in?: string } = {}): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const conversations = opts.in === undefined ? await listConversations(s) : [await resolveTarget(s, opts.in)]
  const rows = []
  for (const c of conversations) {
    const where = await conversationLabel(s, c)
    const items = (await listItems(s, 0, c.conversationId)).filter((i): i is CommittedItem => !i.deleted)
    for (const item of items) {
      try {
        const m = await openItemManifest(s, item)
        rows.push({
          itemId: item.itemId,
          conversationId: c.conversationId,
          in: where,
          seq: item.seq,
          kind: m.kind,
          name: m.kind === 'note' ? null : m.filename,
          size: m.plaintextSize,
          fromAccount: m.sender.accountId,
          fromDevice: m.sender.deviceId,
          fromName: await s.senderName(m.sender.accountId, m.sender.deviceId),
          created: m.created,
          label: m.label ?? null,
          expiresAt: item.expiresAt ?? null,
          // From the name alone, as it would be saved; `get` judges the content too.
          risk: m.kind === 'file' ? riskByName(m.filename) : null,
          verified: true as const,
        })
      } catch (e) {
        rows.push({
          itemId: item.itemId,
          conversationId: c.conversationId,
          in: where,
          seq: item.seq,
          verified: false as const,
          error: describeError(e).code,
        })
      }
    }
  }
  ctx.out.result(
    { items: rows },
    rows.length === 0
      ? ['(no items)']
      : rows.map((r) =>
          r.verified
            ? `${r.itemId}  ${r.in.padEnd(12)}  ${formatTime(r.created)}  ${formatBytes(r.size).padStart(9)}  ${labelTag(r.label)}${r.name === null ? '(note)' : printable(r.name)}${r.risk ? `  [RISKY: ${r.risk.reasons.map((x) => x.detail).join(', ')}]` : ''}  from ${printable(r.fromName)}${r.expiresAt === null ? '' : `  (deleted ${formatTime(r.expiresAt)})`}`
            : r.error === 'NO_MATCH' || r.error === 'NOT_RECIPIENT'
              ? `${r.itemId}  ${r.in.padEnd(12)}  (not addressed to this device)`
              : r.error === 'LABEL_MISMATCH'
                ? `${r.itemId}  ${r.in.padEnd(12)}  REFUSED: the server changed its sensitivity label`
                : `${r.itemId}  ${r.in.padEnd(12)}  REFUSED: does not verify (${r.error})`,
        ),
  )
}

/** `airlock get <id> [--out dir] [--mode 600]`: downloads, verifies and saves one item. */
export async function get(ctx: Context, id: string, opts: { out?: string; mode?: string }): Promise<void> {
  const mode = receivedMode(opts.mode)
  const s = await Session.open(ctx.home, ctx.out)
  const item = await findItem(s, id)
  const r = await receiveItem(s, item, resolve(opts.out ?? '.'), ctx.out, mode)
  const name = itemFileName(r.manifest)
  const risk = r.manifest.kind === 'file' ? reportRisk(ctx.out, r.path, await checkRisk(r.path, name)) : null
  ctx.out.result(
    {
      itemId: r.itemId,
      kind: r.manifest.kind,
      name: r.manifest.kind === 'note' ? null : r.manifest.filename,
      size: r.manifest.plaintextSize,
      fromAccount: r.manifest.sender.accountId,
      fromDevice: r.manifest.sender.deviceId,
      label: r.manifest.label ?? null,
      path: r.path,
      risk,
    },
    `saved ${labelTag(r.manifest.label ?? null)}${printable(name)} (${formatBytes(r.manifest.plaintextSize)}) from ${printable(await s.senderName(r.manifest.sender.accountId, r.manifest.sender.deviceId))} to ${printable(r.path)}`,
  )
}

/** `airlock rm <id>`: deletes an item (and its blob) from the server. */
export async function rm(ctx: Context, id: string): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const item = await findItem(s, id)
  try {
    const r = await s.client.json('DELETE', `/items/${item.itemId}`, deleteItemResponseSchema)
    if (r.itemId !== item.itemId) throw new BadResponseError('delete answer (another item)')
  } catch (e) {
    if (isApiError(e, 'FORBIDDEN'))
      throw new CliError('USAGE', 'only the sending account can delete this item')
    throw e
  }
  ctx.out.result({ deleted: item.itemId }, `deleted ${item.itemId}`)
}

/** The label, prominent in front of the name: `[CONFIDENTIAL] `. Labels are from the signed manifest. */
function labelTag(label: string | null): string {
  return label === null ? '' : `[${printable(label).toUpperCase()}]  `
}
