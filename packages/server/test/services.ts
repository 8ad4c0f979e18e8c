import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import S3rver from 's3rver'
import type { S3Settings } from '../src/storage/blob/s3-client.js'

/**
 * The shared services the scale-out adapters are tested against: the machine's PostgreSQL
 * (`AIRLOCK_TEST_PG`, default `postgres://postgres@127.0.0.1:5432/test`), each test in a schema of
 * its own so runs never collide, and an S3-protocol server (`s3rver`) started in this process on
 * a loopback port. Without PostgreSQL the PostgreSQL tests are skipped on a developer machine, but
 * under `CI=true` they run and fail loudly.
 */

export const PG_BASE = process.env.AIRLOCK_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test'
export const IN_CI = process.env.CI === 'true'

async function probe(): Promise<string | null> {
  const client = new pg.Client({ connectionString: PG_BASE, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('select 1')
    return null
  } catch (e) {
    return (e as Error).message
  } finally {
    await client.end().catch(() => {})
  }
}

/** Why PostgreSQL cannot be reached, or null when it can. */
export const pgUnavailable = await probe()

/** True when the PostgreSQL tests should be skipped: only outside CI. */
export const skipPg = pgUnavailable !== null && !IN_CI

export interface PgSchema {
  /** A connection URL whose search_path is the fresh schema. */
  url: string
  schema: string
  drop(): Promise<void>
}

/** Creates an empty schema for one test (or one test file) and a URL that selects it. */
export async function freshSchema(): Promise<PgSchema> {
  if (pgUnavailable) throw new Error(`PostgreSQL is not reachable at ${PG_BASE}: ${pgUnavailable}`)
  const schema = `airlock_t_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_BASE })
  await admin.connect()
  try {
    await admin.query(`create schema ${schema}`)
  } finally {
    await admin.end()
  }
  const u = new URL(PG_BASE)
  u.searchParams.set('options', `-c search_path=${schema}`)
  return {
    url: u.toString(),
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: PG_BASE })
      await c.connect()
      try {
        await c.query(`drop schema if exists ${schema} cascade`)
      } finally {
        await c.end()
      }
    },
  }
}

export interface S3Server {
  endpoint: string
  /** Settings for a new, empty bucket on this server. */
  bucket(): Promise<S3Settings>
  close(): Promise<void>
}

/** The server's command-line settings for `bucket` (test keys only: real keys go in the environment). */
export function s3Args(bucket: S3Settings): string[] {
  return [
    '--s3-bucket',
    bucket.bucket,
    '--s3-endpoint',
    bucket.endpoint!,
    '--s3-path-style',
    '--s3-access-key-id',
    bucket.accessKeyId!,
    '--s3-secret-access-key',
    bucket.secretAccessKey!,
  ]
}

/** Starts s3rver on a loopback port, storing objects in a temporary directory. */
export async function startS3Server(): Promise<S3Server> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-s3-'))
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir })
  const { port } = (await server.run()) as { port: number }
  const endpoint = `http://127.0.0.1:${port}`
  return {
    endpoint,
    async bucket() {
      const name = `airlock-${randomBytes(6).toString('hex')}`
      const settings: S3Settings = {
        endpoint,
        bucket: name,
        region: 'us-east-1',
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
        forcePathStyle: true,
        prefix: '',
      }
      const { createBucket } = await import('../src/storage/blob/s3-client.js')
      await createBucket(settings)
      return settings
    },
    async close() {
      await server.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
