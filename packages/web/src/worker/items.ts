import {
  type CommittedItem,
  type Conversation,
  checkRecipientsUnchanged,
  commitItem,
  deleteItem,
  deleteItemResponseSchema,
  deviceNameIn,
  type ItemReader,
  type ItemRecipients,
  isAirlockError,
  itemCiphertextSize,
  itemRecipients,
  listItems,
  type Manifest,
  NotFoundError,
  openItemContent,
  RecipientsChangedError,
  RISK_SAMPLE_BYTES,
  readAll,
  reserveItem,
  sealItem,
  verifyItems,
} from '@airlock/core'
import { describeError, type ErrorInfo } from '../errors.ts'
import { type Risk, riskByName, riskOf } from '../risk.ts'
import type { Account } from './account.ts'
import { badResponse } from './api.ts'
import type { Conversations } from './conversations.ts'
import * as opfs from './opfs.ts'
import * as store from './store.ts'

/**
 * The timeline of a conversation: listing and verifying items (senders' logs from core's
 * `Directory`), sending (encrypt to every active device of every member, from verified logs only,
 * into OPFS, uploaded with core's tus uploader, then the manifest is committed), and
 * receiving (ciphertext to OPFS, checked against the signed hash, then decrypted to OPFS).
 */

/** One row of the timeline, from a manifest that passed every check of core's `openManifest`. */
export interface TimelineItem {
  itemId: string
  seq: number
  ok: true
  kind: 'file' | 'note'
  name: string
  type: string
  size: number
  created: number
  senderDeviceId: string
  senderName: string
  /** The sensitivity label the sender signed (and the server listed the same), or null. */
  label: string | null
  /** When retention deletes the item, or null. */
  expiresAt: number | null
  /** The colleague's username; absent for my own devices. */
  senderUser?: string
  /** A note's text (notes up to 64 KiB are opened at once). */
  text?: string
  risk: Risk | null
}

/** What the page hands the worker to send. */
export interface SendInput {
  data: Blob
  name: string
  type: string
  mtime: number
  kind: 'file' | 'note'
  /** A sensitivity label from the policy, as it spells it. */
  label?: string
}

/** An item that did not verify: shown as refused, never opened. */
export interface RefusedItem {
  itemId: string
  seq: number
  ok: false
  error: ErrorInfo
}

export interface PendingUpload {
  itemId: string
  /** Absent in uploads a previous version started: those went to myself. */
  conversationId?: string
  uploadUrl: string
  ciphertextSize: number
  sealed: Uint8Array
  name: string
  size: number
  kind: 'file' | 'note'
  created: number
  /** The device ids it is encrypted to; all must still be active when it is committed. */
  recipients: string[]
}

/** My own conversation, which the server is never asked about. */
function selfConversation(a: Account): Conversation {
  const cid = a.info.selfConversationId
  return { conversationId: cid, kind: 'self', members: [a.info.accountId], lastSeq: 0, createdAt: 0 }
}

/** Held shared while files are being written to OPFS, exclusively by the start-up cleanup. */
export const OPFS_LOCK = 'airlock-opfs'

const NOTE_PREVIEW_MAX = 64 * 1024
const spoolName = (itemId: string) => `up-${itemId}`

export class Items {
  private manifests = new Map<string, Manifest>()
  /** The item as the server listed it when its manifest verified (its sealed manifest, above all). */
  private listed = new Map<string, CommittedItem>()
  /** Items seen or deleted this session: a server replaying one under a new seq is ignored. */
  private seen = new Set<string>()

  constructor(
    private readonly account: Account,
    private readonly conversations: Conversations,
  ) {}

  /** What core needs to verify this account's items (see core's `verified-items.ts`). */
  private get reader(): ItemReader {
    const a = this.account
    return {
      accountId: a.info.accountId,
      device: a.device,
      directory: this.conversations.directory,
      conversation: async (cid) => {
        if (cid === a.info.selfConversationId) return selfConversation(a)
        const c = await this.conversations.conversation(cid)
        if (c.kind === 'self') throw badResponse('conversation (another self)')
        return c
      },
    }
  }

  /**
   * Items of `cid` after `since`, each verified by core (membership before any log is pinned);
   * tombstones as deleted ids. At most ten pages per call (the page calls again on the next push),
   * so a server answering "more" forever cannot grow this list without end.
   */
  async list(
    cid: string,
    since: number,
  ): Promise<{ items: (TimelineItem | RefusedItem)[]; deleted: string[]; last: number; more: boolean }> {
    const listing = await listItems(this.account.api, cid, since, { maxPages: 10 })
    const deleted: string[] = []
    const fresh: CommittedItem[] = []
    for (const it of listing.items) {
      if (it.deleted) {
        deleted.push(it.itemId)
        this.manifests.delete(it.itemId)
        this.listed.delete(it.itemId)
      } else if (!this.seen.has(it.itemId)) fresh.push(it)
      this.seen.add(it.itemId)
    }
    const out: (TimelineItem | RefusedItem)[] = []
    for (const v of await verifyItems(this.reader, cid, fresh)) {
      if (!v.ok) {
        out.push({ itemId: v.item.itemId, seq: v.item.seq, ok: false, error: describeError(v.error) })
        continue
      }
      try {
        out.push(await this.row(v.item, v.manifest))
      } catch (e) {
        out.push({ itemId: v.item.itemId, seq: v.item.seq, ok: false, error: describeError(e) })
      }
    }
    return { items: out, deleted, last: listing.last, more: listing.more }
  }

