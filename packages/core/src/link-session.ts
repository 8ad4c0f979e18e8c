import { z } from 'zod'
import {
  type LinkCreateResponse,
  type LinkJoinResponse,
  type LinkReceiveResponse,
  linkCreateResponseSchema,
  linkJoinResponseSchema,
  linkReceiveResponseSchema,
  linkSendResponseSchema,
} from './api.js'
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from './bytes.js'
import { canonicalJson } from './canonical.js'
import { LinkDeclinedError, LinkExpiredError, LinkInvalidError } from './errors.js'
import { type DeviceRecord, type DeviceSecrets, deviceRecordSchema, recordValue } from './identity.js'
import {
  acceptLinkOffer,
  completeLinkOffer,
  createLinkOffer,
  formatLinkCode,
  generateLinkCode,
  type LinkPayload,
  parseLinkCode,
  parseLinkPayload,
} from './link.js'
import { type LinkCode, type LinkSecrets, openLinkMessage, PakeSession, sealLinkMessage } from './pake.js'

/**
 * The device-linking conversation over the server's mailbox, shared by every client. The new
 * device opens the mailbox and shows both a QR link (link.ts: one-time secret + ephemeral X25519
 * key) and a short code (pake.ts: CPace, one guess per code); the existing device joins with
 * either. Both then hold the same key and show the same confirmation fingerprint; the new device
 * sends its public record sealed under that key, the person confirms on the existing device,
 * which signs the `add` entry and answers with the log position it created, sealed too, so the
 * new device pins exactly that.
 *
 * Mailbox messages are base64url of JSON:
 *
 *     new → existing   {t:'hello', share}      CPace share (initiator), sent when the mailbox opens
 *                      {t:'confirm', tag}      CPace confirmation (short-code path only)
 *                      {t:'device', box}       sealed DeviceRecord
 *     existing → new   {t:'pake', share, tag}  CPace share and confirmation (responder)
 *                   or {t:'qr', key}           ephemeral X25519 public key (QR path)
 *                      {t:'approved', box}     sealed {accountId, seq, head}
 */

/**
 * The server's mailbox calls (API.md "Device-linking mailbox"). `secret` is the new device's
 * mailbox secret; the existing device passes none and authenticates with its session. A call on
 * a mailbox that is gone (410) must throw {@link LinkDeclinedError}.
 */
export interface LinkServer {
  /** The server origin both devices talk to; bound into the key agreement. */
  readonly origin: string
  open(): Promise<LinkCreateResponse>
  join(target: { mailboxId: string } | { nameplate: string }): Promise<LinkJoinResponse>
  send(mailboxId: string, body: string, secret?: string): Promise<void>
  receive(mailboxId: string, after: number, waitMs: number, secret?: string): Promise<LinkReceiveResponse>
  close(mailboxId: string, outcome: 'done' | 'failed', secret?: string): Promise<void>
}

/** A JSON `POST` to the server's API (`anonymous`: without the session), answer checked against `schema`. */
export type PostJson = <S extends z.ZodType>(
  path: string,
  schema: S,
  body: unknown,
  anonymous: boolean,
) => Promise<z.infer<S>>

/**
 * {@link LinkServer} over any client's JSON `POST`: the new device authenticates with its mailbox
 * secret and no session, the existing device with its session. A call on a mailbox that is gone
 * (`isGone`) ends the session as {@link LinkDeclinedError}; `join` leaves its errors as they are
 * (an unknown or gone code is the caller's "no such code").
 */
export function linkServerOver(origin: string, post: PostJson, isGone: (e: unknown) => boolean): LinkServer {
  const auth = (mailboxId: string, secret?: string) => (secret ? { mailboxId, secret } : { mailboxId })
  const call = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f()
    } catch (e) {
      if (isGone(e)) throw new LinkDeclinedError()
      throw e
    }
  }
  return {
    origin,
    open: () => post('/link', linkCreateResponseSchema, undefined, true),
    join: (target) => post('/link/join', linkJoinResponseSchema, target, false),
    send: async (mailboxId, body, secret) => {
      await call(() =>
        post('/link/send', linkSendResponseSchema, { ...auth(mailboxId, secret), body }, !!secret),
      )
    },
    receive: (mailboxId, after, waitMs, secret) =>
      call(() =>
        post(
          '/link/receive',
          linkReceiveResponseSchema,
          { ...auth(mailboxId, secret), after, waitMs },
          !!secret,
        ),
      ),
    close: async (mailboxId, outcome, secret) => {
      await post('/link/close', z.undefined(), { ...auth(mailboxId, secret), outcome }, !!secret)
    },
  }
}

const b64 = z
  .string()
  .regex(/^[A-Za-z0-9_-]*$/)
  .max(8192)
const messageSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('hello'), share: b64 }),
  z.strictObject({ t: z.literal('confirm'), tag: b64 }),
  z.strictObject({ t: z.literal('device'), box: b64 }),
  z.strictObject({ t: z.literal('pake'), share: b64, tag: b64 }),
  z.strictObject({ t: z.literal('qr'), key: b64 }),
  z.strictObject({ t: z.literal('approved'), box: b64 }),
])
type Message = z.infer<typeof messageSchema>

/** The log position the existing device created for the new one; the new device pins it. */
export const linkApprovalSchema = z.strictObject({
  accountId: z.string().max(64),
  seq: z.number().int().nonnegative(),
  head: z.string().max(128),
})
export type LinkApproval = z.infer<typeof linkApprovalSchema>

/** How long a linking session may last (the server's mailboxes live ten minutes). */
export const LINK_SESSION_MS = 10 * 60 * 1000

const AAD_DEVICE = utf8('airlock link device v1')
const AAD_APPROVED = utf8('airlock link approved v1')

// Binds the PAKE to the server both devices talk to and to this mailbox, so a session cannot be
// relayed between servers or mailboxes.
function channel(origin: string, mailboxId: string): string {
  return `airlock link v1 ${origin} ${mailboxId}`
}

/** One side of a linking mailbox: the new device (with its secret) or the existing one. */
class Mailbox {
  #after = -1

  constructor(
    private readonly server: LinkServer,
    readonly id: string,
    private readonly secret: string | undefined,
    readonly expiresAt: number,
  ) {}

  send(m: Message): Promise<void> {
    return this.server.send(this.id, toBase64Url(utf8(JSON.stringify(m))), this.secret)
  }

