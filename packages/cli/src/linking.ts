import {
  acceptLinkOffer,
  canonicalJson,
  completeLinkOffer,
  createLinkOffer,
  type DeviceRecord,
  type DeviceSecrets,
  deviceRecordSchema,
  formatLinkCode,
  fromBase64Url,
  fromUtf8,
  generateLinkCode,
  LinkExpiredError,
  LinkInvalidError,
  type LinkSecrets,
  linkCreateResponseSchema,
  linkJoinResponseSchema,
  linkReceiveResponseSchema,
  linkSendResponseSchema,
  openLinkMessage,
  PakeSession,
  parseLinkCode,
  parseLinkPayload,
  recordValue,
  sealLinkMessage,
  toBase64Url,
  utf8,
} from '@airlock/core'
import { z } from 'zod'
import type { ApiClient } from './client.js'
import { CliError, isApiError } from './errors.js'

/**
 * Linking a new device through the server's mailbox. The new device opens the mailbox and shows
 * both a QR link (core link.ts: one-time secret + ephemeral X25519 key) and a short code (core
 * pake.ts: CPace, one guess per code); the existing device joins with either. Both then hold the
 * same key and show the same confirmation fingerprint; the new device sends its public record
 * sealed under that key, the person confirms on the existing device, which signs the `add` entry
 * and answers with the log position it created, sealed too, so the new device pins exactly that.
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
const approvedSchema = z.strictObject({
  accountId: z.string(),
  seq: z.number().int().nonnegative(),
  head: z.string(),
})
export type Approved = z.infer<typeof approvedSchema>

const AAD_DEVICE = utf8('airlock link device v1')
const AAD_APPROVED = utf8('airlock link approved v1')

// Binds the PAKE to the server both devices talk to and to this mailbox, so a session cannot be
// relayed between servers or mailboxes.
function channel(origin: string, mailboxId: string): string {
  return `airlock link v1 ${origin} ${mailboxId}`
}

/** One side of a linking mailbox: the new device (by its secret) or the existing one (by token). */
class Mailbox {
  #after = -1

  constructor(
    private readonly client: ApiClient,
    readonly id: string,
    private readonly secret: string | undefined,
    readonly expiresAt: number,
  ) {}

  private auth() {
    return this.secret ? { secret: this.secret } : {}
  }

  async send(m: Message): Promise<void> {
    const body = toBase64Url(utf8(JSON.stringify(m)))
    await this.call(() =>
      this.client.json('POST', '/link/send', linkSendResponseSchema, {
        body: { mailboxId: this.id, ...this.auth(), body },
        anonymous: this.secret !== undefined,
      }),
    )
  }

  /** The other side's next message, waiting for it until the mailbox expires. */
  async next(): Promise<Message> {
    for (;;) {
      if (Date.now() >= this.expiresAt) throw new LinkExpiredError()
      const waitMs = Math.max(0, Math.min(25_000, this.expiresAt - Date.now()))
      const res = await this.call(() =>
        this.client.json('POST', '/link/receive', linkReceiveResponseSchema, {
          body: { mailboxId: this.id, ...this.auth(), after: this.#after, waitMs },
          anonymous: this.secret !== undefined,
        }),
      )
      const first = res.messages[0]
      if (first) {
        if (first.index <= this.#after) throw new LinkInvalidError('the mailbox replayed a message')
        this.#after = first.index
        return decode(first.body)
      }
      if (res.state === 'burnt' || res.state === 'closed') throw declined()
    }
  }

  async close(outcome: 'done' | 'failed'): Promise<void> {
    await this.client
      .send('POST', '/link/close', {
        body: { mailboxId: this.id, ...this.auth(), outcome },
        anonymous: this.secret !== undefined,
      })
      .catch(() => {})
  }

  private async call<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f()
    } catch (e) {
      if (isApiError(e, 'GONE')) throw declined()
      throw e
    }
  }
}

