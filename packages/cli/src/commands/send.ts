import { randomBytes } from 'node:crypto'
import { lstat, open, readdir, rm, stat } from 'node:fs/promises'
import { basename, join, relative, resolve, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import {
  bytesStream,
  type Conversation,
  checkItemPolicy,
  policyResponseSchema,
  printable,
  utf8,
} from '@airlock/core'
import { fileSource } from '@airlock/core/node'
import type { Context } from '../context.js'
import {
  conversationLabel,
  destinationLabel,
  getConversation,
  resolveTarget,
  selfConversation,
} from '../conversations.js'
import { CliError } from '../errors.js'
import { listEntries } from '../outbox.js'
import { formatBytes } from '../output.js'
import { Session } from '../session.js'
import { guessType, resumeEntry, type SendSource, type SentItem, sendItem } from '../upload.js'

/** `airlock send <file|dir|->...`: each file (a directory as its files) to my own devices. */
export async function send(
  ctx: Context,
  paths: string[],
  opts: { name?: string; to?: string; label?: string },
): Promise<void> {
  if (opts.name !== undefined && paths.length !== 1)
    throw new CliError('USAGE', '--name goes with a single file or -')
  const s = await Session.open(ctx.home, ctx.out)
  const target = await resolveTarget(s, opts.to)
  const to = await whereTo(s, target)
  const label = await policyLabel(s, opts.label)
  const sent: Sent[] = []
  // An earlier interrupted run is finished first; sources it re-sends are not sent twice.
  const resumed = await resumeAll(ctx, s, sent)
  const temps: string[] = []
  try {
    for (const p of paths) {
      for (const src of await expand(ctx, s, p, opts.name, temps)) {
        if (src.path && resumed.has(sourceKey(src))) continue
        sent.push({ item: await sendOne(ctx, s, label === undefined ? src : { ...src, label }, target), to })
      }
    }
  } finally {
    for (const t of temps) await rm(t, { force: true })
  }
  report(ctx, sent, to)
}

/** `airlock note [text]`: a text note (from the argument, or stdin when absent or `-`). */
export async function note(
  ctx: Context,
  text: string | undefined,
  opts: { to?: string; label?: string } = {},
): Promise<void> {
  const fromStdin = text === undefined || text === '-'
  if (fromStdin && process.stdin.isTTY)
    ctx.out.info('Type the note; end it with Ctrl-D on a line of its own.')
  const body = fromStdin ? await readAllStdin() : text
  if (body.length === 0) throw new CliError('USAGE', 'the note is empty')
  const s = await Session.open(ctx.home, ctx.out)
  const target = await resolveTarget(s, opts.to)
  const to = await whereTo(s, target)
  const label = await policyLabel(s, opts.label)
  const bytes = utf8(body)
  const src: SendSource = {
    ...(label === undefined ? {} : { label }),
    kind: 'note',
    path: null,
    name: '',
    size: bytes.length,
    mtimeMs: Date.now(),
    type: 'text/plain; charset=utf-8',
    open: () => bytesStream(bytes),
  }
  report(ctx, [{ item: await sendOne(ctx, s, src, target), to }], to)
}

/** `airlock resume`: finishes uploads an earlier run left in the outbox. */
export async function resume(ctx: Context): Promise<void> {
  const s = await Session.open(ctx.home, ctx.out)
  const sent: Sent[] = []
  await resumeAll(ctx, s, sent)
  if (sent.length === 0) ctx.out.info('nothing to resume')
  report(ctx, sent, null)
}

interface Sent {
  item: SentItem
  to: Destination
}

interface Destination {
  /** `me`, `@bob`, `#team`. */
  label: string
  /** For people: `me`, `@bob`, `#team (id …)`. */
  shown: string
  conversationId: string
}

async function whereTo(s: Session, c: Conversation): Promise<Destination> {
  return {
    label: await conversationLabel(s, c),
    shown: await destinationLabel(s, c),
    conversationId: c.conversationId,
  }
}

async function sendOne(ctx: Context, s: Session, src: SendSource, target: Conversation): Promise<SentItem> {
  const label = src.kind === 'note' ? 'note' : printable(basename(src.name)).slice(0, 30)
  return sendItem(s, src, ctx.out.progress(label, src.size), target)
}

async function resumeAll(ctx: Context, s: Session, sent: Sent[]): Promise<Set<string>> {
  const done = new Set<string>()
  const conversationOf = (cid: string | undefined) =>
    cid === undefined || cid === s.config.selfConversationId ? selfConversation(s) : getConversation(s, cid)
  for (const entry of await listEntries(s.home)) {
    const label = printable(entry.source.name || 'note')
    const r = await resumeEntry(s, entry, ctx.out.progress(label.slice(0, 30), entry.ciphertextSize))
    if (r.status === 'busy') ctx.out.warn(`another airlock process is uploading ${label}`)
    else if (r.status === 'lost') ctx.out.warn(`could not resume ${label}: ${r.reason}`)
    else if (r.status === 'sent')
      sent.push({ item: r.item, to: await whereTo(s, await conversationOf(entry.conversationId)) })
    else {
      const target = await conversationOf(r.conversationId)
      sent.push({ item: await sendOne(ctx, s, r.source, target), to: await whereTo(s, target) })
    }
    if (entry.source.path) done.add(`${entry.source.path}\n${entry.source.size}\n${entry.source.mtimeMs}`)
  }
  return done
}

/**
 * The label as the organisation's policy spells it, checked before anything is encrypted or sent
 * (the server checks again); `PolicyError` for a label outside the configured set.
 */
async function policyLabel(s: Session, label: string | undefined): Promise<string | undefined> {
  if (label === undefined) return undefined
  const policy = await s.client.json('GET', '/policy', policyResponseSchema)
  return checkItemPolicy(policy, { label, ciphertextSize: 0 }) ?? undefined
}

function sourceKey(src: SendSource): string {
  return `${src.path}\n${src.size}\n${src.mtimeMs}`
}

/**
 * One line per item, always saying where it went (`to @bob`, `to #team (id …)`, `to me`), so a
 * name that led somewhere unexpected is seen. In JSON each item names its conversation, and
 * `to` is where the items given on this command line went.
 */
function report(ctx: Context, sent: Sent[], to: Destination | null): void {
  ctx.out.result(
    {
      sent: sent.map(({ item, to }) => ({ ...item, to: to.label, conversationId: to.conversationId })),
      ...(to ? { to: to.label, conversationId: to.conversationId } : {}),
    },
    sent.map(
      ({ item: i, to }) =>
        `sent ${i.itemId}  ${i.label ? `[${i.label.toUpperCase()}]  ` : ''}${i.name ? printable(i.name) : '(note)'}  ${formatBytes(i.size)}  to ${to.shown}`,
    ),
  )
}

/** The files behind one argument: a file, every regular file under a directory, or stdin. */
async function expand(
  ctx: Context,
  s: Session,
  arg: string,
  name: string | undefined,
  temps: string[],
): Promise<SendSource[]> {
  if (arg === '-') {
    const tmp = join(s.home.outbox, `stdin-${randomBytes(8).toString('hex')}.tmp`)
    temps.push(tmp)
    const fh = await open(tmp, 'wx', 0o600)
    try {
      await pipeline(process.stdin, fh.createWriteStream())
    } finally {
      await fh.close().catch(() => {})
    }
    const st = await stat(tmp)
    return [{ ...fileSourceOf(tmp, name ?? 'stdin', st.size, st.mtimeMs), path: null }]
  }
  const path = resolve(arg)
  const st = await lstat(path)
  if (st.isFile()) return [fileSourceOf(path, name ?? basename(path), st.size, st.mtimeMs)]
  if (!st.isDirectory()) throw new CliError('USAGE', `${printable(arg)} is not a regular file or directory`)
  if (name !== undefined) throw new CliError('USAGE', '--name goes with a single file or -, not a directory')
  const out: SendSource[] = []
  await walk(ctx, path, basename(path), out)
  if (out.length === 0) ctx.out.warn(`${printable(arg)} holds no files`)
  return out
}

/** Regular files under `dir`, named `<top>/<relative path>`; symlinks and special files skipped. */
async function walk(ctx: Context, dir: string, top: string, out: SendSource[], root = dir): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true })
  entries.sort((a, b) => (a.name < b.name ? -1 : 1))
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) await walk(ctx, p, top, out, root)
    else if (e.isFile()) {
      const st = await stat(p)
      const rel = relative(root, p).split(sep).join('/')
      out.push(fileSourceOf(p, `${top}/${rel}`, st.size, st.mtimeMs))
    } else ctx.out.warn(`skipping ${printable(p)} (not a regular file)`)
  }
}

function fileSourceOf(path: string, name: string, size: number, mtimeMs: number): SendSource {
  return { kind: 'file', path, name, size, mtimeMs, type: guessType(name), open: () => fileSource(path) }
}

async function readAllStdin(): Promise<string> {
  const parts: Buffer[] = []
  for await (const chunk of process.stdin) parts.push(chunk as Buffer)
  return Buffer.concat(parts).toString('utf8')
}
