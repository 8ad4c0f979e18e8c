import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import {
  removeDir,
  SERVER_BIN,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import { request } from './api-client.js'
import { freshSchema, type PgSchema, type S3Server, s3Args, skipPg, startS3Server } from './services.js'

describe('storage settings', () => {
  it.each([
    [['--database-url', 'mysql://x@y/z'], 'postgres://'],
    [['--s3-endpoint', 'http://127.0.0.1:9'], '--s3-bucket'],
    [['--s3-bucket', 'b', '--s3-access-key-id', 'k'], 'go together'],
    [['--s3-bucket', 'b', '--s3-part-size', '1M'], '5M'],
  ])('refuses %j with exit code 2', async (args, message) => {
    const r = await promisify(execFile)(process.execPath, [SERVER_BIN, '--port', '0', ...args]).catch(
      (e: { code: number; stderr: string }) => e,
    )
    expect((r as { code: number }).code).toBe(2)
    expect((r as { stderr: string }).stderr).toContain(message)
  })
})

describe.skipIf(skipPg)('a server on PostgreSQL + S3: /healthz and /readyz', () => {
  let dir: string
  let schema: PgSchema
  let s3: S3Server
  let server: ServerProcess

  afterAll(async () => {
    await server?.stop()
    await s3?.close().catch(() => {})
    await schema?.drop()
    if (dir) await removeDir(dir)
  })

  it('is ready while both stores answer, and only live once the bucket is gone', async () => {
    dir = await tempDir()
    schema = await freshSchema()
    s3 = await startS3Server()
    const bucket = await s3.bucket()
    server = await startServer(dir, { args: ['--database-url', schema.url, ...s3Args(bucket)] })
    expect(server.setupCode).toMatch(/^[0-9A-Z-]+$/)
    expect((await request(server.url, 'GET', '/readyz')).status).toBe(200)
    expect((await request(server.url, 'GET', '/healthz')).status).toBe(200)
    await s3.close()
    const ready = await request(server.url, 'GET', '/readyz')
    expect(ready.status).toBe(503)
    expect(ready.json).toMatchObject({ ok: false })
    expect((await request(server.url, 'GET', '/healthz')).status).toBe(200)
  })
})
