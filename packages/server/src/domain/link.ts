import { timingSafeEqual } from 'node:crypto'
import {
  API_LIMITS,
  type LinkCreateResponse,
  type LinkJoinResponse,
  type LinkReceiveResponse,
} from '@airlock/core'
import type { AppContext } from '../context.js'
import { isServerError, NotFoundError, ServerError, UnauthenticatedError } from '../errors.js'
import type { LinkSide, MailboxRecord } from '../storage/metadata/mailboxes.js'
import { hashSecret, newNameplate, randomId, randomSecret } from '../tokens.js'
import type { Auth } from './sessions.js'

const MAILBOX_TTL_MS = 10 * 60_000
/** Wrong secrets or foreign joins a mailbox survives before it is burnt. */
const MAX_FAILURES = 3

/** A caller's place in a mailbox: the new device (by its secret) or the existing one (by its session). */
export interface MailboxSide {
  mailbox: MailboxRecord
  side: LinkSide
}

/**
 * The device-linking relay: a short-lived mailbox of opaque messages between a new device (which
 * opens it without an account and proves its side with a secret) and one existing,
 * authenticated device (which joins it). The server never understands the messages; the key
 * agreement and confirmation are core's. Mailboxes expire after ten minutes, are single-use, and
 * are burnt by repeated wrong secrets, a second joiner, or a client reporting failure. Long polls
 * wait in this process; with a shared database they also look again every second.
 */
export class LinkRelay {
  private readonly waiters = new Waiters()

  constructor(private readonly ctx: AppContext) {}

  /** Opens a mailbox under a free nameplate; the secret proves the new device's side. */
  async open(): Promise<LinkCreateResponse> {
    const now = this.ctx.now()
    const secret = randomSecret()
    for (let attempt = 0; attempt < 20; attempt++) {
      const m = {
        id: randomId(),
        nameplate: newNameplate(),
        secretHash: hashSecret(secret),
        createdAt: now,
        expiresAt: now + MAILBOX_TTL_MS,
      }
      try {
        await this.ctx.store.mailboxes.createMailbox(m)
      } catch (e) {
        if (isServerError(e, 'CONFLICT')) continue
        throw e
      }
      return { mailboxId: m.id, nameplate: m.nameplate, secret, expiresAt: m.expiresAt }
    }
    throw new ServerError('UNAVAILABLE', 'too many devices are linking right now; try again shortly')
  }

  /** The existing device joins a mailbox by id or nameplate; a second joiner burns it. */
  async join(auth: Auth, ref: { mailboxId: string } | { nameplate: string }): Promise<LinkJoinResponse> {
    const m =
      'mailboxId' in ref
        ? await this.ctx.store.mailboxes.getMailbox(ref.mailboxId)
        : await this.ctx.store.mailboxes.findMailboxByNameplate(ref.nameplate)
    if (!m) throw new NotFoundError('no such linking mailbox')
    live(this.ctx, m)
    if (m.state === 'joined' && m.joinedDeviceId === auth.deviceId) return joined(m)
    if (!(await this.ctx.store.mailboxes.joinMailbox(m.id, auth.accountId, auth.deviceId))) {
      // Someone else got there first: nobody can trust this mailbox any more.
      await this.ctx.store.mailboxes.endMailbox(m.id, 'burnt')
      this.waiters.wake(m.id)
      throw new ServerError('GONE', 'this linking mailbox was already joined and is now closed')
    }
    this.waiters.wake(m.id)
    return joined(m)
  }

  /**
   * Which side of the mailbox the caller is: the new device by its secret, the existing device by
   * its session (`auth`, checked by the caller first: a bad token is a 401 whatever the mailbox).
   * A wrong secret, or a device other than the joiner, counts as a failure.
   */
  async side(mailboxId: string, secret: string | undefined, auth: Auth | null): Promise<MailboxSide> {
    if (secret === undefined && !auth)
      throw new UnauthenticatedError('the mailbox secret or a bearer token is required')
    const m = await this.ctx.store.mailboxes.getMailbox(mailboxId)
    if (!m) throw new NotFoundError('no such linking mailbox')
    live(this.ctx, m)
    if (secret !== undefined) {
      if (safeEqual(hashSecret(secret), m.secretHash)) return { mailbox: m, side: 'new' }
      await this.fail(m)
      throw new UnauthenticatedError('wrong mailbox secret')
    }
    if (m.state === 'joined' && m.joinedDeviceId === auth!.deviceId) return { mailbox: m, side: 'existing' }
    await this.fail(m)
    throw new NotFoundError('no such linking mailbox')
  }

