import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  CliProcess,
  cli,
  cliJson,
  type Run,
  randomFile,
  removeDir,
  sha256File,
  sleep,
  tempDir,
} from '../../../test-support/harness.js'
import { linkDevice, setupAccount } from './evil-fixture.js'
import { EvilServer, route } from './evil-server.js'

/**
 * SECURITY-TESTS 23 with real processes: concurrent `airlock send` and `get` while the server is
 * killed with SIGKILL at seeded random moments and restarted, and while the proxy cuts uploads
 * and downloads mid-stream. Afterwards every committed item opens byte-identical, nothing
 * unverifiable is listed, and every interrupted transfer completed on retry or `airlock resume`.
 * AIRLOCK_FAULT_SEED and AIRLOCK_FAULT_ROUNDS reproduce or lengthen a run.
 */

const SEED = Number(process.env.AIRLOCK_FAULT_SEED ?? 23)
const ROUNDS = Number(process.env.AIRLOCK_FAULT_ROUNDS ?? 2)
const MiB = 1024 * 1024

/** mulberry32: a small seeded generator, so a failing schedule can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

let dir: string
let evil: EvilServer
let A: string
let B: string
const originals = new Map<string, string>() // file name -> sha256
const stats = { operations: 0, kills: 0, cuts: 0, retries: 0, resumed: 0 }
const env = { AIRLOCK_RETRY_SECONDS: '20' }

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-faults-')
  evil = await EvilServer.start(join(dir, 'data'))
  A = join(dir, 'home-a')
  B = join(dir, 'home-b')
  await setupAccount(evil, A, 'alice', evil.setupCode!)
  await linkDevice(evil, A, B, 'phone')
})

afterAll(async () => {
  console.log(
    `faults (seed ${SEED}, ${ROUNDS} rounds): ${stats.operations} operations, ${stats.kills + stats.cuts} faults injected ` +
      `(${stats.kills} kill -9, ${stats.cuts} cut connections), ${stats.retries} commands re-run, ${stats.resumed} resumed; items lost: ${lost}`,
  )
  await evil?.close()
  if (dir) await removeDir(dir)
})

let lost = -1

/** A send that did not finish is finished the documented way: `airlock resume` (or send again). */
async function finishSend(r: Run, path: string): Promise<void> {
  if (r.code === 0) return
  stats.retries++
  const again =
    r.code === 8
      ? await cli(A, ['--json', 'resume'], { env })
      : await cli(A, ['--json', 'send', path], { env })
  if (r.code === 8) stats.resumed++
  expect(again.code, again.stderr).toBe(0)
}

/** Every listed item, verified and decrypted on B (one `export --decrypted`), by name. */
async function receiveAll(): Promise<{ got: Map<string, string>; failed: number }> {
  const out = join(dir, 'export')
  const r = await cliJson<{ exported: { path: string }[]; failed: unknown[] }>(B, [
    'export',
    '--decrypted',
    out,
  ])
  const got = new Map<string, string>()
  for (const e of r.exported) got.set(e.path.slice(out.length + 1), await sha256File(e.path))
  return { got, failed: r.failed.length }
}

/** Waits until a staged upload holds at least `share` of its declared length. */
async function stagedAtLeast(share: number, timeoutMs: number): Promise<void> {
  const staging = join(evil.dataDir, 'blobs', 'staging')
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    for (const f of await readdir(staging).catch(() => [] as string[])) {
      if (!f.endsWith('.length')) continue
      const length = Number(await readFile(join(staging, f), 'utf8').catch(() => '0'))
      const size = (await stat(join(staging, f.slice(0, -'.length'.length))).catch(() => null))?.size ?? 0
      if (length > 0 && size >= share * length) return
    }
    await sleep(20)
  }
}

describe('fault injection with real processes (seeded)', () => {
  it('SECURITY-23: kill -9 at random moments during concurrent sends and gets loses nothing', async () => {
    const random = prng(SEED)
    let received: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const paths: string[] = []
      for (let i = 0; i < 3; i++) {
        const name = `r${round}-f${i}.bin`
        const path = join(dir, name)
        originals.set(name, await randomFile(path, Math.floor((1 + random() * 4) * MiB)))
        paths.push(path)
      }
      const sends = paths.map((p) => new CliProcess(A, ['--json', 'send', p], { env }))
      const gets = received
        .slice(0, 2)
        .map(
          (id) =>
            new CliProcess(B, ['--json', 'get', '--out', join(dir, `g${round}-${id}`), '--', id], { env }),
        )
      stats.operations += sends.length + gets.length
      // Mid-upload: once some staged blob has reached a seeded share of its bytes (or after 15 s).
      await stagedAtLeast(0.05 + random() * 0.8, 15_000)
      await evil.restart('SIGKILL')
      stats.kills++
      const sent = await Promise.all(sends.map((s) => s.exited))
      await Promise.all(sent.map((r, i) => finishSend(r, paths[i]!)))
      for (const g of await Promise.all(gets.map((p) => p.exited))) {
        if (g.code !== 0) stats.retries++
      }
      const list = await cliJson<{ items: { itemId: string }[] }>(B, ['inbox'])
      received = list.items.map((i) => i.itemId).reverse()
    }

    // Connections cut mid-stream by the network: the upload resumes at the server's offset, the
    // download with a Range request.
    const name = 'cut.bin'
    const path = join(dir, name)
    originals.set(name, await randomFile(path, 4 * MiB))
    evil.cut(route('PATCH', /\/uploads\//), 'request', MiB, 2)
    const sent = await cli(A, ['--json', 'send', path], { env })
    expect(sent.code, sent.stderr).toBe(0)
    const id = (JSON.parse(sent.stdout) as { sent: { itemId: string }[] }).sent[0]!.itemId
    evil.cut(route('GET', /\/blob$/), 'response', 700_000, 2)
    const got = await cli(B, ['--json', 'get', '--out', join(dir, 'cut-out'), '--', id], { env })
    expect(got.code, got.stderr).toBe(0)
    expect(await sha256File((JSON.parse(got.stdout) as { path: string }).path)).toBe(originals.get(name))
    stats.cuts += evil.stats.cut
    stats.operations += 2

    const { got: all, failed } = await receiveAll()
    expect(failed).toBe(0)
    lost = [...originals].filter(([n, sha]) => all.get(n) !== sha).length
    expect(lost).toBe(0)
  })
})