  /** The other side's next message, waiting for it until the mailbox expires. */
  async next(): Promise<Message> {
    for (;;) {
      if (Date.now() >= this.expiresAt) throw new LinkExpiredError()
      const waitMs = Math.max(0, Math.min(25_000, this.expiresAt - Date.now()))
      const res = await this.server.receive(this.id, this.#after, waitMs, this.secret)
      const first = res.messages[0]
      if (first) {
        if (first.index <= this.#after) throw new LinkInvalidError('the mailbox replayed a message')
        this.#after = first.index
        return decode(first.body)
      }
      if (res.state === 'burnt' || res.state === 'closed') throw new LinkDeclinedError()
    }
  }

  async close(outcome: 'done' | 'failed'): Promise<void> {
    await this.server.close(this.id, outcome, this.secret).catch(() => {})
  }
}

function decode(body: string): Message {
  try {
    const r = messageSchema.safeParse(JSON.parse(fromUtf8(fromBase64Url(body))))
    if (r.success) return r.data
  } catch {}
  throw new LinkInvalidError('the other device sent a malformed linking message')
}

/** A sealed JSON value from the other device, checked against `schema`; `LinkInvalidError` if not. */
function parseSealed<T>(plain: Uint8Array, schema: z.ZodType<T>): T {
  try {
    const r = schema.safeParse(JSON.parse(fromUtf8(plain)))
    if (r.success) return r.data
  } catch {}
  throw new LinkInvalidError('the other device sent an invalid linking message')
}

function expect<T extends Message['t']>(m: Message, ...types: T[]): Extract<Message, { t: T }> {
  if (!(types as string[]).includes(m.t)) throw new LinkInvalidError('unexpected linking message')
  return m as Extract<Message, { t: T }>
}

/** What the new device shows while it waits: the short code and the QR link. */
export interface LinkShown {
  code: string
  link: string
  expiresAt: number
}

/**
 * The new device's side: opens a mailbox, shows the QR link and code (`show`), runs whichever
 * key agreement the existing device chose, shows the fingerprint (`agreed`; the new device's
 * person confirms it when that returns a promise, and `false` declines), sends its record and
 * waits for approval. Returns the approved log position to pin. Throws `LinkDeclinedError`,
 * `LinkExpiredError`, `PakeError` or `LinkInvalidError` when no device was added.
 */
export async function offerLink(
  server: LinkServer,
  device: DeviceSecrets,
  show: (s: LinkShown) => Promise<void> | void,
  agreed: (fingerprint: string) => Promise<boolean | undefined> | boolean | undefined,
): Promise<LinkApproval> {
  const opened = await server.open()
  // The server says when the mailbox expires; the link never promises more than a session lasts.
  const created = { ...opened, expiresAt: Math.min(opened.expiresAt, Date.now() + LINK_SESSION_MS) }
  const box = new Mailbox(server, created.mailboxId, created.secret, created.expiresAt)
  try {
    const code = generateLinkCode(created.nameplate)
    const offer = createLinkOffer({
      origin: server.origin,
      mailbox: created.mailboxId,
      expires: created.expiresAt,
    })
    const pake = new PakeSession({
      role: 'initiator',
      code,
      channel: channel(server.origin, created.mailboxId),
    })
    await box.send({ t: 'hello', share: toBase64Url(pake.message) })
    await show({ code: formatLinkCode(code), link: offer.link, expiresAt: created.expiresAt })

    const first = expect(await box.next(), 'pake', 'qr')
    let secrets: LinkSecrets
    if (first.t === 'pake') {
      const tag = pake.receive(fromBase64Url(first.share))
      secrets = pake.confirm(fromBase64Url(first.tag))
      await box.send({ t: 'confirm', tag: toBase64Url(tag) })
    } else {
      secrets = completeLinkOffer(offer, fromBase64Url(first.key))
    }
    // Whoever joined first holds the key: the person confirms the codes match before this
    // device sends its record and accepts an account (`false` ends the session).
    if ((await agreed(secrets.fingerprint)) === false)
      throw new LinkDeclinedError('linking cancelled on this device')
    const record = utf8(canonicalJson(recordValue(device.record)))
    await box.send({ t: 'device', box: toBase64Url(sealLinkMessage(secrets.key, record, AAD_DEVICE)) })

    const answer = expect(await box.next(), 'approved')
    const plain = openLinkMessage(secrets.key, fromBase64Url(answer.box), AAD_APPROVED)
    const approved = parseSealed(plain, linkApprovalSchema)
    await box.close('done')
    return approved
  } catch (e) {
    await box.close('failed')
    throw e
  }
}

/** What the person typed or scanned on the existing device: a QR link or a short code. */
export type LinkInput = { payload: LinkPayload; code?: undefined } | { code: LinkCode; payload?: undefined }

/** Parses a QR link (anything with a `#`) or a short code; throws `LinkInvalidError`/`LinkExpiredError`. */
export function parseLinkInput(input: string, now: number): LinkInput {
  return input.includes('#') ? { payload: parseLinkPayload(input, now) } : { code: parseLinkCode(input) }
}

/**
 * The existing device's side. Shows the fingerprint as soon as the keys agree (`agreed`), then
 * the new device's record and the fingerprint through `confirm`; on yes, `approve` must append the `add` entry and return the new log position, which
 * is sent back sealed. A `no` closes the session as failed and throws `LinkDeclinedError`.
 */
export async function acceptLink(
  server: LinkServer,
  input: LinkInput,
  confirm: (record: DeviceRecord, fingerprint: string) => Promise<boolean>,
  approve: (record: DeviceRecord) => Promise<LinkApproval>,
  agreed?: (fingerprint: string) => void,
): Promise<DeviceRecord> {
  const { payload, code } = input
  if (payload && payload.origin !== server.origin)
    throw new LinkInvalidError(`that link is for another server (${payload.origin})`)
  const joined = await server.join(payload ? { mailboxId: payload.mailbox } : { nameplate: code!.mailbox })
  if (payload && joined.mailboxId !== payload.mailbox)
    throw new LinkInvalidError('the server joined another mailbox')
  const box = new Mailbox(server, joined.mailboxId, undefined, joined.expiresAt)
  try {
    const hello = expect(await box.next(), 'hello')
    let secrets: LinkSecrets
    if (code) {
      const pake = new PakeSession({
        role: 'responder',
        code,
        channel: channel(server.origin, joined.mailboxId),
      })
      const tag = pake.receive(fromBase64Url(hello.share))
      await box.send({ t: 'pake', share: toBase64Url(pake.message), tag: toBase64Url(tag) })
      secrets = pake.confirm(fromBase64Url(expect(await box.next(), 'confirm').tag))
    } else {
      const accepted = acceptLinkOffer(payload!)
      await box.send({ t: 'qr', key: toBase64Url(accepted.publicKey) })
      secrets = accepted
    }
    // Shown at once, so the person can compare it with the new device's before that one confirms.
    agreed?.(secrets.fingerprint)
    const sealed = expect(await box.next(), 'device')
    const plain = openLinkMessage(secrets.key, fromBase64Url(sealed.box), AAD_DEVICE)
    const record = parseSealed(plain, deviceRecordSchema)
    if (record.kind === 'recovery') throw new LinkInvalidError('the new device sent an invalid device record')
    if (!(await confirm(record, secrets.fingerprint)))
      throw new LinkDeclinedError('linking cancelled; nothing was added')
    const approved = await approve(record)
    const answer = sealLinkMessage(secrets.key, utf8(JSON.stringify(approved)), AAD_APPROVED)
    await box.send({ t: 'approved', box: toBase64Url(answer) })
    return record
  } catch (e) {
    await box.close('failed')
    throw e
  }
}
