import {
  type AccessEntry,
  type AccessHead,
  BadResponseError,
  itemIdSchema,
  listAccessesResponseSchema,
  NotFoundError,
  printable,
  verifyAccessLog,
} from '@airlock/core'
import { z } from 'zod'
import { readJson, writeFileAtomic } from '../config.js'
import type { Context } from '../context.js'
import { CliError, isApiError } from '../errors.js'
import { formatTime } from '../output.js'
import { Session } from '../session.js'

const PAGE = 500

const pinsSchema = z.strictObject({
  v: z.literal(1),
  items: z.record(z.string(), z.strictObject({ seq: z.number().int().min(0), hash: z.string() })),
})
type Pins = z.infer<typeof pinsSchema>

/**
 * `airlock accesses <item-id>`: every download of an item this account sent, verified as one hash
 * chain from the item's first access (core's `verifyAccessLog`) and against the head this device
 * verified last time (kept in `accesses.json`), so rows edited, deleted or reordered in the
 * server's database — or a history rewritten since — end in exit 9 instead of a list.
 */
export async function accesses(ctx: Context, id: string): Promise<void> {
  const itemId = itemIdSchema.safeParse(id)
  if (!itemId.success) throw new CliError('USAGE', 'that is not an item id (see `airlock inbox`)')
  const s = await Session.open(ctx.home, ctx.out)
  const entries = await fetchAccesses(s, itemId.data)
  const pins: Pins = (await readJson(s.home.accesses, pinsSchema)) ?? { v: 1, items: {} }
  const head: AccessHead = verifyAccessLog(itemId.data, entries, pins.items[itemId.data])
  pins.items[itemId.data] = head
  await writeFileAtomic(s.home.accesses, JSON.stringify(pins))
  const rows = entries.map((e) => ({ ...e, who: who(s, e) }))
  ctx.out.result(
    { itemId: itemId.data, verified: true, head, accesses: rows },
    rows.length === 0
      ? ['(no downloads yet)']
      : [
          ...rows.map(
            (r) =>
              `${String(r.seq).padStart(4)}  ${formatTime(r.at)}  ${r.who}  from ${printable(r.address)}`,
          ),
          `${rows.length} download${rows.length === 1 ? '' : 's'}; the log verifies (hash chain from the first access)`,
        ],
  )
}

async function fetchAccesses(s: Session, itemId: string): Promise<AccessEntry[]> {
  const out: AccessEntry[] = []
  for (;;) {
    let page: z.infer<typeof listAccessesResponseSchema>
    try {
      page = await s.client.json('GET', `/items/${itemId}/accesses`, listAccessesResponseSchema, {
        query: { since: out.length, limit: PAGE },
      })
    } catch (e) {
      if (isApiError(e, 'NOT_FOUND')) throw new NotFoundError(`no item ${itemId} sent by this account`)
      if (isApiError(e, 'FORBIDDEN'))
        throw new CliError('USAGE', 'only the sending account can see who downloaded this item')
      throw e
    }
    if (page.itemId !== itemId) throw new BadResponseError('access log (of another item)')
    out.push(...page.accesses)
    if (!page.more || page.accesses.length === 0) return out
  }
}

/** A device of mine by name, another account's device by ids, or a share link. */
function who(s: Session, e: AccessEntry): string {
  if (e.shareId !== null) return `link ${e.shareId}`
  if (e.accountId === s.config.accountId && e.deviceId !== null) {
    const name = s.deviceName(e.deviceId)
    return name === e.deviceId ? `device ${e.deviceId}` : `${printable(name)} (${e.deviceId.slice(0, 8)})`
  }
  return `account ${e.accountId ?? '?'} device ${e.deviceId ?? '?'}`
}
