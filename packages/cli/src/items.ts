import {
  type CommittedItem,
  fetchItem,
  type ItemTombstone,
  listItems as listConversationItems,
  type Manifest,
  openListedItem,
} from '@airlock/core'
import { listConversations } from './conversations.js'
import { CliError } from './errors.js'
import type { Session } from './session.js'

/**
 * Items of my conversations as the server lists them, opened and verified by core
 * (`openListedItem`: membership first, then the manifest against the sender's verified log).
 * What is left here is the CLI's own: finding an item by a prefix of its id, and file names.
 */

/** Every item (and tombstone) of a conversation (default: my own) with `seq > since`, in seq order. */
export async function listItems(
  s: Session,
  since = 0,
  cid = s.config.selfConversationId,
): Promise<(CommittedItem | ItemTombstone)[]> {
  return (await listConversationItems(s.client, cid, since)).items
}

/** Resolves an id or a unique prefix of at least 4 characters to a committed item. */
export async function findItem(s: Session, idOrPrefix: string): Promise<CommittedItem> {
  if (/^[A-Za-z0-9_-]{22}$/.test(idOrPrefix)) return fetchItem(s.client, idOrPrefix)
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

/** Decrypts and verifies an item's manifest with core's `openListedItem`. */
export function openItemManifest(s: Session, item: CommittedItem): Promise<Manifest> {
  return openListedItem(s, item)
}

/** The file name an item is saved under (core's, shared with the web app and share links). */
export { itemFileName } from '@airlock/core'
