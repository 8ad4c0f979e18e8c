import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import {
  type CommittedItem,
  type Conversation,
  isAirlockError,
  parseRecipient,
  printable,
} from '@airlock/core'
import { z } from 'zod'
import { readJson, writeFileAtomic } from '../config.js'
import type { Context } from '../context.js'
import {
  conversationLabel,
  getConversation,
  groupNamed,
  listConversations,
  lookupColleague,
} from '../conversations.js'
import { receiveItem } from '../download.js'
import { describeError } from '../errors.js'
import { itemFileName, listItems, openItemManifest } from '../items.js'
import { LiveDownloads } from '../live.js'
import { formatBytes } from '../output.js'
import { receivedMode } from '../placement.js'
import { runPush } from '../push.js'
import { checkRisk, reportRisk } from '../risky.js'
import { Session } from '../session.js'

const stateSchema = z.strictObject({
  v: z.literal(1),
  watch: z.record(z.string(), z.number().int().nonnegative()),
})
const NOTE_PREVIEW = 200

export interface WatchOptions {
  dir?: string
  /** Also save from these (`bob`, `#team`, a conversation id); repeatable. */
  from?: string[]
  /** Also save from every conversation I am in. */
  allAccepted?: boolean
  /** Permissions of saved files (default 600). */
  mode?: string
}

/**
 * `airlock watch [--dir d]`: stays connected and saves every item that arrives from my other
 * devices into the folder, one line per item; items of other conversations only when asked
 * (`--from bob`, `--from '#team'`, `--all-accepted`), so nobody else can fill the folder: anyone
 * on the server can open a conversation or a group with me. On every (re)connection it catches
 * up from the last seq it handled in each watched conversation (kept in `state.json`), so nothing
 * sent while it was away is missed.
 */
export async function watch(ctx: Context, opts: WatchOptions): Promise<void> {
  const { out } = ctx
  const dest = resolve(opts.dir ?? '.')
  const mode = receivedMode(opts.mode)
  const s = await Session.open(ctx.home, out)
  const scope = await watchScope(s, opts.from ?? [], opts.allAccepted === true)
  const state = (await readJson(s.home.state, stateSchema)) ?? { v: 1 as const, watch: {} }

  const controller = new AbortController()
  const stop = () => controller.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)

  const live = new LiveDownloads(s, dest, controller.signal, mode)
  // Conversations found in scope so far: uploads are followed only there.
  const watched = new Set<string>([s.config.selfConversationId])
  let running: Promise<void> | null = null
  let again = false
  let retry: NodeJS.Timeout | undefined
  const catchUp = (): void => {
    if (running) {
      again = true
      return
    }
    running = (async () => {
      do {
        again = false
        await receiveNew()
      } while (again && !controller.signal.aborted)
    })()
      .catch((e) => {
        // A network failure: try again shortly (and on the next event).
        out.warn(describeError(e).message)
        clearTimeout(retry)
        retry = setTimeout(catchUp, 5000)
      })
      .finally(() => {
        running = null
      })
  }

  // Every watched conversation, each from its own cursor.
  const receiveNew = async (): Promise<void> => {
    for (const c of await listConversations(s)) {
      if (!(await inScope(s, scope, c))) continue
      const cid = c.conversationId
      watched.add(cid)
      if (c.lastSeq <= (state.watch[cid] ?? 0)) continue
      const where = await conversationLabel(s, c)
      for (const item of await listItems(s, state.watch[cid] ?? 0, cid)) {
        if (controller.signal.aborted) return
        if (!item.deleted) await receiveOne(item, where)
        state.watch[cid] = item.seq
        await writeFileAtomic(s.home.state, JSON.stringify(state), 0o600)
      }
    }
  }

  const receiveOne = async (item: CommittedItem, where: string): Promise<void> => {
    try {
      // What I sent myself is skipped — decided from the verified manifest, not from the
      // server's senderDeviceId, which a server could set to hide another device's item.
      if ((await openItemManifest(s, item)).sender.deviceId === s.deviceId) {
        await live.discard(item.itemId)
        return
      }
      const r = (await live.finish(item)) ?? (await receiveItem(s, item, dest, out, mode))
      const m = r.manifest
      const from = await s.senderName(m.sender.accountId, m.sender.deviceId)
      const via = where === 'me' ? '' : ` in ${where}`
      const risk =
        m.kind === 'file' ? reportRisk(out, r.path, await checkRisk(r.path, itemFileName(m))) : null
      let preview = ''
      if (m.kind === 'note' && m.plaintextSize <= 64 * 1024) {
        preview = (await readFile(r.path, 'utf8')).slice(0, NOTE_PREVIEW)
      }
      // The label (verified against the server's listing) goes first, so it cannot be missed.
      const tag = m.label ? `[${printable(m.label).toUpperCase()}]  ` : ''
      out.result(
        {
          event: 'received',
          itemId: item.itemId,
          seq: item.seq,
          kind: m.kind,
          name: m.kind === 'note' ? null : m.filename,
          size: m.plaintextSize,
          conversationId: item.conversationId,
          in: where,
          fromAccount: m.sender.accountId,
          fromDevice: m.sender.deviceId,
          label: m.label ?? null,
          path: r.path,
          risk,
        },
        m.kind === 'note'
          ? `${tag}note from ${printable(from)}${via}: ${printable(preview)}  (saved to ${printable(r.path)})`
          : `received ${tag}${printable(itemFileName(m))} (${formatBytes(m.plaintextSize)}) from ${printable(from)}${via} -> ${printable(r.path)}`,
      )
    } catch (e) {
      // An item that does not verify is refused for good and never written; anything else is retried.
      if (!isAirlockError(e)) throw e
      if (e.code === 'NO_MATCH' || e.code === 'NOT_RECIPIENT') {
        // Sent before this device was linked (or to other devices only): not for us, not an attack.
        out.result(
          { event: 'skipped', itemId: item.itemId, seq: item.seq, code: e.code },
          `skipped item ${item.itemId}: not addressed to this device (sent before it was linked?)`,
        )
        return
      }
      const d = describeError(e)
      out.result(
        { event: 'refused', itemId: item.itemId, seq: item.seq, code: d.code, message: d.message },
        `REFUSED item ${item.itemId}: ${d.message} (nothing was written)`,
      )
    }
  }

  out.info(
    `watching for items ${scope.all ? 'of every conversation' : scope.from.length ? `from my devices and ${scope.from.join(', ')}` : 'from my other devices'}; saving them to ${dest} (Ctrl-C to stop)`,
  )
  try {
    await runPush(
      s,
      {
        onReady: catchUp,
        onEvent: (e) => {
          if (e.type === 'log') void s.syncLog().catch((err) => out.warn(describeError(err).message))
          else if (e.type === 'item' || e.type === 'members') catchUp()
          // Another device started uploading: follow it, so the item is ready when committed.
          else if (e.type === 'upload' && e.deviceId !== s.deviceId && watched.has(e.conversationId))
            live.follow(e.itemId)
        },
        onDisconnect: () => out.info('disconnected; reconnecting...'),
      },
      controller.signal,
    )
  } finally {
    clearTimeout(retry)
    controller.abort()
    await running
    await live.close()
  }
}

