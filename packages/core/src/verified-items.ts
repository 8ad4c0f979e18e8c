import type { CommittedItem, Conversation, ItemTombstone } from './api.js'
import { fromBase64Url } from './bytes.js'
import { callEndpoint } from './call-endpoint.js'
import { requireAccepted } from './consent.js'
import type { Directory } from './directory.js'
import { BadResponseError, IdMismatchError, NotFoundError, SignatureError } from './errors.js'
import type { DeviceSecrets } from './identity.js'
import { type EarlyItem, openItem, type Sha256Factory } from './item.js'
import { type Manifest, openManifest, type ResolveLog } from './manifest.js'
import { checkLabelMatches } from './policy.js'
import type { ChunkAead } from './stream.js'
import { isServerError, type Transport } from './transport.js'

/**
 * Listing the items of a conversation and verifying them, for every client. A name, size or
 * sender is only ever shown from a manifest that passed core's `openManifest` against the
 * sender's verified device log; and only a member of the conversation (as this device verified
 * it: me, the pinned peer, or a member of the group at the group log position the item names)
 * may have sent it.
 * Anyone else is refused *before* their device log is fetched or pinned, so a server cannot make
 * a client pin an account of its choosing by listing an item under that account's name; and
 * nothing of a conversation I have not accepted (a request, a group invitation) is opened at all.
 */

/** What verifying items needs from a signed-in client. */
export interface ItemReader {
  readonly accountId: string
  readonly device: DeviceSecrets
  readonly directory: Directory
  /** A conversation as the server describes it (the client's own one without asking). */
  conversation(conversationId: string): Promise<Conversation>
  /** A faster AEAD where the runtime has one (the CLI's `node:crypto`). */
  readonly aead?: ChunkAead
}

/** A listed item after verification: its manifest, or why it was refused. */
export type VerifiedEntry =
  | { ok: true; item: CommittedItem; manifest: Manifest }
  | { ok: false; item: CommittedItem; error: unknown }

/**
 * The `resolveLog` for items of one conversation: it admits only an account that may have sent
 * the item (core's `Directory.senders`: in a group, a member at the group log position the
 * manifest names) and throws `SignatureError` for anyone else before asking the directory (which
 * would fetch and pin their log).
 */
export async function conversationResolveLog(r: ItemReader, conversationId: string): Promise<ResolveLog> {
  const conversation = await r.conversation(conversationId)
  // Nothing of a request or an invitation I have not accepted is opened (core's consent.ts).
  await requireAccepted(r.directory, r.accountId, conversation)
  const senders = await r.directory.senders(conversation)
  return async (accountId, atLeast, claimed) => {
    // openManifest always passes the manifest; a resolver called without one admits nobody.
    if (!claimed || claimed.sender.accountId !== accountId)
      throw new SignatureError('the item is signed by an account that is not in this conversation')
    await senders.admit(accountId, claimed.groupLog)
    return r.directory.resolveLog(accountId, atLeast)
  }
}

/** The item's sealed manifest bytes (base64url on the wire); `BadResponseError` if malformed. */
export function sealedManifestOf(item: CommittedItem): Uint8Array {
  try {
    return fromBase64Url(item.manifest)
  } catch {
    throw new BadResponseError('manifest')
  }
}

/**
 * Opens and verifies a listed item's manifest: `openManifest`'s checks in its order, the sender a
 * member of the conversation (checked first), the signed ciphertext size the one the server lists,
 * and the sensitivity label the server lists the one the sender signed (`PolicyError` otherwise).
 * Pass `resolveLog` from {@link conversationResolveLog} when opening many items of one conversation.
 */
export async function openListedItem(
  r: ItemReader,
  item: CommittedItem,
  resolveLog?: ResolveLog,
): Promise<Manifest> {
  const manifest = await openManifest({
    sealed: sealedManifestOf(item),
    device: r.device,
    expect: { itemId: item.itemId, conversationId: item.conversationId },
    resolveLog: resolveLog ?? (await conversationResolveLog(r, item.conversationId)),
    accountId: r.accountId,
    ...(r.aead ? { aead: r.aead } : {}),
  })
  if (manifest.ciphertextSize !== item.ciphertextSize) throw new BadResponseError('item size')
  // The server sees the label to enforce policy; it must not strip, add or change it.
  checkLabelMatches(manifest.label, item.sensitivity ?? null)
  return manifest
}

