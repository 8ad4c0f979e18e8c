/// <reference lib="webworker" />
import {
  acceptLink,
  checkUploadUrl,
  type DeviceRecord,
  deviceFingerprint,
  InvalidInputError,
  logFingerprint,
  NotFoundError,
  NotSetUpError,
  offerLink,
  type Policy,
  parseLinkInput,
  tusUpload,
} from '@airlock/core'
import { describeError } from '../errors.ts'
import type { WorkerEvents, WorkerMessage, WorkerQuestion, WorkerRequest } from '../worker-protocol.ts'
import { itemAccesses } from './accesses.ts'
import { Account, forget, newDevice } from './account.ts'
import * as admin from './admin.ts'
import { Api } from './api.ts'
import { cryptoBench } from './bench.ts'
import { Conversations } from './conversations.ts'
import { exportAll } from './export.ts'
import { Items, OPFS_LOCK, type SendInput } from './items.ts'
import { linkServer } from './linking.ts'
import { Push } from './push.ts'
import {
  createShare,
  downloadShare,
  listShares,
  openShare,
  revokeShare,
  type ShareOptions,
} from './shares.ts'

/**
 * The crypto worker: holds this device's keys in memory, does every encryption, decryption and
 * verification, and talks to the server. The page only renders and moves opaque bytes.
 */

declare const self: DedicatedWorkerGlobalScope

const origin = self.location.origin
let account: Account | null = null
let items: Items | null = null
let conversations: Conversations | null = null
let push: Push | null = null
const aborts = new Map<string, AbortController>()
const answers = new Map<number, (yes: boolean) => void>()
let nextAsk = 1

function emit<E extends keyof WorkerEvents>(event: E, data: WorkerEvents[E]): void {
  self.postMessage({ event, data } as WorkerMessage)
}

/** Asks the person on the page a yes/no question; the page answers with `answer(askId, yes)`. */
function ask<E extends WorkerQuestion>(event: E, data: Omit<WorkerEvents[E], 'askId'>): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const askId = nextAsk++
    answers.set(askId, resolve)
    emit(event, { askId, ...data } as WorkerEvents[E])
  })
}

function ready(): { account: Account; items: Items; conversations: Conversations } {
  if (!account || !items || !conversations) throw new NotSetUpError('this browser is not set up yet')
  return { account, items, conversations }
}

function started(a: Account) {
  account = a
  conversations = new Conversations(a)
  items = new Items(a, conversations)
  push?.stop()
  const failed = (err: unknown) => {
    const info = describeError(err)
    if (info.code === 'DEVICE_REMOVED') {
      push?.stop()
      account = null
      items = null
      conversations = null
    }
    emit('error', info)
  }
  push = new Push(
    origin,
    () => a.freshToken(),
    (e) => {
      if (e.type === 'log') void a.sync().then(() => emit('push', e), failed)
      // The server ended this device's session (removed, or expired): a fresh login tells which.
      else if (e.type === 'closed') void a.login().catch(failed)
      else emit('push', e)
    },
  )
  push.start()
  void items.cleanup()
  return a.info
}

function signal(opId: string | undefined): AbortSignal {
  const c = new AbortController()
  if (opId) aborts.set(opId, c)
  return c.signal
}

function deviceRow(d: DeviceRecord, removed: Set<string>) {
  return {
    id: d.id,
    name: d.name,
    kind: d.kind,
    created: d.created,
    fingerprint: deviceFingerprint(d),
    active: !removed.has(d.id),
    thisDevice: d.id === account?.device.record.id,
  }
}

/**
 * Every method the page may call, by name. The page's `call` takes its argument and result
 * types from this table (`WorkerApi`), so a changed signature here is a type error there.
 */
