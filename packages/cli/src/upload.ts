import { readFile, stat } from 'node:fs/promises'
import {
  type Conversation,
  checkRecipientsUnchanged,
  commitItem,
  isAirlockError,
  isServerError,
  isTransientError,
  itemCiphertextSize,
  itemRecipients,
  RecipientsChangedError,
  reserveItem,
  retryTransient,
  sealItem,
  tusUpload,
  type VerifiedLog,
} from '@airlock/core'
import { bootId, fileSource, nodeAead, nodeSha256 } from '@airlock/core/node'
import { writeFileAtomic } from './config.js'
import { selfConversation } from './conversations.js'
import { CliError, isCliError } from './errors.js'
import {
  lockEntry,
  type OutboxEntry,
  outboxFiles,
  removeEntry,
  Spool,
  saveEntry,
  spoolGap,
} from './outbox.js'
import type { Progress } from './output.js'
import type { Session } from './session.js'

/**
 * Sending one item to my own devices: reserve it with its exact ciphertext size (computed before
 * encrypting), encrypt to every active device of my verified log while the ciphertext is spooled
 * to the outbox and uploaded with tus right behind the encrypter, then commit the sealed manifest.
 * Transient failures (network, server restart) are retried at the server's offset for a while;
 * after that the item stays in the outbox for `airlock resume`.
 */

/** Something to send: a file, stdin (spooled to a file first) or a note. */
export interface SendSource {
  kind: 'file' | 'note'
  /** Absolute path, for re-sending after a crash; null when the source cannot be read again. */
  path: string | null
  /** The name inside the manifest: a relative path with `/` separators, or '' for notes. */
  name: string
  size: number
  mtimeMs: number
  type: string
  /** The sensitivity label, as the policy spells it (checked against the policy before sending). */
  label?: string
  open(): ReadableStream<Uint8Array>
}

export interface SentItem {
  itemId: string
  seq: number | null
  name: string
  size: number
  label?: string
}

/** Without progress for this long, an upload is left for `airlock resume`. */
const GIVE_UP_MS = Number(process.env.AIRLOCK_RETRY_SECONDS ?? 60) * 1000

/** The exact ciphertext size of `size` plaintext bytes to `recipients` (core, with the Node AEAD). */
export function ciphertextSizeFor(recipients: readonly string[], size: number): Promise<number> {
  return itemCiphertextSize(recipients, size, nodeAead)
}

