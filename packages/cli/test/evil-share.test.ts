import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
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
import { setupAccount } from './evil-fixture.js'
import { EvilServer, route } from './evil-server.js'

/**
 * `airlock open-link` behind a proxy that cuts and rewrites the server's answers: a cut download
 * resumes inside the same download (one download counted), and a swapped or altered file is
 * refused with nothing written.
 */

let dir: string
let evil: EvilServer
let home: string
const ids: Record<string, string> = {}
const sha: Record<string, string> = {}

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-evil-share-')
  evil = await EvilServer.start(join(dir, 'data'))
  home = join(dir, 'home')
  await setupAccount(evil, home, 'erin', evil.setupCode!)
  for (const [name, size] of [
    ['big.bin', 3 * 1024 * 1024],
    ['a.bin', 5000],
    ['b.bin', 5000],
  ] as const) {
    const path = join(dir, name)
    sha[name] = await randomFile(path, size)
    ids[name] = (await cliJson<{ sent: { itemId: string }[] }>(home, ['send', path])).sent[0]!.itemId
  }
})

afterEach(() => evil.reset())

afterAll(async () => {
  await evil?.close()
  await removeDir(dir)
})

const blobRoute = (n: number) => route('GET', new RegExp(`^/api/v1/public/shares/[^/]+/blobs/${n}$`))

describe('open-link against a hostile or flaky server', () => {
  it('a download cut half way resumes with a range and counts once', async () => {
    const s = await cliJson<{ shareId: string; link: string }>(home, [
      'share',
      ids['big.bin']!,
      '--max-downloads',
      '1',
    ])
    evil.cut(blobRoute(0), 'response', 1024 * 1024)
    const r = await cliJson<{ files: { path: string }[] }>(join(dir, 'nobody'), [
      'open-link',
      s.link,
      '-o',
      join(dir, 'out-cut'),
    ])
    expect(evil.stats.cut).toBe(1)
    expect(await sha256File(r.files[0]!.path)).toBe(sha['big.bin'])
    const list = await cliJson<{ shares: { shareId: string; downloads: number; state: string }[] }>(home, [
      'shares',
    ])
    expect(list.shares.find((x) => x.shareId === s.shareId)).toMatchObject({
      downloads: 1,
      state: 'exhausted',
    })
  })

  it('a swapped or altered file is refused and nothing is written', async () => {
    const s = await cliJson<{ link: string }>(home, ['share', ids['a.bin']!, ids['b.bin']!])
    // Serve file 1 as file 0: same key and size, but not the file the manifest pins.
    const one = await cliJson<{ files: { path: string }[] }>(join(dir, 'nobody'), [
      'open-link',
      s.link,
      '-o',
      join(dir, 'out-ok'),
    ])
    expect(await sha256File(one.files[1]!.path)).toBe(sha['b.bin'])
    const second = evil.history.filter((x) => blobRoute(1)(x.req)).at(-1)!.res.body
    evil.tamper(blobRoute(0), (_q, res) => ({ ...res, body: second }))
    const swapped = await cli(join(dir, 'nobody'), ['open-link', s.link, '-o', join(dir, 'out-swap')])
    expect(swapped.code).toBe(6)
    expect(await readdir(join(dir, 'out-swap')).catch(() => [])).toEqual([])
    evil.reset()
    evil.tamper(blobRoute(0), (_q, res) => {
      const body = Buffer.from(res.body)
      body[body.length - 3]! ^= 1
      return { ...res, body }
    })
    const altered = await cli(join(dir, 'nobody'), ['open-link', s.link, '-o', join(dir, 'out-alter')])
    expect(altered.code).toBe(6)
    expect(altered.stderr).toMatch(/does not match/)
    expect(await readdir(join(dir, 'out-alter')).catch(() => [])).toEqual([])
  })
})