const api = {
  async init() {
    const a = await Account.load(origin)
    if (!a) return null
    await a.login()
    await a.sync()
    return started(a)
  },
  async setup(code: string, username: string, deviceName: string) {
    return started(await Account.create(origin, code, username, deviceName))
  },
  async linkOffer(deviceName: string) {
    const device = await newDevice(deviceName)
    const approved = await offerLink(
      linkServer(new Api(origin)),
      device,
      (shown) => emit('link-shown', shown),
      (fingerprint) => ask('link-agreed', { fingerprint }),
    )
    return started(
      await Account.enroll(origin, device, approved.accountId, { seq: approved.seq, head: approved.head }),
    )
  },
  async linkAccept(input: string) {
    const { account: a } = ready()
    await a.sync()
    const record = await acceptLink(
      linkServer(a.api),
      parseLinkInput(input.trim(), Date.now()),
      (r, fingerprint) =>
        ask('link-confirm', {
          device: { id: r.id, name: r.name, kind: r.kind, fingerprint: deviceFingerprint(r) },
          fingerprint,
        }),
      async (r) => {
        const next = await a.append('add', r)
        return { accountId: next.accountId, seq: next.seq, head: next.head }
      },
      (fingerprint) => emit('link-code-agreed', { fingerprint }),
    )
    return { id: record.id, name: record.name }
  },
  answer(askId: number, yes: boolean) {
    answers.get(askId)?.(yes)
    answers.delete(askId)
  },
  async devices() {
    const { account: a } = ready()
    await a.sync()
    const log = a.log
    const removed = new Set(log.entries.filter((e) => e.op === 'remove').map((e) => e.device.id))
    const seen = new Set<string>()
    const rows = []
    for (const e of log.entries) {
      if (e.op === 'remove' || seen.has(e.device.id)) continue
      seen.add(e.device.id)
      rows.push(deviceRow(e.device, removed))
    }
    return { info: a.info, devices: rows, logSeq: log.seq, logFingerprint: logFingerprint(log) }
  },
  async removeDevice(deviceId: string) {
    const { account: a } = ready()
    await a.sync()
    const record = a.log.active.find((d) => d.id === deviceId)
    if (!record) throw new NotFoundError('that device is not active')
    if (record.id === a.device.record.id)
      throw new InvalidInputError('remove this browser from another device')
    await a.append('remove', record)
  },
  list(conversationId: string, since: number) {
    return ready().items.list(conversationId, since)
  },
  conversations() {
    return ready().conversations.list()
  },
  requests() {
    return ready().conversations.requests()
  },
  answerRequest(conversationId: string, answer: 'accept' | 'decline' | 'block') {
    return ready().conversations.answerRequest(conversationId, answer)
  },
  openDirect(username: string) {
    return ready().conversations.openDirect(username)
  },
  colleague(accountId: string) {
    return ready().conversations.colleague(accountId)
  },
  markVerified(accountId: string) {
    return ready().conversations.markVerified(accountId)
  },
  createGroup(name: string, usernames: string[]) {
    return ready().conversations.createGroup(name, usernames)
  },
  group(conversationId: string) {
    return ready().conversations.group(conversationId)
  },
  changeGroup(conversationId: string, change: Parameters<Conversations['changeGroup']>[1]) {
    return ready().conversations.changeGroup(conversationId, change)
  },
  prepare(conversationId: string, input: SendInput, opId: string) {
    return ready().items.prepare(
      conversationId,
      input,
      (done, total) => emit('progress', { opId, phase: 'encrypt', done, total }),
      signal(opId),
    )
  },
  pending() {
    return ready().items.pending()
  },
  /** Uploads a prepared item's spooled ciphertext with core's tus uploader, resuming where the server is. */
  async upload(itemId: string, opId: string) {
    const { account: a, items: it } = ready()
    const p = (await it.pending()).find((x) => x.itemId === itemId)
    if (!p) throw new NotFoundError('no such upload in progress')
    await tusUpload(a.api, checkUploadUrl(origin, p.uploadUrl), {
      size: p.ciphertextSize,
      source: await it.spooled(itemId),
      signal: signal(opId),
      onProgress: (done) => emit('progress', { opId, phase: 'upload', done, total: p.ciphertextSize }),
    })
  },
  commit(itemId: string) {
    return ready().items.commit(itemId)
  },
  cancelUpload(itemId: string) {
    return ready().items.cancel(itemId)
  },
  abort(opId: string) {
    aborts.get(opId)?.abort(new DOMException('cancelled', 'AbortError'))
    aborts.delete(opId)
  },
  download(itemId: string, opId: string) {
    return ready().items.download(
      itemId,
      (done, total) => emit('progress', { opId, phase: 'download', done, total }),
      signal(opId),
    )
  },
  remove(itemId: string) {
    return ready().items.remove(itemId)
  },
  async accesses(itemId: string) {
    const { account: a } = ready()
    await a.sync()
    return itemAccesses(a, itemId)
  },
  exportAll(passphrase: string, opId: string) {
    const r = ready()
    return navigator.locks.request(OPFS_LOCK, { mode: 'shared' }, () =>
      exportAll(
        r.items,
        passphrase,
        (done, total) => emit('progress', { opId, phase: 'export', done, total }),
        signal(opId),
      ),
    )
  },
  me() {
    return admin.me(ready().account.api)
  },
  policy() {
    return admin.policy(ready().account.api)
  },
  putPolicy(p: Policy) {
    return admin.putPolicy(ready().account.api, p)
  },
  invite() {
    return admin.invite(ready().account.api)
  },
  adminAccounts() {
    return admin.accounts(ready().account.api)
  },
  adminUpdate(accountId: string, change: { disabled?: boolean; quotaBytes?: number | null }) {
    return admin.update(ready().account.api, accountId, change)
  },
  adminShares() {
    return admin.shares(ready().account.api)
  },
  adminRevokeShare(shareId: string) {
    return admin.revokeShare(ready().account.api, shareId)
  },
  createShare(itemIds: string[], opts: ShareOptions, opId: string) {
    const r = ready()
    return createShare(
      r.account,
      r.items,
      itemIds,
      opts,
      (done, total) => emit('progress', { opId, phase: 'share', done, total }),
      signal(opId),
    )
  },
  shares() {
    return listShares(ready().account)
  },
  revokeShare(shareId: string) {
    return revokeShare(ready().account, shareId)
  },
  // The download page: no account, no keys in IndexedDB.
  shareOpen(href: string, passphrase?: string) {
    return openShare(href, passphrase)
  },
  shareDownload(opId: string) {
    return downloadShare(
      (done, total) => emit('progress', { opId, phase: 'download', done, total }),
      signal(opId),
    )
  },
  bench(sizeMiB: number) {
    return cryptoBench(sizeMiB)
  },
  async forget() {
    push?.stop()
    push = null
    account = null
    items = null
    conversations = null
    await forget()
  },
}

/** The worker's methods as the page sees them; a type only, so the page bundles none of this. */
export type WorkerApi = typeof api

self.onmessage = async (m: MessageEvent<WorkerRequest>) => {
  const { id, method, args } = m.data
  try {
    if (!Object.hasOwn(api, method)) throw new Error(`unknown method ${method}`)
    const f = api[method as keyof WorkerApi] as (...a: unknown[]) => unknown
    const value = await f(...args)
    self.postMessage({ id, ok: true, value } satisfies WorkerMessage)
  } catch (e) {
    self.postMessage({ id, ok: false, error: describeError(e) } satisfies WorkerMessage)
  }
}
