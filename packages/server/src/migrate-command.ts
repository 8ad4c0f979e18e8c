import { join } from 'node:path'
import { Command, Option } from 'commander'
import { LocalBlobStore } from './storage/blob/local-blob-store.js'
import { S3BlobStore } from './storage/blob/s3-blob-store.js'
import { openPostgresStore } from './storage/metadata/postgres.js'
import { openSqliteStore } from './storage/metadata/sqlite.js'
import { MigrationError, migrateStorage } from './storage/migrate-storage.js'
import { addStorageOptions, storageSettings } from './storage-options.js'

/**
 * `airlock-server migrate-storage`: copies the SQLite + disk installation in `--data-dir` to the
 * PostgreSQL database and S3 bucket named by the usual storage options, and verifies it. Prints a
 * JSON report on stdout; progress on stderr. Exit codes: 0 done and verified, 1 verification or
 * copy failed (the source is untouched), 2 bad options.
 */
export async function runMigrateStorage(argv: string[]): Promise<number> {
  const cmd = new Command('airlock-server migrate-storage')
    .description(
      'Copy an SQLite + disk installation (--data-dir) to PostgreSQL + S3 and verify row counts and blob hashes. Stop the server first.',
    )
    .addOption(
      new Option('--data-dir <dir>', 'the installation to copy from')
        .env('AIRLOCK_DATA_DIR')
        .default('./airlock-data'),
    )
    .exitOverride()
  addStorageOptions(cmd)
  let settings: ReturnType<typeof storageSettings>
  let dataDir: string
  try {
    cmd.parse(argv, { from: 'user' })
    const o = cmd.opts<Record<string, unknown>>()
    settings = storageSettings(o)
    dataDir = o.dataDir as string
    if (!settings.databaseUrl || !settings.s3)
      throw new Error('name the target: --database-url and --s3-bucket')
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message: string }
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0
    if (!err.code?.startsWith('commander.')) process.stderr.write(`migrate-storage: ${err.message}\n`)
    return 2
  }

  const from = {
    store: await openSqliteStore(join(dataDir, 'airlock.db')),
    blobs: await LocalBlobStore.open(join(dataDir, 'blobs')),
  }
  const s3 = await S3BlobStore.open(settings.s3)
  const to = { store: await openPostgresStore({ url: settings.databaseUrl }), blobs: s3 }
  try {
    const report = await migrateStorage(from, to, (m) => process.stderr.write(`migrate-storage: ${m}\n`))
    process.stdout.write(`${JSON.stringify({ ok: true, ...report })}\n`)
    return 0
  } catch (e) {
    const code = e instanceof MigrationError ? e.code : 'FAILED'
    process.stderr.write(`migrate-storage: ${code}: ${(e as Error).message}\n`)
    return 1
  } finally {
    await from.store.close()
    await to.store.close()
    await s3.close()
  }
}
