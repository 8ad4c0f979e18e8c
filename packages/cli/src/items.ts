import {
  type CommittedItem,
  checkLabelMatches,
  committedItemSchema,
  fromBase64Url,
  type ItemTombstone,
  listItemsResponseSchema,
  type Manifest,
  openManifest,
  type ResolveLog,
  SignatureError,
} from '@airlock/core'
import { nodeAead } from '@airlock/core/node'
import { listConversations } from './conversations.js'
import { CliError, isApiError } from './errors.js'
import type { Session } from './session.js'

/**
 * Items of my conversations as the server lists them, and their manifests opened and verified: a
 * name, size or sender is only ever shown from a manifest that passed core's `openManifest`
 * against the sender's verified device log (mine, or a colleague's pinned one).
 */

const PAGE = 500

/** Every item (and tombstone) of a conversation (default: my own) with `seq > since`, in seq order. */
export async function listItems(
  s: Session,
  since = 0,
  cid = s.config.selfConversationId,
): Promise<(CommittedItem | ItemTombstone)[]> {
  const out: (CommittedItem | ItemTombstone)[] = []
  let cursor = since
  for (;;) {
    const page = await s.client.json('GET', `/conversations/${cid}/items`, listItemsResponseSchema, {
      query: { since: cursor, limit: PAGE },
    })
    for (const item of page.items) {
      if (item.conversationId !== cid || item.seq <= cursor) {
        throw new CliError(
          'BAD_RESPONSE',
          'the server listed items out of order or from another conversation',
        )
      }
      cursor = item.seq
      out.push(item)
    }
    if (!page.more || page.items.length === 0) return out
  }
}

/** One committed item by id; `NOT_FOUND` if the server does not have it. */
export async function fetchItem(s: Session, itemId: string): Promise<CommittedItem> {
  let item: CommittedItem
  try {
    item = await s.client.json('GET', `/items/${encodeURIComponent(itemId)}`, committedItemSchema)
  } catch (e) {
    if (isApiError(e, 'NOT_FOUND')) throw new CliError('NOT_FOUND', `no item ${itemId}`)
    throw e
  }
  if (item.itemId !== itemId) throw new CliError('BAD_RESPONSE', 'the server sent another item')
  return item
}

/** Resolves an id or a unique prefix of at least 4 characters to a committed item. */
export async function findItem(s: Session, idOrPrefix: string): Promise<CommittedItem> {
  if (/^[A-Za-z0-9_-]{22}$/.test(idOrPrefix)) return fetchItem(s, idOrPrefix)
  if (!/^[A-Za-z0-9_-]{4,21}$/.test(idOrPrefix))
    throw new CliError('USAGE', 'an item id has 22 characters (or give a unique prefix of 4 or more)')
  const matches: CommittedItem[] = []
  for (const c of await listConversations(s)) {
    for (const i of await listItems(s, 0, c.conversationId)) {
      if (!i.deleted && i.itemId.startsWith(idOrPrefix)) matches.push(i)
    }
  }
  if (matches.length === 0) throw new CliError('NOT_FOUND', `no item starts with ${idOrPrefix}`)
  if (matches.length > 1)
    throw new CliError('USAGE', `${idOrPrefix} matches ${matches.length} items; give more of the id`)
  return matches[0]!
}

/** The item's sealed manifest bytes (base64url on the wire). */
export function sealedManifest(item: CommittedItem): Uint8Array {
  try {
    return fromBase64Url(item.manifest)
  } catch {
    throw new CliError('BAD_RESPONSE', 'the server sent a malformed manifest')
  }
}

/**
 * Decrypts and verifies an item's manifest (see core `openManifest` for the order of checks), and
 * that the server lists the sensitivity label the sender signed (`PolicyError` otherwise).
 */
export async function openItemManifest(s: Session, item: CommittedItem): Promise<Manifest> {
  const m = await openManifest({ ...(await manifestInput(s, item)), device: s.device, aead: nodeAead })
  checkLabelMatches(m.label, item.sensitivity)
  return m
}

/**
 * What core needs to verify an item's manifest. Only a member of the conversation (as verified
 * here, not as the server lists it) may have sent it: anyone else is refused before their log is
 * even fetched or pinned.
 */
export async function manifestInput(
  s: Session,
  item: CommittedItem,
): Promise<{
  sealed: Uint8Array
  expect: { itemId: string; conversationId: string }
  resolveLog: ResolveLog
  accountId: string
}> {
  const senders = await s.directory.senders(await s.conversation(item.conversationId))
  return {
    sealed: sealedManifest(item),
    expect: { itemId: item.itemId, conversationId: item.conversationId },
    resolveLog: (accountId, atLeast) => {
      if (!senders.has(accountId)) {
        throw new SignatureError('the item is signed by an account that is not in this conversation')
      }
      return s.resolveLog(accountId, atLeast)
    },
    accountId: s.config.accountId,
  }
}

/** The file name an item is saved under (before sanitising): its name, or a dated one for notes. */
export function itemFileName(m: Manifest): string {
  if (m.kind === 'note') {
    const d = new Date(m.created)
    const p = (x: number) => String(x).padStart(2, '0')
    const stamp = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`
    return `note-${stamp}.txt`
  }
  return m.filename || 'unnamed'
}