  /** A timeline row from a verified manifest; a short note's text is opened at once. */
  private async row(listed: CommittedItem, manifest: Manifest): Promise<TimelineItem> {
    const { itemId, seq } = listed
    this.manifests.set(itemId, manifest)
    this.listed.set(itemId, listed)
    let senderLog = this.account.log
    let senderUser: string | undefined
    if (manifest.sender.accountId !== this.account.info.accountId) {
      const c = await this.conversations.directory.colleague(manifest.sender.accountId)
      senderLog = c.log
      senderUser = c.pinned.username
    }
    const item: TimelineItem = {
      itemId,
      seq,
      ok: true,
      kind: manifest.kind,
      name: manifest.filename,
      type: manifest.type,
      size: manifest.plaintextSize,
      created: manifest.created,
      senderDeviceId: manifest.sender.deviceId,
      senderName: deviceNameIn(senderLog, manifest.sender.deviceId) ?? manifest.sender.deviceId,
      label: manifest.label ?? null,
      expiresAt: listed.expiresAt ?? null,
      ...(senderUser === undefined ? {} : { senderUser }),
      risk: manifest.kind === 'file' ? riskByName(manifest.filename) : null,
    }
    if (manifest.kind === 'note' && manifest.plaintextSize <= NOTE_PREVIEW_MAX) {
      item.text = new TextDecoder().decode(await this.fetchNote(listed, manifest))
    }
    return item
  }

  /** A short note's plaintext, fully verified, in memory. */
  private async fetchNote(listed: CommittedItem, manifest: Manifest): Promise<Uint8Array> {
    const res = await this.account.api.request('GET', `/items/${listed.itemId}/blob`)
    const ciphertext = await readAll(res.body!, NOTE_PREVIEW_MAX * 2 + 64 * 1024)
    const { plaintext } = await openItemContent(this.reader, listed, manifest, {
      stream: () => new Blob([ciphertext as BlobPart]).stream(),
    })
    return readAll(plaintext, NOTE_PREVIEW_MAX)
  }

  /**
   * Downloads an item's ciphertext into OPFS (progress in ciphertext bytes), opens it with core's
   * `openItem` (hash and size checked over the whole file before any plaintext), and writes the
   * plaintext into OPFS. Returns the verified file and what its content looks like. On any
   * failure nothing is kept.
   */
  async download(
    itemId: string,
    progress: (done: number, total: number) => void,
    signal: AbortSignal,
  ): Promise<{ file: File; name: string; type: string; risk: Risk | null }> {
    return navigator.locks.request(OPFS_LOCK, { mode: 'shared' }, () =>
      this.downloadLocked(itemId, progress, signal),
    )
  }

  private async downloadLocked(
    itemId: string,
    progress: (done: number, total: number) => void,
    signal: AbortSignal,
  ): Promise<{ file: File; name: string; type: string; risk: Risk | null }> {
    const manifest = this.manifests.get(itemId)
    const listed = this.listed.get(itemId)
    if (!manifest || !listed) throw new NotFoundError('that item is not in the timeline')
    const total = manifest.ciphertextSize
    // Per-operation names: two downloads of one item (two tabs) never share or delete each other's files.
    const op = Math.random().toString(36).slice(2, 10)
    const cipherName = `dl-${itemId}-${op}`
    const plainName = `pt-${itemId}-${op}`
    try {
      const res = await this.account.api.request('GET', `/items/${itemId}/blob`, { signal })
      // The signed size bounds what is written: a server streaming on cannot fill the disk.
      await opfs.writeFile(cipherName, res.body!, (n) => progress(n, total), signal, total)
      const ciphertext = await opfs.readFile(cipherName)
      // Under the manifest verified for the timeline, not a second one the server might swap in.
      const { plaintext } = await openItemContent(this.reader, listed, manifest, ciphertext)
      await opfs.writeFile(plainName, plaintext, undefined, signal, manifest.plaintextSize)
      const file = await opfs.readFile(plainName)
      const head = new Uint8Array(await file.slice(0, RISK_SAMPLE_BYTES).arrayBuffer())
      const tail = new Uint8Array(await file.slice(-RISK_SAMPLE_BYTES).arrayBuffer())
      return {
        file,
        name: manifest.filename,
        type: manifest.type,
        risk: riskOf(manifest.filename, head, tail),
      }
    } catch (e) {
      await opfs.removeFile(plainName)
      throw e
    } finally {
      await opfs.removeFile(cipherName)
    }
  }