function declined(): CliError {
  return new CliError(
    'LINK_DECLINED',
    'the linking session ended: it was declined, a wrong code was tried, or it expired; start again',
  )
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

export interface LinkShown {
  code: string
  link: string
  expiresAt: number
}

/**
 * The new device's side: opens a mailbox, shows the QR link and code (`show`), runs whichever
 * key agreement the existing device chose, shows the fingerprint (`agreed`), sends its record and
 * waits for approval. Returns the approved log position to pin.
 */
export async function offerLink(
  client: ApiClient,
  device: DeviceSecrets,
  show: (s: LinkShown) => Promise<void> | void,
  agreed: (fingerprint: string) => void,
): Promise<Approved> {
  const created = await client.json('POST', '/link', linkCreateResponseSchema, { anonymous: true })
  const box = new Mailbox(client, created.mailboxId, created.secret, created.expiresAt)
  try {
    const code = generateLinkCode(created.nameplate)
    const offer = createLinkOffer({
      origin: client.origin,
      mailbox: created.mailboxId,
      expires: created.expiresAt,
    })
    const pake = new PakeSession({
      role: 'initiator',
      code,
      channel: channel(client.origin, created.mailboxId),
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
    agreed(secrets.fingerprint)
    const record = utf8(canonicalJson(recordValue(device.record)))
    await box.send({ t: 'device', box: toBase64Url(sealLinkMessage(secrets.key, record, AAD_DEVICE)) })

    const answer = expect(await box.next(), 'approved')
    const plain = openLinkMessage(secrets.key, fromBase64Url(answer.box), AAD_APPROVED)
    const approved = parseSealed(plain, approvedSchema)
    await box.close('done')
    return approved
  } catch (e) {
    await box.close('failed')
    throw e
  }
}

/**
 * The existing device's side, from what the person typed: a short code or a QR link. Shows the
 * new device's record and the fingerprint through `confirm`; on yes, `approve` must append the
 * `add` entry and return the new log position, which is sent back sealed.
 */
export async function acceptLink(
  client: ApiClient,
  input: string,
  confirm: (record: DeviceRecord, fingerprint: string) => Promise<boolean>,
  approve: (record: DeviceRecord) => Promise<Approved>,
): Promise<DeviceRecord> {
  const isLink = input.includes('#')
  const payload = isLink ? parseLinkPayload(input, Date.now()) : null
  const code = isLink ? null : parseLinkCode(input)
  if (payload && payload.origin !== client.origin) {
    throw new CliError(
      'USAGE',
      `that link is for another server (${payload.origin}); this device uses ${client.origin}`,
    )
  }
  let joined: z.infer<typeof linkJoinResponseSchema>
  try {
    joined = await client.json('POST', '/link/join', linkJoinResponseSchema, {
      body: payload ? { mailboxId: payload.mailbox } : { nameplate: code!.mailbox },
    })
  } catch (e) {
    if (isApiError(e, 'NOT_FOUND'))
      throw new CliError('NOT_FOUND', 'no device is waiting with that code (it may have expired)')
    throw e
  }
  if (payload && joined.mailboxId !== payload.mailbox)
    throw new LinkInvalidError('the server joined another mailbox')
  const box = new Mailbox(client, joined.mailboxId, undefined, joined.expiresAt)
  try {
    const hello = expect(await box.next(), 'hello')
    let secrets: LinkSecrets
    if (code) {
      const pake = new PakeSession({
        role: 'responder',
        code,
        channel: channel(client.origin, joined.mailboxId),
      })
      const tag = pake.receive(fromBase64Url(hello.share))
      await box.send({ t: 'pake', share: toBase64Url(pake.message), tag: toBase64Url(tag) })
      secrets = pake.confirm(fromBase64Url(expect(await box.next(), 'confirm').tag))
    } else {
      const accepted = acceptLinkOffer(payload!)
      await box.send({ t: 'qr', key: toBase64Url(accepted.publicKey) })
      secrets = accepted
    }
    const sealed = expect(await box.next(), 'device')
    const plain = openLinkMessage(secrets.key, fromBase64Url(sealed.box), AAD_DEVICE)
    const record = parseSealed(plain, deviceRecordSchema)
    if (record.kind === 'recovery') throw new LinkInvalidError('the new device sent an invalid device record')
    if (!(await confirm(record, secrets.fingerprint)))
      throw new CliError('CANCELLED', 'linking cancelled; nothing was added')
    const approved = await approve(record)
    const answer = sealLinkMessage(secrets.key, utf8(JSON.stringify(approved)), AAD_APPROVED)
    await box.send({ t: 'approved', box: toBase64Url(answer) })
    return record
  } catch (e) {
    await box.close('failed')
    throw e
  }
}
