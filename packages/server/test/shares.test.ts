import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  bytesStream,
  createShareKeys,
  decryptShareFile,
  encryptShareFile,
  fromBase64Url,
  isAirlockError,
  openShareManifest,
  readAll,
  SHARE_MANIFEST_CONTEXT,
  SHARE_SESSION_HEADER,
  type ShareKeys,
  sealShareManifest,
  shareFileCiphertextSize,
} from '@airlock/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, type ServerProcess, startServer, tempDir } from '../../../test-support/harness.js'
import { type Actor, createAccount, type Json, login, request, sendItem, tusPatch } from './api-client.js'

/** Every file name under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile()).map((e) => e.name)
}

interface MadeShare {
  shareId: string
  keys: ShareKeys
  blobIds: string[]
  plaintext: Uint8Array
}

/**
 * Share links against the real server process: what the owner's client does (real age
 * encryption to the link's key), then what a person without an account does with the link.
 */
describe('share links (real server process)', () => {
  let dir: string
  let server: ServerProcess
  let alice: Actor
  let token: string
  let bobToken: string
  let itemId: string

  beforeAll(async () => {
    dir = await tempDir()
    server = await startServer(dir, { args: ['--max-share-days', '2'] })
    alice = await createAccount(server.url, server.setupCode!, 'alice')
    token = await login(server.url, alice.first)
    const invite = await request(server.url, 'POST', '/invites', { token, json: {} })
    const bob = await createAccount(server.url, invite.json.code, 'bob')
    bobToken = await login(server.url, bob.first)
    itemId = (await sendItem(server.url, token, alice.selfConversationId, randomBytes(2000))).itemId
  })
  afterAll(async () => {
    await server?.stop()
    await removeDir(dir)
  })

  async function makeShare(
    opts: { passphrase?: string; maxDownloads?: number | null; expiresInSeconds?: number } = {},
  ): Promise<MadeShare> {
    const plaintext = new Uint8Array(randomBytes(70_000))
    const keys = await createShareKeys(opts.passphrase)
    const size = await shareFileCiphertextSize(keys.fileRecipient, plaintext.length)
    const c = await request(server.url, 'POST', '/shares', {
      token,
      json: {
        itemIds: [itemId],
        ciphertextSizes: [size],
        maxDownloads: opts.maxDownloads ?? null,
        ...(opts.expiresInSeconds ? { expiresInSeconds: opts.expiresInSeconds } : {}),
      },
    })
    expect(c.status, JSON.stringify(c.json)).toBe(201)
    const enc = await encryptShareFile(keys.fileRecipient, bytesStream(plaintext), plaintext.length)
    const blob = await readAll(enc.ciphertext)
    const { sha256 } = enc.finish()
    expect(blob.length).toBe(size)
    const p = await tusPatch(server.url, token, c.json.uploads[0].uploadUrl, 0, blob)
    expect(p.status).toBe(204)
    const sealed = await sealShareManifest(
      keys,
      {
        v: 1,
        context: SHARE_MANIFEST_CONTEXT,
        fileIdentity: keys.fileIdentity,
        files: [
          {
            name: 'report.pdf',
            type: 'application/pdf',
            size: plaintext.length,
            mtime: 1,
            ciphertextSize: size,
            ciphertextSha256: sha256,
          },
        ],
      },
      { workFactor: 10 },
    )
    const m = await request(server.url, 'PUT', `/shares/${c.json.shareId}/manifest`, {
      token,
      body: sealed,
      headers: { 'content-type': 'application/octet-stream' },
    })
    expect(m.status, JSON.stringify(m.json)).toBe(200)
    expect(m.json.state).toBe('active')
    return { shareId: c.json.shareId, keys, blobIds: c.json.uploads.map((u: Json) => u.blobId), plaintext }
  }

  /** What the download page and `airlock open-link` do, without an account. */
  async function download(share: MadeShare, passphrase?: string): Promise<Uint8Array> {
    const info = await request(server.url, 'GET', `/public/shares/${share.shareId}`)
    if (info.status !== 200) throw Object.assign(new Error('info'), { status: info.status })
    const manifest = await openShareManifest(
      fromBase64Url(info.json.manifest),
      share.keys.fragment,
      passphrase,
    )
    const open = await request(server.url, 'POST', `/public/shares/${share.shareId}/open`)
    if (open.status !== 200) throw Object.assign(new Error('open'), { status: open.status })
    const headers = { [SHARE_SESSION_HEADER]: open.json.session }
    const blob = await request(server.url, 'GET', `/public/shares/${share.shareId}/blobs/0`, { headers })
    expect(blob.status).toBe(200)
    const plain = await readAll(await decryptShareFile(manifest, 0, bytesStream(blob.bytes)))
    const close = await request(server.url, 'POST', `/public/shares/${share.shareId}/close`, { headers })
    expect(close.status).toBe(204)
    return plain
  }

  const blobsPresent = async (s: MadeShare) => {
    const names = await filesUnder(dir)
    return s.blobIds.filter((id) => names.some((n) => n.startsWith(id)))
  }

  it('a link opens with its key alone, with ranges, and never shows the key to the server', async () => {
    const s = await makeShare()
    expect(await download(s)).toEqual(s.plaintext)
    // A resumed download: a range of the blob, within one session.
    const open = await request(server.url, 'POST', `/public/shares/${s.shareId}/open`)
    const headers = { [SHARE_SESSION_HEADER]: open.json.session, range: 'bytes=10-19' }
    const part = await request(server.url, 'GET', `/public/shares/${s.shareId}/blobs/0`, { headers })
    expect(part.status).toBe(206)
    expect(part.bytes.length).toBe(10)
    // No session, or a made-up one: no bytes.
    expect((await request(server.url, 'GET', `/public/shares/${s.shareId}/blobs/0`)).status).toBe(401)
    const fake = { [SHARE_SESSION_HEADER]: randomBytes(32).toString('base64url') }
    expect(
      (await request(server.url, 'GET', `/public/shares/${s.shareId}/blobs/0`, { headers: fake })).status,
    ).toBe(410)
    // A wrong key does not open it.
    const other = await createShareKeys()
    const info = await request(server.url, 'GET', `/public/shares/${s.shareId}`)
    const err = await openShareManifest(fromBase64Url(info.json.manifest), other.fragment).catch((e) => e)
    expect(isAirlockError(err, 'SHARE_LINK')).toBe(true)
    // The request log has the share id, never the key.
    expect(server.output()).toContain(s.shareId)
    expect(server.output()).not.toContain(s.keys.fragment)
    expect(server.output()).not.toContain(s.keys.fragment.slice(16, 40))
  })

  it('a passphrase link fails without the passphrase or with a wrong one', async () => {
    const s = await makeShare({ passphrase: 'correct horse' })
    expect(s.keys.fragment).toMatch(/^P1\./)
    for (const wrong of [undefined, 'wrong horse', 'correct horse ']) {
      const e = await download(s, wrong).catch((x) => x)
      expect(isAirlockError(e, 'WRONG_PASSPHRASE'), String(wrong)).toBe(true)
    }
    expect(await download(s, 'correct horse')).toEqual(s.plaintext)
  })

  it('counts downloads: the last one still finishes, then 410 and the blobs are deleted', async () => {
    const s = await makeShare({ maxDownloads: 2 })
    expect(await download(s)).toEqual(s.plaintext)
    const info = await request(server.url, 'GET', `/public/shares/${s.shareId}`)
    expect(info.json.downloadsLeft).toBe(1)
    expect(await download(s)).toEqual(s.plaintext)
    expect(await blobsPresent(s)).toEqual([])
    for (const [method, path] of [
      ['GET', `/public/shares/${s.shareId}`],
      ['POST', `/public/shares/${s.shareId}/open`],
    ] as const) {
      const r = await request(server.url, method, path)
      expect(r.status, path).toBe(410)
      expect(r.json.error.code).toBe('GONE')
    }
    const list = await request(server.url, 'GET', '/shares', { token })
    expect(list.json.shares.find((x: Json) => x.shareId === s.shareId)).toMatchObject({
      state: 'exhausted',
      downloads: 2,
      maxDownloads: 2,
    })
  })

  it('revocation kills the link and its download sessions at once and deletes the blobs', async () => {
    const s = await makeShare()
    const open = await request(server.url, 'POST', `/public/shares/${s.shareId}/open`)
    const headers = { [SHARE_SESSION_HEADER]: open.json.session }
    expect(await blobsPresent(s)).toEqual(s.blobIds)
    const r = await request(server.url, 'DELETE', `/shares/${s.shareId}`, { token })
    expect(r.status).toBe(200)
    expect(r.json.state).toBe('revoked')
    expect(await blobsPresent(s)).toEqual([])
    expect((await request(server.url, 'GET', `/public/shares/${s.shareId}`)).status).toBe(410)
    expect(
      (await request(server.url, 'GET', `/public/shares/${s.shareId}/blobs/0`, { headers })).status,
    ).toBe(410)
  })

  it('recalling the item revokes its links and deletes their blobs; downloads are in its access log', async () => {
    const own = (await sendItem(server.url, token, alice.selfConversationId, randomBytes(3000))).itemId
    const saved = itemId
    itemId = own
    try {
      const s = await makeShare()
      // A HEAD (a link checker, a browser's preview) is not a download.
      const open = await request(server.url, 'POST', `/public/shares/${s.shareId}/open`)
      const headers = { [SHARE_SESSION_HEADER]: open.json.session }
      const head = await request(server.url, 'HEAD', `/public/shares/${s.shareId}/blobs/0`, { headers })
      expect(head.status).toBe(200)
      expect((await request(server.url, 'GET', `/items/${own}/accesses`, { token })).json.accesses).toEqual(
        [],
      )
      expect(await download(s)).toEqual(s.plaintext)
      const log = await request(server.url, 'GET', `/items/${own}/accesses`, { token })
      expect(log.json.accesses).toMatchObject([{ shareId: s.shareId, accountId: null, deviceId: null }])
      expect((await request(server.url, 'DELETE', `/items/${own}`, { token })).status).toBe(200)
      expect((await request(server.url, 'GET', `/public/shares/${s.shareId}`)).status).toBe(410)
      expect(await blobsPresent(s)).toEqual([])
    } finally {
      itemId = saved
    }
  })

  it('expiry: 410 after the deadline and the blobs are deleted; lifetimes are bounded', async () => {
    const s = await makeShare({ expiresInSeconds: 1 })
    expect(await download(s)).toEqual(s.plaintext)
    await new Promise((r) => setTimeout(r, 1100))
    expect((await request(server.url, 'GET', `/public/shares/${s.shareId}`)).status).toBe(410)
    expect(await blobsPresent(s)).toEqual([])
    const tooLong = await request(server.url, 'POST', '/shares', {
      token,
      json: { itemIds: [itemId], ciphertextSizes: [100], expiresInSeconds: 3 * 86400 },
    })
    expect(tooLong.status).toBe(400)
    expect(tooLong.json.error.code).toBe('INVALID_BODY')
  })

  it("only items the caller can read: Bob cannot share, list or revoke Alice's", async () => {
    const s = await makeShare()
    const r = await request(server.url, 'POST', '/shares', {
      token: bobToken,
      json: { itemIds: [itemId], ciphertextSizes: [100] },
    })
    expect(r.status).toBe(404)
    expect((await request(server.url, 'DELETE', `/shares/${s.shareId}`, { token: bobToken })).status).toBe(
      404,
    )
    const list = await request(server.url, 'GET', '/shares', { token: bobToken })
    expect(list.json.shares).toEqual([])
    expect(await download(s)).toEqual(s.plaintext)
  })

  it('a link blob decrypts with the standard age tool given the key in the fragment', async () => {
    const s = await makeShare()
    const open = await request(server.url, 'POST', `/public/shares/${s.shareId}/open`)
    const headers = { [SHARE_SESSION_HEADER]: open.json.session }
    const blob = await request(server.url, 'GET', `/public/shares/${s.shareId}/blobs/0`, { headers })
    await writeFile(join(dir, 'key.txt'), `${s.keys.fragment}\n`, { mode: 0o600 })
    await writeFile(join(dir, 'file.age'), blob.bytes)
    const out = execFileSync('age', ['-d', '-i', join(dir, 'key.txt'), join(dir, 'file.age')])
    // Padmé padding follows the file (zero bytes); the manifest gives the real size.
    expect(new Uint8Array(out.subarray(0, s.plaintext.length))).toEqual(new Uint8Array(s.plaintext))
    expect(out.subarray(s.plaintext.length).every((b) => b === 0)).toBe(true)
  })
})