  /**
   * Encrypts a file or note to every active device of every member of `cid` (from verified logs)
   * into OPFS and reserves its upload; the worker's `upload` sends the spooled file with tus, then
   * the page calls {@link commit}.
   */
  async prepare(
    cid: string,
    input: SendInput,
    progress: (done: number, total: number) => void,
    signal: AbortSignal,
  ): Promise<PendingUpload> {
    return navigator.locks.request(OPFS_LOCK, { mode: 'shared' }, () =>
      this.prepareLocked(cid, input, progress, signal),
    )
  }

  private async prepareLocked(
    cid: string,
    input: SendInput,
    progress: (done: number, total: number) => void,
    signal: AbortSignal,
  ): Promise<PendingUpload> {
    const { sets, deviceIds, recipients, group } = await this.recipients(cid)
    const log = this.account.log
    const size = input.data.size
    const ciphertextSize = await itemCiphertextSize(recipients, size)
    const res = await reserveItem(this.account.api, cid, ciphertextSize, input.label)
    const created = Date.now()
    try {
      const item = await sealItem({
        plaintext: input.data.stream(),
        size,
        meta: {
          itemId: res.itemId,
          conversationId: cid,
          filename: input.name,
          type: input.type,
          mtime: input.mtime,
          created,
          kind: input.kind,
          ...(input.label ? { label: input.label } : {}),
        },
        sender: { device: this.account.device, log },
        recipients: sets,
        ...(group ? { group } : {}),
      })
      await opfs.writeFile(spoolName(res.itemId), item.ciphertext, (n) => progress(n, ciphertextSize), signal)
      const { sealed } = await item.finish()
      const pending: PendingUpload = {
        itemId: res.itemId,
        conversationId: cid,
        uploadUrl: res.uploadUrl,
        ciphertextSize,
        sealed,
        name: input.name,
        size,
        kind: input.kind,
        created,
        recipients: deviceIds,
      }
      await store.put(`upload:${res.itemId}`, pending)
      return pending
    } catch (e) {
      await this.cancel(res.itemId)
      throw e
    }
  }

  /** Recipients of a new item of `cid`, every log synced now (a fresh directory, no cache). */
  private async recipients(cid: string): Promise<ItemRecipients> {
    await this.account.sync()
    return itemRecipients(this.conversations.fresh(), await this.reader.conversation(cid))
  }

  /** The verified manifest of an item of the timeline (for share links), if it is there. */
  manifestOf(itemId: string): Manifest | undefined {
    return this.manifests.get(itemId)
  }

  /** Every item of the timeline that verified, oldest first (for export). */
  verified(): { itemId: string; name: string; kind: 'file' | 'note'; size: number; created: number }[] {
    return [...this.manifests.entries()].map(([itemId, m]) => ({
      itemId,
      name: m.filename,
      kind: m.kind,
      size: m.plaintextSize,
      created: m.created,
    }))
  }

  /** The spooled ciphertext of a pending upload, for the tus upload. */
  spooled(itemId: string): Promise<File> {
    return opfs.readFile(spoolName(itemId))
  }

  pending(): Promise<PendingUpload[]> {
    return store.list<PendingUpload>('upload:').then((l) => l.map((x) => x.value))
  }

  /** Sends the sealed manifest once the whole blob is stored: the item becomes visible (its seq; null if committed before). */
  async commit(itemId: string): Promise<number | null> {
    const p = await store.get<PendingUpload>(`upload:${itemId}`)
    if (!p) throw new NotFoundError('no such upload in progress')
    // A device removed, or a member who left or was removed, since encrypting must not get the
    // item: cancel rather than commit.
    const cid = p.conversationId ?? this.account.info.selfConversationId
    try {
      if (!p.recipients) throw new RecipientsChangedError()
      await this.account.sync()
      const fresh = this.conversations.fresh()
      await checkRecipientsUnchanged(fresh, await this.reader.conversation(cid), p.recipients)
    } catch (e) {
      if (isAirlockError(e, 'RECIPIENTS_CHANGED')) await this.cancel(itemId)
      throw e
    }
    const seq = await commitItem(this.account.api, itemId, p.sealed)
    await store.del(`upload:${itemId}`)
    await opfs.removeFile(spoolName(itemId))
    return seq
  }

  /** Abandons an upload: the reservation is cancelled and the spooled ciphertext deleted. */
  async cancel(itemId: string): Promise<void> {
    await deleteItem(this.account.api, itemId).catch(() => {})
    await store.del(`upload:${itemId}`)
    await opfs.removeFile(spoolName(itemId))
  }

  /** Deletes a committed item for every device. */
  async remove(itemId: string): Promise<void> {
    await this.account.api.json('DELETE', `/items/${itemId}`, deleteItemResponseSchema)
    this.manifests.delete(itemId)
  }

  /** Frees storage left by an earlier session: plaintext and ciphertext copies, orphaned spools. */
  async cleanup(): Promise<void> {
    // Only when no tab is downloading or preparing (they hold the lock shared).
    await navigator.locks.request(OPFS_LOCK, { mode: 'exclusive', ifAvailable: true }, async (lock) => {
      if (!lock) return
      const live = new Set((await this.pending()).map((p) => spoolName(p.itemId)))
      await opfs.removeAll('pt-')
      await opfs.removeAll('dl-')
      await opfs.removeAll('up-', (n) => live.has(n))
    })
  }
}