/** The conversations `watch` saves from: my own always, and what `--from` or `--all-accepted` add. */
interface WatchScope {
  all: boolean
  ids: Set<string>
  /** Colleagues (accounts) whose direct conversation with me is watched, whenever it appears. */
  peers: Set<string>
  /** As given, for the start-up line. */
  from: string[]
}

/**
 * Resolves `--from` with core's `parseRecipient`: a bare name is a colleague (looked up now, their
 * direct conversation watched once it exists), `#name` my one group of that name, an id that
 * conversation, `me` my own (watched anyway).
 */
async function watchScope(s: Session, from: string[], all: boolean): Promise<WatchScope> {
  const scope: WatchScope = { all, ids: new Set([s.config.selfConversationId]), peers: new Set(), from: [] }
  for (const f of from) {
    const named = parseRecipient(f)
    if (named.kind === 'colleague') {
      const accountId = await lookupColleague(s, named.username)
      if (accountId !== s.config.accountId) scope.peers.add(accountId)
      scope.from.push(`@${printable(named.username)}`)
    } else if (named.kind === 'group') {
      scope.ids.add((await groupNamed(s, named.name)).conversationId)
      scope.from.push(`#${printable(named.name)}`)
    } else if (named.kind === 'conversation') {
      scope.ids.add((await getConversation(s, named.conversationId)).conversationId)
      scope.from.push(named.conversationId)
    }
  }
  return scope
}

async function inScope(s: Session, scope: WatchScope, c: Conversation): Promise<boolean> {
  if (scope.all) return true
  if (c.kind === 'self') return c.conversationId === s.config.selfConversationId
  if (scope.ids.has(c.conversationId)) return true
  if (c.kind !== 'direct' || scope.peers.size === 0) return false
  try {
    return scope.peers.has(await s.directory.directPeer(c))
  } catch (e) {
    // A conversation whose peer does not verify is not one I asked for.
    if (isAirlockError(e)) return false
    throw e
  }
}
