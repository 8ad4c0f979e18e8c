import { randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { removeDir, startServer, tempDir } from '../../../test-support/harness.js'
import { addDevice, createAccount, login, request, sendItem } from './api-client.js'

async function allFiles(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(await readFile(join(e.parentPath, e.name)))
  }
  return out
}

/**
 * SECURITY-TESTS 20, server side: after a run with every kind of secret passing through (setup and
 * invite codes, session tokens, mailbox secrets and messages), none of them is in the database,
 * the blob store or the logs (at trace level) — only hashes are stored.
 */
describe('no secrets at rest or in logs (real server process)', () => {
  it('stores only hashes of codes, tokens and mailbox secrets, and logs none of them', async () => {
    const dir = await tempDir()
    const server = await startServer(dir, { args: ['--log-level', 'trace'] })
    const secrets: string[] = []
    try {
      secrets.push(server.setupCode!, server.setupCode!.replaceAll('-', ''))
      const alice = await createAccount(server.url, server.setupCode!, 'alice')
      const token = await login(server.url, alice.first)
      const inv = await request(server.url, 'POST', '/invites', { token, json: {} })
      secrets.push(token, inv.json.code, inv.json.code.replaceAll('-', ''))
      await createAccount(server.url, inv.json.code, 'bob')
      const phone = await addDevice(server.url, alice, token, 'alice-phone')
      secrets.push(phone.token)

      await sendItem(server.url, token, alice.selfConversationId, randomBytes(5000))
      // A deleted item leaves neither its manifest nor its blob behind.
      const goneManifest = randomBytes(600)
      const goneBlob = randomBytes(3000)
      const gone = await sendItem(server.url, token, alice.selfConversationId, goneBlob, goneManifest)
      await request(server.url, 'DELETE', `/items/${gone.itemId}`, { token })
      secrets.push(goneManifest.toString('base64url'), goneBlob.toString('base64url'))
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/push`)
      await new Promise((r) => ws.once('open', r))
      ws.send(JSON.stringify({ type: 'auth', token: phone.token }))
      await new Promise((r) => ws.once('message', r))
      ws.close()

      const m = (await request(server.url, 'POST', '/link', {})).json
      secrets.push(m.secret)
      const pake = randomBytes(64).toString('base64url')
      secrets.push(pake)
      await request(server.url, 'POST', '/link/join', { token, json: { mailboxId: m.mailboxId } })
      await request(server.url, 'POST', '/link/send', {
        json: { mailboxId: m.mailboxId, secret: m.secret, body: pake },
      })
      await request(server.url, 'POST', '/link/receive', { token, json: { mailboxId: m.mailboxId } })
      await request(server.url, 'POST', '/link/close', {
        token,
        json: { mailboxId: m.mailboxId, outcome: 'done' },
      })
      await request(server.url, 'DELETE', '/auth/session', { token: phone.token })
    } finally {
      expect(await server.stop()).toBe(0)
    }
    try {
      const haystacks = [
        ...(await allFiles(dir)),
        Buffer.from(server.output().replace(/setup-code: \S+/, '')),
      ]
      secrets.forEach((secret, i) => {
        const needles = [Buffer.from(secret), Buffer.from(secret, 'base64url')].filter((n) => n.length >= 16)
        haystacks.forEach((hay, j) => {
          for (const needle of needles)
            expect(hay.includes(needle), `secret ${i} found in file ${j}`).toBe(false)
        })
      })
      // The logs did record the requests (so the scan looked at something real).
      expect(server.output()).toContain('"path":"/api/v1/auth/session"')
    } finally {
      await removeDir(dir)
    }
  })
})
