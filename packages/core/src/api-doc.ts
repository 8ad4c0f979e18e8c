import { z } from 'zod'
import { accessEntrySchema } from './access-log.js'
import {
  API_ERROR_STATUS,
  API_PREFIX,
  type ApiErrorCode,
  adminAccountSchema,
  apiErrorCodeSchema,
  committedItemSchema,
  conversationSchema,
  itemTombstoneSchema,
  pushEventSchema,
  SHARE_SESSION_HEADER,
  shareSummarySchema,
  wireLogEntrySchema,
} from './api.js'
import type { Endpoint, EndpointAuth } from './endpoints.js'
import { InvalidInputError } from './errors.js'
import { policySchema } from './policy.js'

/**
 * Renders the server's API reference (`packages/server/API.md`) from the endpoint table and a
 * template holding the prose the table cannot express. The template's markers are replaced:
 *
 * - `<!-- endpoints: name name … -->`: those endpoints, in that order, each with its method, path,
 *   who may call it, its summary, and the types of its path parameters, query, body and answer,
 *   printed from the zod schemas (every field, optional ones marked `?`, with their limits);
 * - `<!-- errors -->`: every API error code with its status and when it is returned;
 * - `<!-- types -->`: the shared types the endpoints refer to by name.
 *
 * Throws `InvalidInputError` if an endpoint is placed twice or not at all, or a marker names an
 * unknown endpoint, so a new endpoint cannot be left out of the document.
 */
export function renderApiDoc(endpoints: Readonly<Record<string, Endpoint>>, template: string): string {
  const placed = new Set<string>()
  const printer = new TypePrinter()
  let out = template.replace(/<!--\s*endpoints:([^>]*?)-->/g, (_, list: string) => {
    const names = list.split(/\s+/).filter(Boolean)
    return names
      .map((name) => {
        const e = endpoints[name]
        if (!e) throw new InvalidInputError(`the API template names an unknown endpoint: ${name}`)
        if (placed.has(name)) throw new InvalidInputError(`the API template places ${name} twice`)
        placed.add(name)
        return renderEndpoint(name, e, printer)
      })
      .join('\n\n')
  })
  const missing = Object.keys(endpoints).filter((n) => !placed.has(n))
  if (missing.length > 0)
    throw new InvalidInputError(`the API template does not place these endpoints: ${missing.join(', ')}`)
  out = out.replace(/<!--\s*errors\s*-->/g, renderErrors)
  out = out.replace(/<!--\s*types\s*-->/g, () => printer.renderNamed())
  return out
}

/** When each error code is returned, for people: one line each, every code (checked by the type). */
export const API_ERROR_WHEN = {
  BAD_REQUEST: 'malformed URL, bad tus headers, other protocol errors',
  INVALID_BODY: 'body or query fails its schema; malformed JSON',
  INVALID_LOG_ENTRY: 'a device-log entry that is malformed or does not verify',
  INVALID_GROUP_ENTRY:
    'a group-log entry that is malformed, does not verify, or is not signed by the sending device',
  UNAUTHENTICATED: 'no, unknown, expired or revoked token; wrong mailbox secret; no share session',
  BAD_SIGNATURE: 'login failed (bad, replayed or expired challenge, wrong key, removed device)',
  FORBIDDEN:
    "not an admin; unknown, used or expired setup/invite code; deleting another sender's item; reading another sender's access log",
  POLICY_FORBIDS: "the organisation's policy forbids it (a label's rules, share links, the item size)",
  ACCOUNT_DISABLED: 'an administrator disabled this account',
  BLOCKED:
    'one of the two accounts blocked the other: a direct conversation, an item or a group invitation between them',
  NOT_ACCEPTED:
    "items of a request or group invitation the caller has not accepted; an item to someone who declined the caller's request",
  NOT_FOUND: 'no such thing, or not yours',
  METHOD_NOT_ALLOWED: '`GET`/`DELETE` on the tus endpoint',
  CONFLICT: 'device already enrolled; label reused with another size; group id taken',
  STALE_HEAD: 'a log entry that does not extend the current head (compare-and-swap lost)',
  USERNAME_TAKEN: 'the username belongs to another account',
  UPLOAD_INCOMPLETE: 'manifest sent before the whole blob',
  ALREADY_COMMITTED: 'item (or share link) already committed',
  GONE: 'reservation expired; linking mailbox expired, closed or burnt; share link expired, used up or revoked',
  SHARE_SUSPENDED: "a share link whose owner's account is disabled (it works again once enabled)",
  ITEM_TOO_LARGE: 'declared ciphertext (or manifest) size over the server limit',
  QUOTA_EXCEEDED: 'declared sizes would take the account over its quota',
  PAYLOAD_TOO_LARGE: 'request body over its limit (64 KiB JSON; manifests `--max-manifest-size`)',
  UNSUPPORTED_MEDIA_TYPE: 'a body of the wrong content type',
  RANGE_NOT_SATISFIABLE: '`Range` starts past the end (`Content-Range: bytes */size`)',
  RATE_LIMITED: 'with `Retry-After` (seconds)',
  INTERNAL: 'a bug; logged without request data',
  UNAVAILABLE: 'shutting down; no free linking nameplate',
  INSUFFICIENT_STORAGE: "the server's disk is full (bytes already stored stay; the upload resumes later)",
} as const satisfies Record<ApiErrorCode, string>

