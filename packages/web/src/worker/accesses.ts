import { type AccessEntry, type AccessHead, listAccessesResponseSchema, verifyAccessLog } from '@airlock/core'
import type { Account } from './account.ts'
import { badResponse } from './api.ts'
import * as store from './store.ts'

/** One download of an item, for the Accesses dialog: only from a chain that verified. */
export interface AccessRow {
  seq: number
  at: number
  /** A device name from the verified device log, a device or account id, or a share link. */
  who: string
  kind: 'device' | 'link' | 'other-account'
  address: string
}

const PAGE = 500

/**
 * Who downloaded an item this account sent: the whole access chain from its first entry,
 * verified here (core's `verifyAccessLog`) and against the head this browser verified last time
 * (kept in IndexedDB), so an edited, deleted or reordered row on the server — or a history
 * rewritten since — fails with `ACCESS_LOG_TAMPERED` instead of showing a list.
 */
export async function itemAccesses(account: Account, itemId: string): Promise<AccessRow[]> {
  const entries: AccessEntry[] = []
  for (;;) {
    const page = await account.api.json('GET', `/items/${itemId}/accesses`, listAccessesResponseSchema, {
      query: { since: entries.length, limit: PAGE },
    })
    if (page.itemId !== itemId) throw badResponse()
    entries.push(...page.accesses)
    if (!page.more || page.accesses.length === 0) break
  }
  const key = `access-pin:${itemId}`
  const head = verifyAccessLog(itemId, entries, await store.get<AccessHead>(key))
  await store.put(key, head)
  const names = new Map(account.log.entries.map((e) => [e.device.id, e.device.name]))
  return entries.map((e) => ({
    seq: e.seq,
    at: e.at,
    address: e.address,
    ...(e.shareId !== null
      ? { who: `link ${e.shareId}`, kind: 'link' as const }
      : e.accountId === account.info.accountId
        ? { who: names.get(e.deviceId ?? '') ?? `device ${e.deviceId}`, kind: 'device' as const }
        : { who: `account ${e.accountId} device ${e.deviceId}`, kind: 'other-account' as const }),
  }))
}
