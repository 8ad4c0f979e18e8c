import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cli,
  cliJson,
  randomFile,
  removeDir,
  type ServerProcess,
  sha256File,
  sleep,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'

/**
 * Share links end to end: `airlock share` on a set-up device, `airlock open-link` from a home
 * with no account, against a real server process whose request log is scanned afterwards.
 */

let dir: string
let server: ServerProcess
let A: string
let N: string // nobody: no account
const ids: Record<string, string> = {}
const sha: Record<string, string> = {}
const links: string[] = []

async function blobCount(): Promise<number> {
  const entries = await readdir(join(dir, 'data'), { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile() && /^[A-Za-z0-9_-]{22}$/.test(e.name)).length
}

async function share(args: string[], env: Record<string, string> = {}) {
  const r = await cliJson<{ shareId: string; link: string; maxDownloads: number | null }>(
    A,
    ['share', ...args],
    {
      env,
    },
  )
  links.push(r.link)
  return r
}

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir()
  server = await startServer(join(dir, 'data'))
  A = join(dir, 'home-a')
  N = join(dir, 'home-nobody')
  await cliJson(A, ['setup', server.url, '--username', 'alice', '--recovery-out', join(dir, 'rec.txt')], {
    env: { AIRLOCK_CODE: server.setupCode! },
  })
  for (const [name, size] of [
    ['report.pdf', 300_000],
    ['photo.jpg', 70_000],
  ] as const) {
    const path = join(dir, name)
    sha[name] = await randomFile(path, size)
    const sent = await cliJson<{ sent: { itemId: string }[] }>(A, ['send', path])
    ids[name] = sent.sent[0]!.itemId
  }
})

afterAll(async () => {
  await server?.stop()
  if (dir) await removeDir(dir)
})

describe('airlock share / shares / open-link', () => {
  it('shares a set of items; anyone with the link downloads them until the limit, then 410', async () => {
    const before = await blobCount()
    const s = await share([ids['report.pdf']!, ids['photo.jpg']!, '--max-downloads', '2'])
    expect(s.link).toMatch(new RegExp(`^${server.url}/s/${s.shareId}#AGE-SECRET-KEY-1`))
    expect(s.maxDownloads).toBe(2)
    expect(await blobCount()).toBe(before + 2)
    const out = join(dir, 'out')
    for (let i = 0; i < 2; i++) {
      const r = await cliJson<{ files: { name: string; path: string }[] }>(N, [
        'open-link',
        s.link,
        '-o',
        out,
      ])
      expect(r.files.map((f) => f.name)).toEqual(['report.pdf', 'photo.jpg'])
      for (const f of r.files) expect(await sha256File(f.path)).toBe(sha[f.name])
    }
    // The second download went to new names: nothing was overwritten.
    const saved = await readdir(out)
    expect(saved).toHaveLength(4)
    expect(saved).toContain('report.pdf')
    expect(saved).toContain('photo.jpg')
    // Without the link in argv (it holds the key): from the environment.
    const third = await cli(N, ['open-link', '-o', out], { env: { AIRLOCK_SHARE_LINK: s.link } })
    expect(third.code).toBe(7)
    expect(third.stderr).toMatch(/expired, was used up, or was revoked/)
    expect(await blobCount()).toBe(before)
    const list = await cliJson<{ shares: { shareId: string; state: string; downloads: number }[] }>(A, [
      'shares',
    ])
    expect(list.shares.find((x) => x.shareId === s.shareId)).toMatchObject({
      state: 'exhausted',
      downloads: 2,
    })
  })

  it('a passphrase link needs the passphrase; a wrong one is refused without using a download', async () => {
    const s = await share([ids['photo.jpg']!, '--passphrase', '--max-downloads', '1'], {
      AIRLOCK_PASSPHRASE: 'tangerine sky 42',
    })
    expect(s.link).toMatch(/#P1\.[A-Za-z0-9_-]{43}$/)
    const out = join(dir, 'out-pass')
    const wrong = await cli(N, ['open-link', s.link, '-o', out], {
      env: { AIRLOCK_PASSPHRASE: 'tangerine sky' },
    })
    expect(wrong.code).toBe(5)
    expect(wrong.stderr).toMatch(/wrong passphrase/)
    const missing = await cli(N, ['open-link', s.link, '-o', out])
    expect(missing.code).toBe(2)
    const passFile = join(dir, 'pass.txt')
    await writeFile(passFile, 'tangerine sky 42\n', { mode: 0o600 })
    const r = await cliJson<{ files: { path: string }[] }>(N, [
      'open-link',
      s.link,
      '-o',
      out,
      '--passphrase-file',
      passFile,
    ])
    expect(await sha256File(r.files[0]!.path)).toBe(sha['photo.jpg'])
  })

  it('revoked and expired links are dead', async () => {
    const before = await blobCount()
    const revoked = await share([ids['photo.jpg']!])
    const r = await cliJson<{ state: string }>(A, ['shares', 'revoke', revoked.shareId])
    expect(r.state).toBe('revoked')
    expect(await blobCount()).toBe(before)
    const dead = await cli(N, ['open-link', revoked.link, '-o', join(dir, 'out-dead')])
    expect(dead.code).toBe(7)

    const short = await share([ids['photo.jpg']!, '--expires', '1s'])
    await sleep(1200)
    const late = await cli(N, ['open-link', short.link, '-o', join(dir, 'out-late')])
    expect(late.code).toBe(7)
    expect(await blobCount()).toBe(before)
  })

  it('refuses bad input with clear errors', async () => {
    const s = await share([ids['photo.jpg']!])
    const bad = await cli(N, ['open-link', s.link.replace(/#.*$/, '#nope')])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/not a valid Airlock share link/)
    const other = s.link.replace(/\/s\/[^#]+/, '/s/AAAAAAAAAAAAAAAAAAAAAA')
    expect((await cli(N, ['open-link', other])).code).toBe(7)
    const dur = await cli(A, ['share', ids['photo.jpg']!, '--expires', 'soon'])
    expect(dur.code).toBe(2)
    const tooLong = await cli(A, ['share', ids['photo.jpg']!, '--expires', '400d'])
    expect(tooLong.code).toBe(1)
    expect(tooLong.stderr).toMatch(/at most 30 days/)
    expect((await cli(A, ['share', 'AAAAAAAAAAAAAAAAAAAAAA'])).code).toBe(7)
  })

  it('the server never saw a link key or a passphrase (request log scanned)', async () => {
    const log = server.output()
    expect(log).toMatch(/"path":"\/api\/v1\/public\/shares\//)
    expect(links.length).toBeGreaterThan(4)
    for (const link of links) {
      const fragment = link.split('#')[1]!
      expect(log).not.toContain(fragment)
      expect(log).not.toContain(fragment.slice(-30))
    }
    expect(log).not.toContain('tangerine')
  })
})
