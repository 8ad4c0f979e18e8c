import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
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
  startServer,
  tempDir,
} from '../../../test-support/harness.js'

/**
 * SECURITY-TESTS 23, a full disk: the server's data directory is a 12 MiB tmpfs (this needs root;
 * elsewhere the test is skipped and says so). A send that does not fit fails cleanly (507, kept
 * for `airlock resume`), what was committed before still opens byte-identical, nothing partial
 * is listed, and once there is room again the upload resumes to the same ciphertext.
 */

const MiB = 1024 * 1024
let dir: string
let data: string
let mounted = false
let server: ServerProcess | undefined

function mount(size: string, remount = false): boolean {
  try {
    const opts = remount ? `remount,size=${size}` : `size=${size},mode=0700`
    execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', data], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-disk-full-')
  data = join(dir, 'data')
  await mkdir(data)
  mounted = process.getuid?.() === 0 && mount('12m')
  if (!mounted) console.log('disk-full: cannot mount a tmpfs here (not root?); test skipped')
})

afterAll(async () => {
  await server?.stop()
  if (mounted) execFileSync('umount', ['-l', data])
  if (dir) await removeDir(dir)
})

describe('a full disk on the server (size-limited tmpfs data directory)', () => {
  it('SECURITY-23: refuses what does not fit, keeps what was committed, resumes when there is room', async (ctx) => {
    if (!mounted) return ctx.skip()
    server = await startServer(data)
    const A = join(dir, 'home-a')
    await cliJson(
      A,
      ['setup', server.url, '--username', 'alice', '--recovery-out', join(dir, 'recovery.txt')],
      {
        env: { AIRLOCK_CODE: server.setupCode! },
      },
    )
    const small = join(dir, 'small.bin')
    const smallSha = await randomFile(small, MiB)
    const first = await cliJson<{ sent: { itemId: string }[] }>(A, ['send', small])
    const big = join(dir, 'big.bin')
    const bigSha = await randomFile(big, 16 * MiB)

    const full = await cli(A, ['--json', 'send', big], { env: { AIRLOCK_RETRY_SECONDS: '1' } })
    expect(full.code, full.stderr).toBe(8)
    const refusals = server.output().match(/"status":507/g)?.length ?? 0
    expect(refusals).toBeGreaterThan(0)
    expect(server.output()).not.toMatch(/"status":500/)
    const health = await fetch(`${server.url}/healthz`)
    expect(health.status).toBe(200)
    const listed = await cliJson<{ items: { itemId: string; verified: boolean }[] }>(A, ['inbox'])
    expect(listed.items.map((i) => [i.itemId, i.verified])).toEqual([[first.sent[0]!.itemId, true]])
    const got = await cliJson<{ path: string }>(A, [
      'get',
      '--out',
      join(dir, 'out1'),
      '--',
      first.sent[0]!.itemId,
    ])
    expect(await sha256File(got.path)).toBe(smallSha)

    expect(mount('64m', true)).toBe(true)
    const r = await cli(A, ['--json', 'resume'])
    expect(r.code, r.stderr).toBe(0)
    const resumed = JSON.parse(r.stdout) as { sent: { itemId: string }[] }
    expect(resumed.sent, r.stdout + r.stderr).toHaveLength(1)
    const bigGot = await cliJson<{ path: string }>(A, [
      'get',
      '--out',
      join(dir, 'out2'),
      '--',
      resumed.sent[0]!.itemId,
    ])
    expect(await sha256File(bigGot.path)).toBe(bigSha)
    console.log(
      `disk-full: 1 upload refused at ${refusals} request(s) with 507, resumed after the disk grew; items lost: 0`,
    )
  })
})