export async function sendItem(
  s: Session,
  src: SendSource,
  progress: Progress,
  target: Conversation = selfConversation(s),
  again = false,
): Promise<SentItem> {
  const log = s.log
  // Every active device of every member, from verified logs only (core Directory).
  const { sets, deviceIds, recipients, group } = await itemRecipients(s.directory, target)
  const ciphertextSize = await ciphertextSizeFor(recipients, src.size)
  const conversationId = target.conversationId
  const res = await reserveItem(s.client, conversationId, ciphertextSize, src.label)
  const entry: OutboxEntry = {
    v: 1,
    itemId: res.itemId,
    uploadPath: res.uploadPath,
    ciphertextSize,
    createdAt: Date.now(),
    logSeq: log.seq,
    conversationId,
    recipients: deviceIds,
    stage: 'encrypting',
    source: {
      kind: src.kind,
      path: src.path,
      name: src.name,
      size: src.size,
      mtimeMs: src.mtimeMs,
      ...(src.label === undefined ? {} : { label: src.label }),
    },
  }
  await saveEntry(s.home, entry)
  await lockEntry(s.home, entry.itemId)
  const files = outboxFiles(s.home, entry.itemId)
  // In memory where a crash can send the source again; a file for stdin and notes.
  const spool = await Spool.create(files.spool, ciphertextSize, { memory: src.path !== null })
  // Not synced where the boot can be told: the server syncs what it receives, and a spool file
  // that a power cut may have damaged is simply not resumed from.
  const boot = await bootId()
  // A sealed entry says where its spool file starts (at the end: no usable file while the spool
  // is in memory), and it is saved again when the spool moves to its file. Saves run in order, each
  // with the state at the time it runs.
  let sealed = false
  let saving = Promise.resolve()
  const saveSealed = () => {
    saving = saving.then(() =>
      saveEntry(s.home, {
        ...entry,
        stage: 'sealed',
        ...(boot === '' ? {} : { boot }),
        spoolFrom: spool.spooledFrom ?? ciphertextSize,
      }),
    )
    return saving
  }
  spool.onSpill = async () => {
    if (sealed) await saveSealed()
  }
  const abort = new AbortController()

  const encrypting = (async () => {
    try {
      const item = await sealItem({
        plaintext: src.open(),
        size: src.size,
        meta: {
          itemId: entry.itemId,
          conversationId,
          filename: src.name,
          type: src.type,
          mtime: Math.max(0, Math.floor(src.mtimeMs)),
          created: Date.now(),
          kind: src.kind,
          ...(src.label === undefined ? {} : { label: src.label }),
        },
        sender: { device: s.device, log },
        recipients: sets,
        ...(group ? { group } : {}),
        aead: nodeAead,
        sha256: nodeSha256,
      })
      const reader = item.ciphertext.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        await spool.write(value)
      }
      await spool.finish(boot === '')
      if (spool.written !== ciphertextSize)
        throw new CliError('IO', 'the ciphertext size differs from the reservation')
      const manifest = (await item.finish()).sealed
      await writeFileAtomic(files.manifest, manifest)
      sealed = true
      await saveSealed()
    } catch (e) {
      await spool.fail(e)
      abort.abort()
      throw e
    }
  })()
  const uploading = pushBytes(s, entry.uploadPath, ciphertextSize, spool, progress, abort.signal).catch(
    async (e) => {
      // Refused for good, or the server lost bytes no longer kept: the encrypter stops too.
      if (!isTransientError(e) && !isCliError(e, 'UPLOAD_PENDING')) await spool.fail(e)
      throw e
    },
  )
  const [enc, up] = await Promise.allSettled([encrypting, uploading])
  if (up.status === 'rejected' && isCliError(up.reason, 'SPOOL_GAP') && !again) {
    // The server lost more of the upload than is kept here (a power cut, say): send it anew.
    await abandon(s, entry)
    return sendItem(s, src, progress, target, true)
  }
  if (enc.status === 'rejected') {
    await abandon(s, entry)
    throw enc.reason
  }
  if (up.status === 'rejected') {
    if (!isCliError(up.reason, 'UPLOAD_PENDING') && !isTransientError(up.reason)) {
      await abandon(s, entry)
      throw up.reason
    }
    // Left for `airlock resume`: the ciphertext it needs goes to the spool file first.
    await spool.spill()
    await saving
    throw isCliError(up.reason, 'UPLOAD_PENDING') ? up.reason : pending(up.reason)
  }
  return finishUpload(s, entry)
}

function pending(cause: unknown): CliError {
  const why = cause instanceof Error ? ` (${cause.message})` : ''
  return new CliError(
    'UPLOAD_PENDING',
    `the upload was interrupted${why}; it is saved: run \`airlock resume\` to continue`,
  )
}

/** Commits the sealed manifest of an entry whose blob is complete, then clears it from the outbox. */
async function finishUpload(s: Session, entry: OutboxEntry): Promise<SentItem> {
  const manifest = new Uint8Array(await readFile(outboxFiles(s.home, entry.itemId).manifest))
  // A device or member removed while this was uploading must not receive it: check right before committing.
  await s.syncLog()
  if (await recipientsChanged(s, entry)) {
    await abandon(s, entry)
    throw new RecipientsChangedError()
  }
  let seq: number | null = null
  await retryTransient(
    s.client,
    async () => {
      // Null when an earlier run committed it and was killed before clearing the outbox.
      seq = await commitItem(s.client, entry.itemId, manifest)
    },
    { giveUpMs: GIVE_UP_MS },
  ).catch(async (e) => {
    // No longer allowed to post here (removed from the group meanwhile): nothing to resume.
    if (isServerError(e, 'FORBIDDEN')) await abandon(s, entry)
    throw isTransientError(e) ? pending(e) : e
  })
  await removeEntry(s.home, entry.itemId)
  const { name, size, label } = entry.source
  return { itemId: entry.itemId, seq, name, size, ...(label === undefined ? {} : { label }) }
}

/** Uploads `spool` from wherever the server is (core's tus uploader), following it as it grows. */
async function pushBytes(
  s: Session,
  path: string,
  total: number,
  spool: Spool,
  progress: Progress,
  signal: AbortSignal,
): Promise<void> {
  await tusUpload(s.client, path, {
    size: total,
    source: (offset) => {
      if (!spool.has(offset)) throw spoolGap()
      return spool.reader(offset)
    },
    giveUpMs: GIVE_UP_MS,
    signal,
    onStart: (offset) => progress.resumeAt(offset),
    onProgress: (sent) => progress.update(sent),
    // The retries, and a crash while they run, resume from the spool file.
    onTransient: () => spool.spill(),
  })
  progress.stop()
}

