import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cli,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import { cspProblems } from '../../cli/src/commands/verify-web.js'
import { launch, WEB_DIST } from './harness.js'

// SECURITY-TESTS 25: strict CSP, SRI on every script and style, no third-party resources, a
// reproducible bundle whose hash `airlock verify-web` checks against what the server serves.

const run = promisify(execFile)
let server: ServerProcess
let dir: string
let files: { v: 1; bundle: string; files: { path: string; sha256: string }[] }

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-delivery-')
  server = await startServer(join(dir, 'data'))
  files = JSON.parse(await readFile(join(WEB_DIST, 'web-files.json'), 'utf8'))
})

afterAll(async () => {
  await server?.stop()
  await removeDir(dir)
})

const sri = (b: Uint8Array) => `sha384-${createHash('sha384').update(b).digest('base64')}`
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

describe('web delivery', () => {
  it('serves the page with a strict Content-Security-Policy and no inline script', async () => {
    const res = await fetch(`${server.url}/`)
    const csp = res.headers.get('content-security-policy')!
    expect(csp).toContain("default-src 'none'")
    expect(csp).toMatch(/script-src 'self'(;|$)/)
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*|https?:/)
    expect(csp).toContain("frame-ancestors 'none'")
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    const html = await res.text()
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
    expect(html).not.toMatch(/\son[a-z]+=/i)
  })

  it('every script and stylesheet of the page carries a matching integrity hash', async () => {
    const html = await (await fetch(`${server.url}/`)).text()
    const tags = [...html.matchAll(/<(script|link)\b[^>]*>/g)]
      .map((m) => m[0])
      .filter((t) => /<script|stylesheet|modulepreload/.test(t))
    expect(tags.length).toBeGreaterThanOrEqual(2)
    for (const tag of tags) {
      const ref = /\s(?:src|href)="([^"]+)"/.exec(tag)![1]!
      const body = new Uint8Array(await (await fetch(`${server.url}${ref}`)).arrayBuffer())
      expect(tag).toContain(`integrity="${sri(body)}"`)
    }
  })

  it('the built app references no third-party origin', async () => {
    for (const f of files.files) {
      const text = await readFile(join(WEB_DIST, f.path), 'utf8')
      const urls = [...text.matchAll(/(?:src|href|url\()\s*=?\s*["']?(https?:\/\/[^"')\s]+)/g)].map(
        (m) => m[1],
      )
      expect(urls, f.path).toEqual([])
    }
  })

  it('the build is reproducible: a second build has the same bundle hash', async () => {
    const out = join(dir, 'rebuild')
    const vite = join(WEB_DIST, '../../../node_modules/vite/bin/vite.js')
    await run(process.execPath, [vite, 'build', '--outDir', out, '--emptyOutDir'], {
      cwd: join(WEB_DIST, '..'),
      // A clean environment: Vitest's (NODE_ENV=test, DEV, SSR, …) would build a development bundle.
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    })
    const again = JSON.parse(await readFile(join(out, 'web-files.json'), 'utf8'))
    expect(again.bundle).toBe(files.bundle)
    expect(again.files).toEqual(files.files)
  })

  it('`airlock verify-web` accepts the served app and prints its bundle hash', async () => {
    const home = join(dir, 'home')
    const r = await cli(home, ['--json', 'verify-web', server.url])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, bundle: files.bundle, expected: files.bundle })
    const wrong = await cli(home, ['--json', 'verify-web', server.url, '--expect', '0'.repeat(64)])
    expect(wrong.code).toBe(6)
  })

  it('`airlock verify-web` accepts only the exact policy: a loosened or extra directive fails', async () => {
    const served = (await fetch(`${server.url}/`)).headers.get('content-security-policy')!
    expect(cspProblems(served)).toEqual([])
    expect(cspProblems(`${served}; script-src-elem * 'unsafe-inline'`).join()).toMatch(
      /unexpected script-src-elem/,
    )
    expect(cspProblems(served.replace("connect-src 'self'", 'connect-src *')).join()).toMatch(/connect-src/)
    expect(cspProblems(`${served}, default-src *`).join()).toMatch(/more than one/)
    expect(cspProblems(null)).toEqual(['the page has no Content-Security-Policy'])
  })

  it('`airlock verify-web` rejects a server that serves a modified app, even one with consistent hashes', async () => {
    const evil = join(dir, 'evil-web')
    await cp(WEB_DIST, evil, { recursive: true })
    const js = (await readdir(join(evil, 'assets'))).find((f) => f.endsWith('.js') && f.startsWith('index-'))!
    const path = join(evil, 'assets', js)
    const original = await readFile(path)
    const modified = Buffer.concat([original, Buffer.from('\n;fetch("/steal")\n')])
    await writeFile(path, modified)
    // A careful attacker also fixes the page's integrity attribute and the published list.
    const html = (await readFile(join(evil, 'index.html'), 'utf8')).replace(sri(original), sri(modified))
    await writeFile(join(evil, 'index.html'), html)
    const list = JSON.parse(await readFile(join(evil, 'web-files.json'), 'utf8')) as typeof files
    for (const f of list.files) f.sha256 = sha256(await readFile(join(evil, f.path)))
    await writeFile(join(evil, 'web-files.json'), JSON.stringify(list))

    const evilServer = await startServer(join(dir, 'evil-data'), { args: ['--web-dir', evil] })
    try {
      const r = await cli(join(dir, 'home2'), ['--json', 'verify-web', evilServer.url])
      expect(r.code).toBe(6)
      const out = JSON.parse(r.stdout) as { ok: boolean; problems: string[] }
      expect(out.ok).toBe(false)
      expect(out.problems.join('\n')).toMatch(/bundle hash .* is not the expected/)
    } finally {
      await evilServer.stop()
    }
  })

  it('the page loads in Chromium under its CSP without a single violation', async () => {
    const browser = await launch()
    try {
      const page = await (await browser.newContext()).newPage()
      const problems: string[] = []
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text())
      })
      page.on('pageerror', (e) => problems.push(e.message))
      await page.goto(server.url)
      await page.getByRole('button', { name: 'Create an account' }).waitFor()
      expect(problems).toEqual([])
    } finally {
      await browser.close()
    }
  })
})