/**
 * Opens an item's ciphertext with core's `openItem` (size and hash checked against the signed
 * manifest) under the manifest this client verified before, never a second one the server might
 * swap in: `IdMismatchError` if the two differ.
 */
export async function openItemContent(
  r: ItemReader,
  item: CommittedItem,
  verified: Manifest,
  ciphertext: { stream(): ReadableStream<Uint8Array> },
  opts: { passes?: 1 | 2; sha256?: Sha256Factory } = {},
): Promise<{ manifest: Manifest; plaintext: ReadableStream<Uint8Array> }> {
  const opened = await openItem({
    sealed: sealedManifestOf(item),
    expect: { itemId: item.itemId, conversationId: item.conversationId },
    device: r.device,
    resolveLog: await conversationResolveLog(r, item.conversationId),
    accountId: r.accountId,
    ciphertext,
    ...(r.aead ? { aead: r.aead } : {}),
    ...opts,
  })
  if (opened.manifest.ciphertextSha256 !== verified.ciphertextSha256) throw new IdMismatchError()
  return opened
}

/**
 * Finishes an item followed while it was uploading (core's `openItemEarly`): the manifest is
 * verified exactly as {@link openListedItem} verifies it, sender membership first, then the bytes
 * that went through against it.
 */
export async function finishFollowedItem(
  r: ItemReader,
  item: CommittedItem,
  early: EarlyItem,
): Promise<Manifest> {
  const manifest = await early.finish({
    sealed: sealedManifestOf(item),
    expect: { itemId: item.itemId, conversationId: item.conversationId },
    resolveLog: await conversationResolveLog(r, item.conversationId),
    accountId: r.accountId,
  })
  checkLabelMatches(manifest.label, item.sensitivity ?? null)
  return manifest
}

/** Items and tombstones of a conversation after `since`, as the server lists them, in seq order. */
export interface ItemListing {
  items: (CommittedItem | ItemTombstone)[]
  /** The highest seq listed (`since` when nothing was). */
  last: number
  /** The server has more after `last`. */
  more: boolean
}

/**
 * Lists a conversation's items with `seq > since`, page by page, at most `maxPages` pages (a
 * server answering "more" forever cannot grow the list without end). `BadResponseError` for an
 * item out of order or from another conversation.
 */
export async function listItems(
  t: Transport,
  conversationId: string,
  since = 0,
  opts: { maxPages?: number; pageSize?: number } = {},
): Promise<ItemListing> {
  const items: (CommittedItem | ItemTombstone)[] = []
  let last = since
  let more = false
  const maxPages = opts.maxPages ?? Number.POSITIVE_INFINITY
  for (let page = 0; page < maxPages; page++) {
    const res = await callEndpoint(t, 'listItems', {
      params: { cid: conversationId },
      query: { since: last, limit: opts.pageSize ?? 500 },
    })
    for (const item of res.items) {
      if (item.conversationId !== conversationId || item.seq <= last)
        throw new BadResponseError('item list (out of order or from another conversation)')
      last = item.seq
      items.push(item)
    }
    more = res.more && res.items.length > 0
    if (!more) break
  }
  return { items, last, more }
}

/**
 * Opens every committed item of `items` (tombstones are skipped), each verified on its own: one
 * that does not verify is returned with its error, never with anything it claims.
 */
export async function verifyItems(
  r: ItemReader,
  conversationId: string,
  items: readonly (CommittedItem | ItemTombstone)[],
): Promise<VerifiedEntry[]> {
  const resolveLog = await conversationResolveLog(r, conversationId)
  const out: VerifiedEntry[] = []
  for (const item of items) {
    if (item.deleted) continue
    try {
      out.push({ ok: true, item, manifest: await openListedItem(r, item, resolveLog) })
    } catch (error) {
      out.push({ ok: false, item, error })
    }
  }
  return out
}

/** One committed item by id; `NotFoundError` if the server does not have it. */
export async function fetchItem(t: Transport, itemId: string): Promise<CommittedItem> {
  let item: CommittedItem
  try {
    item = await callEndpoint(t, 'getItem', { params: { id: itemId } })
  } catch (e) {
    if (isServerError(e, 'NOT_FOUND')) throw new NotFoundError(`no item ${itemId}`)
    throw e
  }
  if (item.itemId !== itemId) throw new BadResponseError('item (another id)')
  return item
}
