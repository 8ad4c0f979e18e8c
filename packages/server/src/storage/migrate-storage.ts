import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { BlobStore } from './blob/blob-store.js'
import type { SqlMetadataStore } from './metadata/metadata-store.js'
import type { Database } from './metadata/schema.js'

/** Why a storage migration stopped. */
export class MigrationError extends Error {
  constructor(
    readonly code: 'TARGET_NOT_EMPTY' | 'COUNT_MISMATCH' | 'HASH_MISMATCH' | 'BLOB_MISSING',
    message: string,
  ) {
    super(message)
    this.name = 'MigrationError'
  }
}

export interface MigrationSide {
  store: SqlMetadataStore
  blobs: BlobStore
}

export interface MigrationReport {
  /** Rows copied per table (equal on both sides, checked). */
  rows: Record<string, number>
  /** Committed blobs copied and verified by SHA-256. */
  blobs: number
  bytes: number
  /** Reservations whose partial uploads restart from zero on the new storage. */
  reservations: number
}

const TABLES: (keyof Database)[] = [
  'accounts',
  'codes',
  'device_log',
  'devices',
  'challenges',
  'sessions',
  'conversations',
  'conversation_members',
  'contacts',
  'items',
  'link_mailboxes',
  'link_messages',
  'access_log',
  'shares',
  'share_blobs',
  'share_sessions',
]
const BATCH = 500

/**
 * Copies a whole installation — every metadata row and every committed blob — from one pair of
 * stores to another (in practice SQLite + disk to PostgreSQL + S3), then verifies it: row counts
 * per table match, and each committed item's blob exists on the target with the declared size
 * and the SHA-256 of the source's bytes, read back from the target. The target must be empty;
 * the source is only read. Partial uploads are not copied (the blob interface cannot read a
 * staged blob): their reservations get an empty staged blob, so those uploads restart from zero.
 * Run it with the server stopped.
 */
export async function migrateStorage(
  from: MigrationSide,
  to: MigrationSide,
  progress: (msg: string) => void = () => {},
): Promise<MigrationReport> {
  await requireEmpty(to)
  const rows: Record<string, number> = {}
  for (const table of TABLES) {
    rows[table] = await copyTable(from, to, table)
    progress(`${table}: ${rows[table]} rows`)
  }
  // The access log's one head row exists on both sides (made by the migration): carry it over.
  const head = await from.store.accessLog.accessLogHead()
  await to.store.database
    .updateTable('access_log_head')
    .set({ seq: head.seq, hash: head.hash })
    .where('id', '=', 'server')
    .execute()
  let blobs = 0
  let bytes = 0
  let reservations = 0
  const items = from.store.database
    .selectFrom('items')
    .select(['id', 'state', 'ciphertext_size'])
    .where('state', 'in', ['reserved', 'committed'])
    .orderBy('id')
    .stream()
  for await (const item of items) {
    const size = Number(item.ciphertext_size)
    if (item.state === 'reserved') {
      await to.blobs.create(item.id, size)
      reservations++
      continue
    }
    await copyBlob(from, to, item.id, size, `item ${item.id}`)
    blobs++
    bytes += size
    if (blobs % 100 === 0) progress(`blobs: ${blobs} (${bytes} bytes)`)
  }
  // Share links whose blobs still exist: complete ones are copied, unfinished uploads restart.
  const shareBlobs = from.store.database
    .selectFrom('share_blobs')
    .innerJoin('shares', 'shares.id', 'share_blobs.share_id')
    .select(['share_blobs.id', 'share_blobs.size', 'shares.state'])
    .where('shares.blobs_deleted', '=', 0)
    .orderBy('share_blobs.id')
    .stream()
  for await (const b of shareBlobs) {
    const size = Number(b.size)
    if (b.state === 'uploading') {
      await to.blobs.create(b.id, size)
      reservations++
    } else if (b.state === 'active' || b.state === 'exhausted') {
      await copyBlob(from, to, b.id, size, `share blob ${b.id}`)
      blobs++
      bytes += size
    }
  }
  for (const table of TABLES) {
    const n = await countRows(to, table)
    if (n !== rows[table]) {
      throw new MigrationError('COUNT_MISMATCH', `${table}: ${rows[table]} rows copied, ${n} on the target`)
    }
  }
  return { rows, blobs, bytes, reservations }
}

async function requireEmpty(to: MigrationSide): Promise<void> {
  for (const table of TABLES) {
    if ((await countRows(to, table)) > 0) {
      throw new MigrationError('TARGET_NOT_EMPTY', `the target database already has ${table}`)
    }
  }
  for await (const _ of to.blobs.list()) {
    throw new MigrationError('TARGET_NOT_EMPTY', 'the target blob store is not empty')
  }
}

async function copyTable(from: MigrationSide, to: MigrationSide, table: keyof Database): Promise<number> {
  let n = 0
  let batch: Record<string, unknown>[] = []
  const flush = async () => {
    if (batch.length === 0) return
    // Rows go column for column between identical schemas; Kysely cannot type a table chosen at run time.
    await to.store.database
      .insertInto(table)
      .values(batch as never)
      .execute()
    n += batch.length
    batch = []
  }
  for await (const row of from.store.database.selectFrom(table).selectAll().stream()) {
    batch.push(row as Record<string, unknown>)
    if (batch.length >= BATCH) await flush()
  }
  await flush()
  return n
}

async function countRows(side: MigrationSide, table: keyof Database): Promise<number> {
  const r = await side.store.database
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst()
  return Number(r?.n ?? 0)
}

async function* hashing(source: Readable, hash: ReturnType<typeof createHash>): AsyncIterable<Uint8Array> {
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    hash.update(chunk)
    yield chunk
  }
}

async function sha256(r: Readable): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of r as AsyncIterable<Uint8Array>) hash.update(chunk)
  return hash.digest('hex')
}

/** Copies one committed blob and checks the copy's SHA-256 against the source's bytes. */
async function copyBlob(from: MigrationSide, to: MigrationSide, id: string, size: number, what: string) {
  const source = await from.blobs.status(id)
  if (!source?.committed || source.size !== size) {
    throw new MigrationError('BLOB_MISSING', `the source has no complete blob for ${what}`)
  }
  const hash = createHash('sha256')
  await to.blobs.create(id, size)
  if (size > 0) await to.blobs.append(id, 0, hashing(await from.blobs.read(id), hash))
  await to.blobs.commit(id)
  const expected = hash.digest('hex')
  if ((await sha256(await to.blobs.read(id))) !== expected) {
    throw new MigrationError('HASH_MISMATCH', `the copy of ${what} differs from the source`)
  }
}