function renderErrors(): string {
  const rows = (Object.entries(API_ERROR_STATUS) as [ApiErrorCode, number][]).map(
    ([code, status]) => `| \`${code}\` | ${status} | ${API_ERROR_WHEN[code]} |`,
  )
  return ['| code | status | when |', '| --- | --- | --- |', ...rows].join('\n')
}

const AUTH_TEXT = {
  anonymous: 'anyone (no token)',
  device: 'a device session',
  admin: "an administrator's device session",
  'share-session': `a share link's download session (\`${SHARE_SESSION_HEADER}\` header), no account`,
  mailbox: "the mailbox `secret` (new device) or the joined device's session",
} as const satisfies Record<EndpointAuth, string>

function renderEndpoint(name: string, e: Endpoint, printer: TypePrinter): string {
  const path = e.outsideApi ? e.path : `${API_PREFIX}${e.path}`
  const answer = e.response === 'websocket' ? `\`${e.status}\` (WebSocket)` : `\`${e.status}\``
  const lines = [
    `#### \`${e.method} ${path}\``,
    '',
    `\`${name}\` · caller: ${AUTH_TEXT[e.auth]} · answer: ${answer}`,
    '',
    e.summary,
  ]
  const decls: string[] = []
  if (e.params) decls.push(printer.declare('Params', e.params, 'output'))
  if (e.query) decls.push(printer.declare('Query', e.query, 'output'))
  if (e.request === 'bytes') decls.push('type Body = bytes // application/octet-stream')
  else if (e.request === 'stream') decls.push('type Body = bytes // streamed')
  else if (e.request) decls.push(printer.declare('Body', e.request, 'input'))
  if (e.messages) {
    decls.push(printer.declare('ClientMessage', e.messages.client, 'input'))
    decls.push(printer.declare('ServerMessage', e.messages.server, 'output'))
  }
  if (e.response === 'bytes') decls.push('type Response = bytes // application/octet-stream')
  else if (e.response === 'none') decls.push('type Response = void // no body')
  else if (e.response !== 'websocket') decls.push(printer.declare('Response', e.response, 'output'))
  lines.push('', '```ts', ...decls, '```')
  return lines.join('\n')
}

type Io = 'input' | 'output'

/** A JSON Schema node as `z.toJSONSchema` writes it (the parts printed here). */
interface JsonSchema {
  type?: string
  $ref?: string
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  items?: JsonSchema
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  enum?: unknown[]
  const?: unknown
  default?: unknown
  minLength?: number
  maxLength?: number
  pattern?: string
  minimum?: number
  maximum?: number
  minItems?: number
  maxItems?: number
  $defs?: Record<string, JsonSchema>
}

/** A printed type: its text (maybe several lines) and a note on its limits. */
interface Printed {
  text: string
  note: string
}

/** Prints zod schemas as TypeScript-like declarations, collecting the named types they refer to. */
class TypePrinter {
  private readonly registry = z.registry<{ id: string }>()
  private readonly names = new Map<z.ZodType, string>()
  private readonly used = new Set<string>()

  constructor() {
    const named: [string, z.ZodType][] = [
      ['DeviceLogEntry', wireLogEntrySchema],
      ['Conversation', conversationSchema],
      ['CommittedItem', committedItemSchema],
      ['ItemTombstone', itemTombstoneSchema],
      ['AccessEntry', accessEntrySchema],
      ['ShareSummary', shareSummarySchema],
      ['AdminAccount', adminAccountSchema],
      ['Policy', policySchema],
      ['PushEvent', pushEventSchema],
      ['ApiErrorCode', apiErrorCodeSchema],
    ]
    for (const [id, schema] of named) {
      this.registry.add(schema, { id })
      this.names.set(schema, id)
    }
  }

  declare(label: string, schema: z.ZodType, io: Io): string {
    const p = this.print(this.json(schema, io), '')
    return `type ${label} = ${p.text}${p.note ? ` // ${p.note}` : ''}`
  }

