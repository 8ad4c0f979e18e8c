import { type AccessEntry, type AccessHead, verifyAccessLog } from './access-log.js'
import { callEndpoint } from './call-endpoint.js'
import { BadResponseError, NotFoundError } from './errors.js'
import { isServerError, type Transport } from './transport.js'

/**
 * The access log of an item this account sent, as its owner reads it: every page of
 * `GET /items/:id/accesses`, verified as one hash chain from the first access (`verifyAccessLog`)
 * and against the head this client pinned at its last look, which is then moved forward.
 */

/** Where a client keeps the access-log head it verified last, per item (a file, IndexedDB). */
export interface AccessPinStore {
  get(itemId: string): Promise<AccessHead | undefined>
  put(itemId: string, head: AccessHead): Promise<void>
}

const PAGE = 500

/**
 * Fetches and verifies the whole access log of `itemId` and pins its head in `pins` (if given).
 * Returns the entries, oldest first, and the head. Throws `AccessLogError` when the chain does not
 * verify or no longer holds the pinned head (nothing is pinned then), `NotFoundError` when this
 * account sent no such item, `BadResponseError` for the log of another item, and the transport's
 * errors (a `ServerError` `FORBIDDEN` when another account sent it).
 */
export async function fetchVerifiedAccessLog(
  t: Transport,
  itemId: string,
  pins?: AccessPinStore,
): Promise<{ entries: AccessEntry[]; head: AccessHead }> {
  const entries: AccessEntry[] = []
  for (;;) {
    let page: Awaited<ReturnType<typeof callEndpoint<'listAccesses'>>>
    try {
      page = await callEndpoint(t, 'listAccesses', {
        params: { id: itemId },
        query: { since: entries.length, limit: PAGE },
      })
    } catch (e) {
      if (isServerError(e, 'NOT_FOUND')) throw new NotFoundError(`no item ${itemId} sent by this account`)
      throw e
    }
    if (page.itemId !== itemId) throw new BadResponseError('access log (of another item)')
    entries.push(...page.accesses)
    if (!page.more || page.accesses.length === 0) break
  }
  const head = verifyAccessLog(itemId, entries, await pins?.get(itemId))
  await pins?.put(itemId, head)
  return { entries, head }
}
