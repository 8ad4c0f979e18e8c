import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { join } from 'node:path'
import { AUTH_SIGN_CONTEXT, authSignedValue, signCanonical } from '@airlock/core'
import { describe, expect, it } from 'vitest'
import { removeDir, SERVER_BIN, startServer, tempDir } from '../../../test-support/harness.js'
import { createAccount, type Json, login, request, TUS, tusHead } from './api-client.js'

describe('airlock-server command', () => {
  it('--help lists every option with its environment variable', () => {
    const r = spawnSync(process.execPath, [SERVER_BIN, '--help'], { encoding: 'utf8' })
    expect(r.status).toBe(0)
    for (const opt of [
      'port',
      'host',
      'data-dir',
      'tls-cert',
      'tls-key',
      'public-url',
      'max-item-size',
      'quota',
      'log-level',
      'trust-proxy',
      'web-dir',
    ]) {
      expect(r.stdout).toContain(`--${opt}`)
      expect(r.stdout.replace(/\s+/g, ' ')).toContain(`AIRLOCK_${opt.toUpperCase().replaceAll('-', '_')}`)
    }
    expect(r.stdout).toContain('8465')
  })

  it('refuses bad option values with a one-line error', () => {
    for (const args of [
      ['--port', 'x'],
      ['--max-item-size', 'lots'],
      ['--public-url', 'https://x/path'],
    ]) {
      const r = spawnSync(process.execPath, [SERVER_BIN, ...args], { encoding: 'utf8' })
      expect(r.status, args.join(' ')).not.toBe(0)
      expect(r.stderr, args.join(' ')).toMatch(/airlock-server|error/)
    }
  })

  it('takes options from AIRLOCK_* environment variables, and serves a text page without a web app', async () => {
    const dir = await tempDir()
    const server = await startServer(dir, {
      args: ['--web-dir', join(dir, 'no-such-web')],
      env: { AIRLOCK_MAX_ITEM_SIZE: '1K' },
    })
    try {
      const alice = await createAccount(server.url, server.setupCode!, 'alice')
      const token = await login(server.url, alice.first)
      const r = await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
        token,
        json: { ciphertextSize: 1025 },
      })
      expect(r.json.error.code).toBe('ITEM_TOO_LARGE')
      const page = await fetch(`${server.url}/`)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toContain('text/plain')
      expect(await page.text()).toContain('Airlock')
    } finally {
      await server.stop()
      await removeDir(dir)
    }
  })

  it('serves the web app from --web-dir, without directory escapes', async () => {
    const dir = await tempDir()
    const web = join(dir, 'web')
    await mkdir(join(web, 'assets'), { recursive: true })
    await writeFile(join(web, 'index.html'), '<!doctype html><title>Airlock</title>')
    await writeFile(join(web, 'assets', 'app.js'), 'console.log(1)')
    await writeFile(join(dir, 'secret.txt'), 'not for the web')
    const server = await startServer(join(dir, 'data'), { args: ['--web-dir', web] })
    try {
      const index = await fetch(`${server.url}/`)
      expect(await index.text()).toContain('<title>Airlock</title>')
      expect((await fetch(`${server.url}/assets/app.js`)).status).toBe(200)
      for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt']) {
        const r = await fetch(`${server.url}${path}`)
        expect(await r.text(), path).not.toContain('not for the web')
      }
      expect((await request(server.url, 'GET', '/healthz')).status).toBe(200)
    } finally {
      await server.stop()
      await removeDir(dir)
    }
  })

  it('serves HTTPS itself with --tls-cert/--tls-key, and logins name the https origin', async () => {
    const dir = await tempDir()
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    )
    const server = await startServer(join(dir, 'data'), { args: ['--tls-cert', cert, '--tls-key', key] })
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
      const ca = await import('node:fs').then((fs) => fs.readFileSync(cert))
      const call = (method: string, path: string, json?: unknown, token?: string) =>
        new Promise<{ status: number; json: Json }>((resolve, reject) => {
          const req = https.request(`${server.url}/api/v1${path}`, {
            method,
            ca,
            headers: {
              ...(json ? { 'content-type': 'application/json' } : {}),
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            },
          })
          req.on('response', (res) => {
            let body = ''
            res.setEncoding('utf8').on('data', (d) => {
              body += d
            })
            res.on('end', () => resolve({ status: res.statusCode!, json: body ? JSON.parse(body) : null }))
          })
          req.on('error', reject)
          req.end(json ? JSON.stringify(json) : undefined)
        })
      const { generateDevice, createGenesis } = await import('@airlock/core')
      const device = await generateDevice({ name: 'tls', kind: 'cli' })
      const accountId = randomBytes(16).toString('base64url')
      const created = await call('POST', '/accounts', {
        code: server.setupCode,
        username: 'alice',
        genesis: createGenesis(accountId, device),
      })
      expect(created.status).toBe(201)
      const origin = new URL(server.url).origin
      const c = await call('POST', '/auth/challenge', { deviceId: device.record.id })
      const sig = (o: string) =>
        signCanonical(
          device,
          AUTH_SIGN_CONTEXT,
          authSignedValue({ challenge: c.json.challenge, deviceId: device.record.id, origin: o }),
        )
      const plain = origin.replace('https:', 'http:')
      const wrong = await call('POST', '/auth/session', {
        deviceId: device.record.id,
        challenge: c.json.challenge,
        origin: plain,
        signature: sig(plain),
      })
      expect(wrong.status).toBe(401)
      const c2 = await call('POST', '/auth/challenge', { deviceId: device.record.id })
      const ok = await call('POST', '/auth/session', {
        deviceId: device.record.id,
        challenge: c2.json.challenge,
        origin,
        signature: signCanonical(
          device,
          AUTH_SIGN_CONTEXT,
          authSignedValue({ challenge: c2.json.challenge, deviceId: device.record.id, origin }),
        ),
      })
      expect(ok.status).toBe(200)
      expect((await call('GET', '/accounts/me', undefined, ok.json.token)).json.username).toBe('alice')
    } finally {
      await server.stop()
      await removeDir(dir)
    }
  })

  it('on SIGTERM, finishes an in-flight upload before exiting', async () => {
    const dir = await tempDir()
    let server = await startServer(dir)
    try {
      const alice = await createAccount(server.url, server.setupCode!, 'alice')
      const token = await login(server.url, alice.first)
      const blob = randomBytes(4 * 1024 * 1024)
      const r = await request(server.url, 'POST', `/conversations/${alice.selfConversationId}/items`, {
        token,
        json: { ciphertextSize: blob.length },
      })
      const req = http.request(`${server.url}${r.json.uploadUrl}`, {
        method: 'PATCH',
        headers: {
          ...TUS,
          authorization: `Bearer ${token}`,
          'upload-offset': '0',
          'content-type': 'application/offset+octet-stream',
          'content-length': String(blob.length),
        },
      })
      const status = new Promise<number>((resolve) => {
        req.on('response', (res) => {
          res.resume()
          resolve(res.statusCode!)
        })
        req.on('error', () => resolve(0))
      })
      req.write(blob.subarray(0, 1024 * 1024))
      await new Promise((r) => setTimeout(r, 200))
      const exited = server.stop()
      await new Promise((r) => setTimeout(r, 300))
      // New requests are refused while the upload finishes.
      const late = await fetch(`${server.url}/healthz`).then(
        (x) => x.status,
        () => 0,
      )
      expect([0, 503]).toContain(late)
      for (let o = 1024 * 1024; o < blob.length; o += 512 * 1024) {
        req.write(blob.subarray(o, o + 512 * 1024))
        await new Promise((r) => setTimeout(r, 50))
      }
      req.end()
      expect(await status).toBe(204)
      expect(await exited).toBe(0)

      server = await startServer(dir)
      const head = await tusHead(server.url, token, r.json.uploadUrl)
      expect(head.headers.get('upload-offset')).toBe(String(blob.length))
    } finally {
      await server.stop()
      await removeDir(dir)
    }
  })
})
