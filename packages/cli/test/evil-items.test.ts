import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  decryptBytes,
  encryptBytes,
  generateDevice,
  type Manifest,
  padmeLength,
  toBase64Url,
  utf8,
} from '@airlock/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cli,
  cliJson,
  randomFile,
  removeDir,
  sha256File,
  tempDir,
} from '../../../test-support/harness.js'
import {
  deviceSecrets,
  errorCode,
  expectNothingWritten,
  expectRefused,
  forgeManifest,
  forgeSameHeader,
  invite,
  linkDevice,
  payloadChunks,
  pinnedLog,
  readManifest,
  setupAccount,
} from './evil-fixture.js'
import { EvilServer, jsonOf, route, withJson } from './evil-server.js'

/**
 * SECURITY-TESTS 9–12 (and 4 through a server): the real server behind the evil proxy serves
 * swapped, re-chunked, forged and re-addressed items to real `airlock` processes. Each refusal
 * is the typed error with exit code 6, and nothing is written or shown.
 */

let dir: string
let evil: EvilServer
let A: string // alice's laptop, the sender
let B: string // alice's phone: a co-recipient that is compromised in some tests
let bobHome: string // another user
let X: string
let Y: string
let Z: string // bob's
let ySha: string
let out: string
let n = 0
const SIZE = 200_000

const get = (home: string, id: string) => {
  out = join(dir, `out-${++n}`)
  return cli(home, ['--json', 'get', '--out', out, '--', id])
}
const blobOf = (id: string) => route('GET', new RegExp(`/items/${id}/blob$`))
const itemOf = (id: string) => route('GET', new RegExp(`/items/${id}$`))
/** Serves `sealed` as item `id`'s manifest. */
const serveManifest = (id: string, sealed: Uint8Array) =>
  evil.tamper(itemOf(id), (_q, res) =>
    withJson(res, { ...jsonOf<Record<string, unknown>>(res), manifest: toBase64Url(sealed) }),
  )
const sealedOf = (id: string) =>
  new Uint8Array(evil.sql<{ manifest: Buffer }>('SELECT manifest FROM items WHERE id = ?', id)[0]!.manifest)

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-evil-items-')
  evil = await EvilServer.start(join(dir, 'data'))
  ;[A, B, bobHome] = ['home-a', 'home-b', 'home-bob'].map((h) => join(dir, h)) as [string, string, string]
  await setupAccount(evil, A, 'alice', evil.setupCode!)
  await linkDevice(evil, A, B, 'phone')
  await setupAccount(evil, bobHome, 'bob', await invite(A))
  const send = async (home: string, name: string) => {
    const path = join(dir, name)
    const sha = await randomFile(path, SIZE)
    const r = await cliJson<{ sent: { itemId: string }[] }>(home, ['send', path])
    return { id: r.sent[0]!.itemId, sha }
  }
  X = (await send(A, 'x.bin')).id
  const y = await send(A, 'y.bin')
  Y = y.id
  ySha = y.sha
  Z = (await send(bobHome, 'z.bin')).id
})

afterEach(() => evil.reset())

afterAll(async () => {
  await evil?.close()
  if (dir) await removeDir(dir)
})

