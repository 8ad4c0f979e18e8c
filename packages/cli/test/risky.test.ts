import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cli,
  cliJson,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'

/**
 * SECURITY-TESTS 21 in the CLI: a received file whose content is an executable (whatever its
 * name says) is saved but flagged, on stderr for people and as `risk` in the JSON output.
 */

let dir: string
let server: ServerProcess
let A: string

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-risky-')
  server = await startServer(join(dir, 'data'))
  A = join(dir, 'home-a')
  await cliJson(
    A,
    ['setup', server.url, '--username', 'alice', '--recovery-out', join(dir, 'recovery.txt')],
    {
      env: { AIRLOCK_CODE: server.setupCode! },
    },
  )
})

afterAll(async () => {
  await server?.stop()
  if (dir) await removeDir(dir)
})

describe('risky files on receive (SECURITY-TESTS 21)', () => {
  it('flags an executable sent as invoice.pdf, and not an honest PDF', async () => {
    const fake = join(dir, 'invoice.pdf')
    await writeFile(fake, Buffer.concat([Buffer.from([0x4d, 0x5a, 0x90, 0]), Buffer.alloc(5000, 1)]))
    const honest = join(dir, 'paper.pdf')
    await writeFile(honest, '%PDF-1.7\nhello\n%%EOF\n')
    const sent = await cliJson<{ sent: { itemId: string }[] }>(A, ['send', fake, honest])
    const [bad, good] = sent.sent.map((s) => s.itemId) as [string, string]

    const r = await cli(A, ['--json', 'get', '--out', join(dir, 'out'), '--', bad])
    expect(r.code, r.stderr).toBe(0)
    const got = JSON.parse(r.stdout) as { risk: { reasons: { kind: string }[] } | null }
    expect(got.risk?.reasons.map((x) => x.kind).sort()).toEqual(['executable', 'type-mismatch'])
    const human = await cli(A, ['get', '--out', join(dir, 'out'), '--', bad])
    // Named as saved: the second copy is `invoice (2).pdf`.
    expect(human.stderr).toMatch(/WARNING: invoice \(2\)\.pdf looks risky: executable/)

    const ok = await cliJson<{ risk: unknown }>(A, ['get', '--out', join(dir, 'out'), '--', good])
    expect(ok.risk).toBeNull()
  })
})
