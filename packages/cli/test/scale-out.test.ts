import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  CliProcess,
  cli,
  cliJson,
  randomFile,
  removeDir,
  type ServerProcess,
  sha256File,
  startServer,
  tempDir,
  until,
} from '../../../test-support/harness.js'
import { S3BlobStore } from '../../server/src/storage/blob/s3-blob-store.js'
import type { S3Settings } from '../../server/src/storage/blob/s3-client.js'
import {
  freshSchema,
  type PgSchema,
  type S3Server,
  skipPg,
  startS3Server,
} from '../../server/test/services.js'
import { freePort, startProxy, type TcpProxy } from './proxy.js'

/**
 * Several instances: two real server processes on loopback sharing one PostgreSQL schema and one
 * S3-protocol server (s3rver), behind a TCP proxy standing in for the load balancer (one public
 * URL, as in production: devices sign it into logins and linking). The test steers the proxy, so
 * it knows which instance each connection lands on: a device watching with its push socket on
 * one instance hears at once of an item stored through the other, and an upload cut by `kill -9`
 * of instance A resumes through instance B to the same bytes. The proxy throttles uploads so the
 * kill lands in the middle.
 */

const MiB = 1024 * 1024

describe.skipIf(skipPg)('two instances on PostgreSQL + S3', () => {
  let dir: string
  let schema: PgSchema
  let s3server: S3Server
  let bucket: S3Settings
  let proxy: TcpProxy
  let a: ServerProcess
  let b: ServerProcess
  let laptop: string
  let phone: string
  let watch: CliProcess

  beforeAll(async () => {
    assertBuilt()
    dir = await tempDir()
    schema = await freshSchema()
    s3server = await startS3Server()
    bucket = await s3server.bucket()
    const [pa, pb] = [await freePort(), await freePort()]
    proxy = await startProxy(pa, 8 * MiB)
    const args = [
      '--database-url',
      schema.url,
      '--s3-bucket',
      bucket.bucket,
      '--s3-endpoint',
      bucket.endpoint!,
      '--s3-path-style',
      '--s3-part-size',
      '5M',
      '--public-url',
      proxy.url,
    ]
    const env = { AIRLOCK_S3_ACCESS_KEY_ID: 'S3RVER', AIRLOCK_S3_SECRET_ACCESS_KEY: 'S3RVER' }
    a = await startServer(join(dir, 'data-a'), { port: pa, args, env })
    // B starts second: with no account yet it replaces A's setup code, so B's code is the live one.
    b = await startServer(join(dir, 'data-b'), { port: pb, args, env })
    laptop = join(dir, 'laptop')
    phone = join(dir, 'phone')
  })

  afterAll(async () => {
    watch?.proc.kill('SIGTERM')
    await a?.stop('SIGKILL')
    await b?.stop()
    await proxy?.close()
    await s3server?.close()
    await schema?.drop()
    if (dir) await removeDir(dir)
  })

  it('sets up an account and links a second device, both through instance A', async () => {
    await cliJson(
      laptop,
      [
        'setup',
        proxy.url,
        '--username',
        'ops',
        '--name',
        'laptop',
        '--recovery-out',
        join(dir, 'recovery.txt'),
      ],
      {
        env: { AIRLOCK_CODE: b.setupCode! },
      },
    )
    const link = new CliProcess(phone, ['--json', 'link', proxy.url, '--name', 'phone'])
    const code = (await link.waitFor(/"code":"(\d{4}-\d{4}-\d{4})"/))[1]!
    const approve = await cli(laptop, ['--json', 'devices', 'approve'], { input: `${code}\ny\n` })
    expect(approve.code, approve.stderr).toBe(0)
    const linked = await link.exited
    expect(linked.code, linked.stderr).toBe(0)
  })

  it('pushes an item sent through A to a device watching on B at once, and back', async () => {
    proxy.retarget(b.port)
    watch = new CliProcess(phone, ['--json', 'watch', '--dir', join(dir, 'inbox')])
    await cliJson(laptop, ['note', 'first'])
    await watch.waitFor(/"event":"received"/, 30_000)
    // The phone's push socket stays on B; everything from here on goes to A.
    proxy.retarget(a.port)
    // The watcher is connected to B now; the next item must arrive by push, not by catching up.
    const sentAt = Date.now()
    await cliJson(laptop, ['note', 'second'])
    await until(() => watch.events().filter((e) => e.event === 'received').length === 2, 10_000)
    const latency = Date.now() - sentAt
    expect(latency).toBeLessThan(5000)

    const back = new CliProcess(laptop, ['--json', 'watch', '--dir', join(dir, 'inbox-laptop')])
    try {
      await cliJson(phone, ['note', 'to catch up on'])
      await back.waitFor(/"event":"received"/, 10_000)
      // The laptop's socket is on A; the phone now stores through B.
      proxy.retarget(b.port)
      await cliJson(phone, ['note', 'from the phone'])
      await until(() => back.events().filter((e) => e.event === 'received').length === 2, 10_000)
      proxy.retarget(a.port)
    } finally {
      back.proc.kill('SIGTERM')
      await back.exited
    }
  })

  it('resumes through B an upload cut by kill -9 of A, to the same bytes', async () => {
    const src = join(dir, 'big.bin')
    const sha = await randomFile(src, 40 * MiB)
    const blobs = await S3BlobStore.open(bucket)
    const staged = async () => {
      for await (const l of blobs.list()) if (!l.committed && l.size > 0) return l.size
      return 0
    }
    try {
      const send = new CliProcess(laptop, ['--json', 'send', src], { env: { AIRLOCK_RETRY_SECONDS: '1' } })
      // Listing races the upload it watches (S3 may reset a read of a part being written): retry.
      await until(async () => (await staged().catch(() => 0)) >= 10 * MiB, 60_000)
      await a.stop('SIGKILL')
      const failed = await send.exited
      expect(failed.code).not.toBe(0)
      const kept = await staged()
      expect(kept).toBeGreaterThanOrEqual(10 * MiB)

      // The load balancer now sends everything to B; the upload continues from the stored offset.
      proxy.retarget(b.port)
      const before = proxy.bytesUp()
      const resumed = await cliJson<{ sent: { itemId: string }[] }>(laptop, ['resume'])
      expect(resumed.sent).toHaveLength(1)
      expect(proxy.bytesUp() - before).toBeLessThan(40 * MiB - kept + 2 * MiB)

      await until(() => watch.events().some((e) => e.name === 'big.bin'), 60_000)
      const got = watch.events().find((e) => e.name === 'big.bin')!
      expect(await sha256File(got.path as string)).toBe(sha)
    } finally {
      await blobs.close()
    }
  })
})