describe('a malicious server serving items (evil-server harness, real CLI)', () => {
  it('SECURITY-9: another item’s or another user’s blob for item T is rejected; nothing written', async () => {
    const yBlob = await evil.readBlob(Y)
    const xBlob = await evil.readBlob(X)
    const undo = evil.tamper(blobOf(Y), (_q, res) => ({ ...res, body: xBlob }))
    expectRefused(await get(B, Y), 'HASH_MISMATCH')
    await expectNothingWritten(B, out)
    undo()

    // Bob's blob in Y's place on disk (made exactly as long as the size Alice signed).
    await evil.writeBlob(Y, Buffer.concat([await evil.readBlob(Z), yBlob]).subarray(0, yBlob.length))
    expectRefused(await get(B, Y), 'HASH_MISMATCH')
    await expectNothingWritten(B, out)
    await evil.writeBlob(Y, yBlob)

    // X's whole record (manifest and blob) served under Y's id.
    const undoItem = serveManifest(Y, sealedOf(X))
    const undoBlob = evil.tamper(blobOf(Y), (_q, res) => ({ ...res, body: xBlob }))
    expectRefused(await get(B, Y), 'ID_MISMATCH')
    await expectNothingWritten(B, out)
    undoItem()
    undoBlob()

    const ok = await cliJson<{ path: string }>(B, ['get', '--out', join(dir, 'ok-9'), '--', Y])
    expect(await sha256File(ok.path)).toBe(ySha)
  })

  it('SECURITY-4 via the server: chunks reordered, duplicated, dropped or appended are rejected', async () => {
    const blob = await evil.readBlob(Y)
    const { prefix, chunks } = payloadChunks(blob)
    expect(chunks.length).toBeGreaterThanOrEqual(4)
    const [c0, c1, c2, ...rest] = chunks as [Buffer, Buffer, Buffer, ...Buffer[]]
    const cases: [string, Buffer, string][] = [
      ['reordered', Buffer.concat([prefix, c1, c0, c2, ...rest]), 'HASH_MISMATCH'],
      ['duplicated', Buffer.concat([prefix, c0, c0, c2, ...rest]), 'HASH_MISMATCH'],
      // The short download is retried with a Range request, and the spliced file fails its hash.
      ['dropped', Buffer.concat([prefix, c0, c2, ...rest]), 'HASH_MISMATCH'],
      ['appended', Buffer.concat([blob, c1]), 'BAD_RESPONSE'],
    ]
    for (const [what, body, code] of cases) {
      const undo = evil.tamper(blobOf(Y), (_q, res) => (res.status === 200 ? { ...res, body } : undefined))
      const r = await get(B, Y)
      expect(r.code, what).toBe(6)
      expectRefused(r, code)
      await expectNothingWritten(B, out)
      undo()
    }
  })

  it('SECURITY-10: no manifest, an unsigned one, or one signed outside the log: refused, name never shown', async () => {
    const b = await deviceSecrets(B)
    const { manifest } = await readManifest(sealedOf(Y), b)
    const mallory = await generateDevice({ name: 'mallory', kind: 'cli' })
    const lure: Manifest = { ...manifest, filename: 'invoice.exe' }
    const cases: [string, Uint8Array, string][] = [
      ['stripped', new Uint8Array(0), 'HEADER'],
      ['not a manifest', await encryptBytes([b.record.recipient], utf8('just a file')), 'MANIFEST'],
      ['unsigned', await forgeManifest(lure, [b], null), 'SIGNATURE'],
      ['signed by an outsider as the sender', await forgeManifest(lure, [b], mallory), 'SIGNATURE'],
      [
        'signed by an outsider as itself',
        await forgeManifest(
          { ...lure, sender: { ...lure.sender, deviceId: mallory.record.id } },
          [b],
          mallory,
        ),
        'SIGNATURE',
      ],
    ]
    for (const [what, sealed, code] of cases) {
      const undo = serveManifest(Y, sealed)
      const r = await get(B, Y)
      expect(errorCode(r), what).toBe(code)
      expectRefused(r, code)
      await expectNothingWritten(B, out)
      evil.tamper(route('GET', /\/conversations\/[^/]+\/items$/), (_q, res) => {
        const page = jsonOf<{ items: { itemId: string; manifest?: string }[] }>(res)
        for (const i of page.items) if (i.itemId === Y) i.manifest = toBase64Url(sealed)
        return withJson(res, page)
      })
      const inbox = await cliJson<{ items: { itemId: string; verified: boolean; name?: string }[] }>(B, [
        'inbox',
      ])
      expect(
        inbox.items.find((i) => i.itemId === Y),
        what,
      ).toMatchObject({ verified: false })
      expect(JSON.stringify(inbox), what).not.toContain('invoice.exe')
      evil.reset()
      undo()
    }
  })

  it('SECURITY-11: a co-recipient’s payload under the sender’s header is rejected, also re-signed as the sender', async () => {
    const b = await deviceSecrets(B)
    const a = await deviceSecrets(A)
    const blob = await evil.readBlob(Y)
    const evilPlain = new Uint8Array(padmeLength(SIZE)).fill(0x41)
    const forged = await forgeSameHeader(blob, b.ageIdentity, evilPlain)
    expect(forged.length).toBe(blob.length)
    // age alone cannot tell: the forged file decrypts for the sender's own device.
    expect(await decryptBytes([a.ageIdentity], forged)).toEqual(evilPlain)
    evil.tamper(blobOf(Y), (_q, res) => ({ ...res, body: Buffer.from(forged) }))
    expectRefused(await get(A, Y), 'HASH_MISMATCH')
    await expectNothingWritten(A, out)
    const { manifest } = await readManifest(sealedOf(Y), b)
    const { sha256 } = await import('@noble/hashes/sha2.js')
    const rehashed: Manifest = { ...manifest, ciphertextSha256: toBase64Url(sha256(forged)) }
    const undo = serveManifest(Y, await forgeManifest(rehashed, [a, b], b))
    expectRefused(await get(A, Y), 'SIGNATURE')
    await expectNothingWritten(A, out)
    undo()
    evil.reset()
  })

  it('SECURITY-12: a re-signed manifest is attributed to the re-signer; forwarded to a non-recipient it is refused', async () => {
    const a = await deviceSecrets(A)
    const b = await deviceSecrets(B)
    const bob = await deviceSecrets(bobHome)
    const { manifest, sig } = await readManifest(sealedOf(Y), b)
    // Bob re-signs Alice's manifest claiming her device: the signature does not verify.
    let undo = serveManifest(Y, await forgeManifest(manifest, [a, b], bob))
    expectRefused(await get(B, Y), 'SIGNATURE')
    undo()
    // Bob re-signs it as himself: it is his item, never shown as Alice's — and Bob is not in
    // Alice's own conversation, so it is refused before his log is even fetched.
    const bobLog = await pinnedLog(bobHome)
    const asBob: Manifest = {
      ...manifest,
      sender: {
        accountId: bobLog.accountId,
        deviceId: bob.record.id,
        logSeq: bobLog.seq,
        logHead: bobLog.head,
      },
    }
    undo = serveManifest(Y, await forgeManifest(asBob, [a, b], bob))
    expectRefused(await get(B, Y), 'SIGNATURE')
    await expectNothingWritten(B, out)
    undo()
    // The phone re-signs it as itself: accepted, and attributed to the phone, not the laptop.
    const asPhone: Manifest = { ...manifest, sender: { ...manifest.sender, deviceId: b.record.id } }
    undo = serveManifest(Y, await forgeManifest(asPhone, [a, b], b))
    const got = await cliJson<{ fromDevice: string; path: string }>(A, [
      'get',
      '--out',
      join(dir, 'ok-12'),
      '--',
      Y,
    ])
    expect(got.fromDevice).toBe(b.record.id)
    expect(await sha256File(got.path)).toBe(ySha)
    undo()
    // A device linked later is no recipient: the server cannot give it Y, and a co-recipient
    // forwarding the signed manifest to it is caught by the signed recipient list.
    const C = join(dir, 'home-c')
    await linkDevice(evil, A, C, 'tablet')
    expectRefused(await get(C, Y), 'NO_MATCH')
    const c = await deviceSecrets(C)
    const signedPayload = await decryptBytes([b.ageIdentity], sealedOf(Y))
    expect(await readManifest(sealedOf(Y), b)).toEqual({ manifest, sig })
    const forwarded = await encryptBytes([c.record.recipient], signedPayload)
    undo = serveManifest(Y, forwarded)
    expectRefused(await get(C, Y), 'NOT_RECIPIENT')
    await expectNothingWritten(C, out)
    undo()
  })

  it('SECURITY-20: no code, token, filename or key in any URL, header or log line the server saw', async () => {
    const tokens = evil.history
      .filter((e) => e.req.path.endsWith('/auth/session') && e.res.status === 200)
      .map((e) => jsonOf<{ token: string }>(e.res).token)
    expect(tokens.length).toBeGreaterThan(3)
    const keys = (await readFile(join(A, 'device.key'), 'utf8'))
      .split('\n')
      .slice(4, 7)
      .map((l) => l.split(' ')[1]!)
    const needles = [evil.setupCode!, 'x.bin', 'y.bin', 'z.bin', ...tokens, ...keys]
    // The setup code is printed once on stdout for the administrator, on purpose; logs never have it.
    const logs = evil.upstream
      .output()
      .split('\n')
      .filter((l) => !l.trim().startsWith('setup-code: '))
      .join('\n')
    for (const n of needles) expect(logs.includes(n), `server log has ${n.slice(0, 6)}…`).toBe(false)
    for (const e of evil.history) {
      const { authorization, ...rest } = e.req.headers
      const seen = e.req.path + JSON.stringify(rest)
      for (const n of needles) expect(seen.includes(n), e.req.path).toBe(false)
    }
  })
})