/** Drops a reservation and its outbox files (the server deletes the partial blob). */
async function abandon(s: Session, entry: OutboxEntry): Promise<void> {
  await s.client.send('DELETE', `/items/${entry.itemId}`).catch(() => {})
  await removeEntry(s.home, entry.itemId)
}

export type ResumeResult =
  | { status: 'sent'; item: SentItem }
  | { status: 'resend'; source: SendSource; conversationId: string | undefined }
  | { status: 'lost'; name: string; reason: string }
  | { status: 'busy'; name: string }

/**
 * Continues an outbox entry left by an interrupted run: a sealed one uploads from the server's
 * offset and commits; one interrupted while encrypting (its file key is gone), or whose recipients
 * lost a device since, is dropped and its source handed back for sending anew if it is unchanged.
 */
export async function resumeEntry(s: Session, entry: OutboxEntry, progress: Progress): Promise<ResumeResult> {
  const name = entry.source.name
  if (!(await lockEntry(s.home, entry.itemId))) return { status: 'busy', name }
  const files = outboxFiles(s.home, entry.itemId)
  const spoolSize = (await stat(files.spool).catch(() => null))?.size
  const manifest = await stat(files.manifest).catch(() => null)
  if (entry.stage === 'sealed' && manifest && !(await recipientsChanged(s, entry))) {
    // Without a spool file it can only be committed if the server holds the whole upload.
    const spool =
      spoolSize === entry.ciphertextSize && (entry.boot === undefined || entry.boot === (await bootId()))
        ? Spool.complete(files.spool, spoolSize, entry.spoolFrom ?? 0)
        : Spool.none(entry.ciphertextSize)
    try {
      await pushBytes(
        s,
        entry.uploadPath,
        entry.ciphertextSize,
        spool,
        progress,
        new AbortController().signal,
      )
      return { status: 'sent', item: await finishUpload(s, entry) }
    } catch (e) {
      const gap = isCliError(e, 'SPOOL_GAP')
      if (!gap && isTransientError(e)) throw pending(e)
      if (!gap && !isServerError(e, 'NOT_FOUND') && !isServerError(e, 'GONE')) throw e
    }
  }
  await abandon(s, entry)
  const source = await reopen(entry)
  if (!source) {
    return { status: 'lost', name, reason: 'it was interrupted before it was fully encrypted; send it again' }
  }
  return { status: 'resend', source, conversationId: entry.conversationId }
}

/**
 * True if a device the entry was encrypted to is no longer a recipient (the device was removed,
 * or its account left the group; core's `checkRecipientsUnchanged`): it must not receive the item.
 */
async function recipientsChanged(s: Session, entry: OutboxEntry): Promise<boolean> {
  if (entry.recipients === undefined || entry.conversationId === undefined) return removedSince(s.log, entry)
  const target = await s.conversation(entry.conversationId)
  return checkRecipientsUnchanged(s.directory, target, entry.recipients).then(
    () => false,
    (e) => {
      if (isAirlockError(e, 'RECIPIENTS_CHANGED')) return true
      throw e
    },
  )
}

/** Entries written before recipients were recorded: any device removal since counts. */
function removedSince(log: VerifiedLog, entry: OutboxEntry): boolean {
  return log.entries.slice(entry.logSeq + 1).some((e) => e.op === 'remove')
}

async function reopen(entry: OutboxEntry): Promise<SendSource | null> {
  const { path, size, mtimeMs, name, kind, label } = entry.source
  if (path === null) return null
  const st = await stat(path).catch(() => null)
  if (!st?.isFile() || st.size !== size || st.mtimeMs !== mtimeMs) return null
  const source: SendSource = {
    kind,
    path,
    name,
    size,
    mtimeMs,
    type: guessType(name),
    open: () => fileSource(path),
  }
  return label === undefined ? source : { ...source, label }
}

const TYPES: Record<string, string> = {
  txt: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  html: 'text/html',
  json: 'application/json',
  pdf: 'application/pdf',
  zip: 'application/zip',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  mp4: 'video/mp4',
  mp3: 'audio/mpeg',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
}

/** A media type from the extension (the receiver never trusts it for anything but display). */
export function guessType(name: string): string {
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(name)?.[1]?.toLowerCase()
  return (ext && TYPES[ext]) || 'application/octet-stream'
}