  /** Relays one message from `at`'s side; the existing device only once it has joined. */
  async send(at: MailboxSide, body: string): Promise<{ index: number }> {
    if (at.side === 'existing' && at.mailbox.state !== 'joined') throw new NotFoundError()
    const index = await this.ctx.store.mailboxes.addLinkMessage(
      at.mailbox.id,
      at.side,
      body,
      API_LIMITS.linkMessagesPerSide,
    )
    this.waiters.wake(at.mailbox.id)
    return { index }
  }

  /**
   * The other side's messages after index `after`, waiting up to `waitMs` for one to arrive (a
   * change of state, such as the existing device joining, also ends the wait).
   */
  async receive(at: MailboxSide, after: number, waitMs: number): Promise<LinkReceiveResponse> {
    const other: LinkSide = at.side === 'new' ? 'existing' : 'new'
    const initial = at.mailbox.state
    let mailbox = at.mailbox
    const deadline = Date.now() + waitMs
    for (;;) {
      const messages = await this.ctx.store.mailboxes.getLinkMessages(mailbox.id, other, after)
      const remaining = deadline - Date.now()
      if (messages.length > 0 || remaining <= 0 || mailbox.state !== initial || this.waiters.closing) {
        return { state: mailbox.state, messages: messages.map(({ index, body }) => ({ index, body })) }
      }
      // Other instances cannot wake this one: with a shared database, look again every second.
      await this.waiters.wait(mailbox.id, this.ctx.config.databaseUrl ? Math.min(remaining, 1000) : remaining)
      const fresh = await this.ctx.store.mailboxes.getMailbox(mailbox.id)
      if (!fresh) throw gone()
      mailbox = live(this.ctx, fresh)
    }
  }

  /** Ends the mailbox: closed after a successful link, burnt after a failed one. */
  async close(at: MailboxSide, outcome: 'done' | 'failed'): Promise<void> {
    await this.ctx.store.mailboxes.endMailbox(at.mailbox.id, outcome === 'done' ? 'closed' : 'burnt')
    this.waiters.wake(at.mailbox.id)
  }

  /** Ends every long poll now (the server is closing). */
  shutdown(): void {
    this.waiters.wakeAll()
  }

  private async fail(m: MailboxRecord): Promise<void> {
    const state = await this.ctx.store.mailboxes.recordMailboxFailure(m.id, MAX_FAILURES)
    if (state === 'burnt') this.waiters.wake(m.id)
  }
}

function joined(m: MailboxRecord): LinkJoinResponse {
  return { mailboxId: m.id, expiresAt: m.expiresAt }
}

function gone(): ServerError {
  return new ServerError('GONE', 'this linking mailbox has expired or is closed')
}

/** The mailbox if it is still usable (`GONE` once expired, closed or burnt). */
function live(ctx: AppContext, m: MailboxRecord): MailboxRecord {
  if (m.expiresAt <= ctx.now() || m.state === 'closed' || m.state === 'burnt') throw gone()
  return m
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Long-poll wake-ups per mailbox, in this process. */
class Waiters {
  private readonly byMailbox = new Map<string, Set<() => void>>()
  closing = false

  wait(mailboxId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.byMailbox.get(mailboxId)
      if (!set) {
        set = new Set()
        this.byMailbox.set(mailboxId, set)
      }
      const s = set
      const done = () => {
        clearTimeout(timer)
        s.delete(done)
        if (s.size === 0 && this.byMailbox.get(mailboxId) === s) this.byMailbox.delete(mailboxId)
        resolve()
      }
      const timer = setTimeout(done, ms)
      s.add(done)
    })
  }

  wake(mailboxId: string): void {
    for (const f of [...(this.byMailbox.get(mailboxId) ?? [])]) f()
  }

  wakeAll(): void {
    this.closing = true
    for (const id of [...this.byMailbox.keys()]) this.wake(id)
  }
}
