import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  cliJson,
  randomFile,
  removeDir,
  SERVER_BIN,
  type ServerProcess,
  sha256File,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import type { S3Settings } from '../../server/src/storage/blob/s3-client.js'
import {
  freshSchema,
  type PgSchema,
  type S3Server,
  skipPg,
  startS3Server,
} from '../../server/test/services.js'
import { freePort } from './proxy.js'

/**
 * `airlock-server migrate-storage` on a populated installation: a real server on SQLite + disk
 * holding items sent by the CLI (files of several sizes, a note, a deleted item, an admin and an
 * invited account) is stopped, copied to PostgreSQL + S3, and started again on the new storage at
 * the same address; every item still opens (decrypted and verified by the receiving device).
 */

const MiB = 1024 * 1024
const run = promisify(execFile)

describe.skipIf(skipPg)('migrate-storage: SQLite + disk to PostgreSQL + S3', () => {
  let dir: string
  let schema: PgSchema
  let s3server: S3Server
  let bucket: S3Settings
  let server: ServerProcess
  let port: number
  const files: Record<string, string> = {}
  const laptop = () => join(dir, 'laptop')
  const target = () => [
    '--database-url',
    schema.url,
    '--s3-bucket',
    bucket.bucket,
    '--s3-endpoint',
    bucket.endpoint!,
    '--s3-path-style',
  ]
  const s3env = { AIRLOCK_S3_ACCESS_KEY_ID: 'S3RVER', AIRLOCK_S3_SECRET_ACCESS_KEY: 'S3RVER' }

  beforeAll(async () => {
    assertBuilt()
    dir = await tempDir()
    schema = await freshSchema()
    s3server = await startS3Server()
    bucket = await s3server.bucket()
    port = await freePort()
    server = await startServer(join(dir, 'data'), { port })
    await mkdir(join(dir, 'src'))
    for (const [name, size] of [
      ['empty.bin', 0],
      ['small.bin', 1000],
      ['large.bin', 12 * MiB],
      ['gone.bin', 10],
    ] as const) {
      files[name] = await randomFile(join(dir, 'src', name), size)
    }
  })

  afterAll(async () => {
    await server?.stop()
    await s3server?.close()
    await schema?.drop()
    if (dir) await removeDir(dir)
  })

  it('copies every row and blob, verifies them, and every item opens on the new storage', async () => {
    await cliJson(
      laptop(),
      ['setup', server.url, '--username', 'ann', '--recovery-out', join(dir, 'rec.txt')],
      {
        env: { AIRLOCK_CODE: server.setupCode! },
      },
    )
    const sent = await cliJson<{ sent: { itemId: string; name: string }[] }>(laptop(), [
      'send',
      ...['empty.bin', 'small.bin', 'large.bin', 'gone.bin'].map((n) => join(dir, 'src', n)),
    ])
    await cliJson(laptop(), ['note', 'a note that must survive'])
    const gone = sent.sent.find((s) => s.name === 'gone.bin')!.itemId
    await cliJson(laptop(), ['rm', gone])
    const small = sent.sent.find((s) => s.name === 'small.bin')!.itemId
    const shared = await cliJson<{ link: string }>(laptop(), ['share', small])
    await server.stop()

    const env = { ...process.env, ...s3env }
    const { stdout } = await run(
      process.execPath,
      [SERVER_BIN, 'migrate-storage', '--data-dir', join(dir, 'data'), ...target()],
      { env },
    )
    const report = JSON.parse(stdout) as {
      ok: boolean
      rows: Record<string, number>
      blobs: number
      bytes: number
    }
    expect(report.ok).toBe(true)
    expect(report.rows.accounts).toBe(1)
    expect(report.rows.items).toBe(5)
    expect(report.rows.shares).toBe(1)
    expect(report.blobs).toBe(5)
    expect(report.bytes).toBeGreaterThan(12 * MiB)

    // A second run finds the target populated and refuses, leaving it as it is.
    const again = await run(
      process.execPath,
      [SERVER_BIN, 'migrate-storage', '--data-dir', join(dir, 'data'), ...target()],
      { env },
    ).catch((e: { code: number; stderr: string }) => e)
    expect((again as { code: number }).code).toBe(1)
    expect((again as { stderr: string }).stderr).toContain('TARGET_NOT_EMPTY')

    // The old data directory is moved away: the new server must serve everything from PG + S3.
    server = await startServer(join(dir, 'fresh-data-dir'), { port, args: target(), env: s3env })
    expect(server.setupCode).toBeNull()
    const inbox = await cliJson<{ items: { itemId: string; name: string | null; verified: boolean }[] }>(
      laptop(),
      ['inbox'],
    )
    const live = inbox.items.filter((i) => i.itemId !== gone)
    expect(live).toHaveLength(4)
    expect(live.every((i) => i.verified)).toBe(true)
    for (const item of live) {
      const out = join(dir, 'out')
      const got = await cliJson<{ path: string }>(laptop(), ['get', '--out', out, '--', item.itemId])
      if (item.name) expect(await sha256File(got.path)).toBe(files[item.name])
      else expect(await readFile(got.path, 'utf8')).toBe('a note that must survive')
    }
    // The share link opens on the new storage (same origin: same port).
    const link = await cliJson<{ files: { path: string }[] }>(laptop(), [
      'open-link',
      shared.link,
      '-o',
      join(dir, 'out-link'),
    ])
    expect(await sha256File(link.files[0]!.path)).toBe(files['small.bin'])
    // New items work on the new storage too.
    await writeFile(join(dir, 'src', 'after.txt'), 'after the move')
    const after = await cliJson<{ sent: { itemId: string }[] }>(laptop(), [
      'send',
      join(dir, 'src', 'after.txt'),
    ])
    expect(after.sent).toHaveLength(1)
  })
})
