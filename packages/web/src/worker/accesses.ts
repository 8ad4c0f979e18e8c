import { type AccessHead, fetchVerifiedAccessLog } from '@airlock/core'
import type { Account } from './account.ts'
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

/**
 * Who downloaded an item this account sent: core's `fetchVerifiedAccessLog`, against the head this
 * browser verified last time (kept in IndexedDB), so an edited, deleted or reordered row on the
 * server — or a history rewritten since — fails with `ACCESS_LOG_TAMPERED` instead of showing a list.
 */
export async function itemAccesses(account: Account, itemId: string): Promise<AccessRow[]> {
  const { entries } = await fetchVerifiedAccessLog(account.api, itemId, {
    get: (id) => store.get<AccessHead>(`access-pin:${id}`),
    put: (id, head) => store.put(`access-pin:${id}`, head),
  })
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