  /** The `<!-- types -->` section: every named type an endpoint referred to, in a stable order. */
  renderNamed(): string {
    const printed = new Map<string, string>()
    // A named type may refer to another: print until no new name turns up.
    while (printed.size < this.used.size) {
      for (const [schema, id] of this.names) {
        if (!this.used.has(id) || printed.has(id)) continue
        // At its own root a named type is only a reference to itself: print its definition.
        const json = this.json(schema, 'output')
        const p = this.print(json.$defs?.[id] ?? json, '')
        printed.set(id, `type ${id} = ${p.text}${p.note ? ` // ${p.note}` : ''}`)
      }
    }
    const out: string[] = []
    for (const id of this.names.values()) {
      const decl = printed.get(id)
      if (decl) out.push(`### ${id}`, '', '```ts', decl, '```', '')
    }
    return out.join('\n').trimEnd()
  }

  private json(schema: z.ZodType, io: Io): JsonSchema {
    return z.toJSONSchema(schema, {
      io,
      unrepresentable: 'any',
      metadata: this.registry,
      reused: 'inline',
    }) as JsonSchema
  }

  private print(s: JsonSchema, indent: string): Printed {
    if (s.$ref) {
      const name = s.$ref.replace(/^#\/\$defs\//, '')
      this.used.add(name)
      return { text: name, note: '' }
    }
    const union = s.anyOf ?? s.oneOf
    if (union) return this.printUnion(union, indent)
    if (s.const !== undefined) return { text: JSON.stringify(s.const), note: '' }
    if (s.enum) return { text: s.enum.map((v) => JSON.stringify(v)).join(' | '), note: '' }
    const dflt = s.default === undefined ? '' : `default ${JSON.stringify(s.default)}`
    const withDefault = (p: Printed): Printed => ({ ...p, note: [p.note, dflt].filter(Boolean).join(', ') })
    switch (s.type) {
      case 'string':
        return withDefault({ text: 'string', note: stringNote(s) })
      case 'integer':
        return withDefault({
          text: 'number',
          note: ['integer', rangeNote(s.minimum, s.maximum)].filter(Boolean).join(' '),
        })
      case 'number':
        return withDefault({ text: 'number', note: rangeNote(s.minimum, s.maximum) })
      case 'boolean':
        return withDefault({ text: 'boolean', note: '' })
      case 'null':
        return { text: 'null', note: '' }
      case 'array': {
        const item = this.print(s.items ?? {}, indent)
        const simple = !item.text.includes('\n') && !item.text.includes(' | ')
        const text = simple ? `${item.text}[]` : `Array<${item.text}>`
        const count = countNote(s.minItems, s.maxItems)
        return { text, note: [count, item.note && `each ${item.note}`].filter(Boolean).join('; ') }
      }
      case 'object':
        return this.printObject(s, indent)
      default:
        return { text: 'unknown', note: '' }
    }
  }

  private printObject(s: JsonSchema, indent: string): Printed {
    const props = Object.entries(s.properties ?? {})
    if (props.length === 0) {
      if (s.additionalProperties && typeof s.additionalProperties === 'object') {
        return { text: `Record<string, ${this.print(s.additionalProperties, indent).text}>`, note: '' }
      }
      return { text: '{}', note: '' }
    }
    const inner = `${indent}  `
    const required = new Set(s.required ?? [])
    const lines = props.map(([key, v]) => {
      const p = this.print(v, inner)
      const optional = required.has(key) ? '' : '?'
      return `${inner}${key}${optional}: ${p.text}${p.note ? ` // ${p.note}` : ''}`
    })
    return { text: `{\n${lines.join('\n')}\n${indent}}`, note: '' }
  }

  private printUnion(members: JsonSchema[], indent: string): Printed {
    // Nested unions (a union of a discriminated union and more) print as one flat union.
    const flat = members.flatMap((m) => ((m.anyOf ?? m.oneOf) ? (m.anyOf ?? m.oneOf)! : [m]))
    const printed = flat.map((m) => this.print(m, indent))
    if (printed.every((p) => !p.text.includes('\n'))) {
      const notes = [...new Set(printed.map((p) => p.note).filter(Boolean))]
      return { text: printed.map((p) => p.text).join(' | '), note: notes.join('; ') }
    }
    return { text: printed.map((p) => p.text).join(` | `), note: '' }
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER

function rangeNote(min: number | undefined, max: number | undefined): string {
  const hi = max === undefined || max >= MAX_SAFE ? undefined : max
  if (min !== undefined && hi !== undefined) return min === hi ? `= ${min}` : `${min}–${hi}`
  if (min !== undefined) return `≥ ${min}`
  if (hi !== undefined) return `≤ ${hi}`
  return ''
}

function countNote(min: number | undefined, max: number | undefined): string {
  const r = rangeNote(min, max)
  return r ? `${r} items` : ''
}

/** `^[A-Za-z0-9_-]*$` with lengths, or `{n}` / `{a,b}` inside, reads as "base64url, n chars". */
function stringNote(s: JsonSchema): string {
  let min = s.minLength
  let max = s.maxLength
  let kind = ''
  const b64 = s.pattern && /^\^\[A-Za-z0-9_-\](\*|\{(\d+)(?:,(\d+))?\})\$$/.exec(s.pattern)
  if (b64) {
    kind = 'base64url'
    if (b64[2] !== undefined) {
      min = Number(b64[2])
      max = b64[3] === undefined ? min : Number(b64[3])
    }
  } else if (s.pattern) {
    kind = `/${s.pattern}/`
  }
  const length = min !== undefined && min === max ? `${min}` : rangeNote(min, max)
  return [kind, length && `${length} chars`].filter(Boolean).join(', ')
}
