import {
  type AccessEntry,
  type AccessPinStore,
  fetchVerifiedAccessLog,
  itemIdSchema,
  printable,
} from '@airlock/core'
import { z } from 'zod'
import { type HomePaths, readJson, writeFileAtomic } from '../config.js'
import type { Context } from '../context.js'
import { CliError, isApiError } from '../errors.js'
import { formatTime } from '../output.js'
import { Session } from '../session.js'

const pinsSchema = z.strictObject({
  v: z.literal(1),
  items: z.record(z.string(), z.strictObject({ seq: z.number().int().min(0), hash: z.string() })),
})

/** The access-log heads this device verified, one per item, in `accesses.json`. */
function pinFile(home: HomePaths): AccessPinStore {
  const load = async () => (await readJson(home.accesses, pinsSchema)) ?? { v: 1 as const, items: {} }
  return {
    get: async (itemId) => (await load()).items[itemId],
    put: async (itemId, head) => {
      const pins = await load()
      pins.items[itemId] = head
      await writeFileAtomic(home.accesses, JSON.stringify(pins))
    },
  }
}

/**
 * `airlock accesses <item-id>`: every download of an item this account sent, verified by core's
 * `fetchVerifiedAccessLog` against the head this device verified last time, so rows edited,
 * deleted or reordered in the server's database — or a history rewritten since — end in exit 9
 * instead of a list.
 */
export async function accesses(ctx: Context, id: string): Promise<void> {
  const itemId = itemIdSchema.safeParse(id)
  if (!itemId.success) throw new CliError('USAGE', 'that is not an item id (see `airlock inbox`)')
  const s = await Session.open(ctx.home, ctx.out)
  const { entries, head } = await fetchVerifiedAccessLog(s.client, itemId.data, pinFile(s.home)).catch(
    (e: unknown) => {
      if (isApiError(e, 'FORBIDDEN'))
        throw new CliError('USAGE', 'only the sending account can see who downloaded this item')
      throw e
    },
  )
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

/** A device of mine by name, another account's device by ids, or a share link. */
function who(s: Session, e: AccessEntry): string {
  if (e.shareId !== null) return `link ${e.shareId}`
  if (e.accountId === s.config.accountId && e.deviceId !== null) {
    const name = s.deviceName(e.deviceId)
    return name === e.deviceId ? `device ${e.deviceId}` : `${printable(name)} (${e.deviceId.slice(0, 8)})`
  }
  return `account ${e.accountId ?? '?'} device ${e.deviceId ?? '?'}`
}
