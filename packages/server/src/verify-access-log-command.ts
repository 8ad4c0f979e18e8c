import { join } from 'node:path'
import type { AccessHead } from '@airlock/core'
import { Command, Option } from 'commander'
import { auditAccessLog } from './domain/access-log.js'
import { openPostgresStore } from './storage/metadata/postgres.js'
import { openSqliteStore } from './storage/metadata/sqlite.js'
import { addStorageOptions, storageSettings } from './storage-options.js'

/**
 * `airlock-server verify-access-log`: checks the whole access log of the installation the usual
 * storage options name (`--data-dir`, or `--database-url`), from its first row: both hash chains
 * of every row and the recorded head, and with `--expect-head seq:hash` that an earlier run's head
 * is still there unchanged. Prints a JSON report on stdout. Exit codes: 0 intact,
 * 1 a row does not verify (the report names the first), 2 bad options. Safe while the server runs.
 */
export async function runVerifyAccessLog(argv: string[]): Promise<number> {
  const cmd = new Command('airlock-server verify-access-log')
    .description('Verify the hash chains of the access log (every download) from the first row.')
    .addOption(
      new Option('--data-dir <dir>', 'the installation (SQLite)')
        .env('AIRLOCK_DATA_DIR')
        .default('./airlock-data'),
    )
    .addOption(
      new Option(
        '--expect-head <seq:hash>',
        'a head printed by an earlier run: the log must still contain that row unchanged',
      ),
    )
    .exitOverride()
  addStorageOptions(cmd)
  let databaseUrl: string | null
  let dataDir: string
  let pinned: AccessHead | undefined
  try {
    cmd.parse(argv, { from: 'user' })
    const o = cmd.opts<Record<string, unknown>>()
    databaseUrl = storageSettings(o).databaseUrl
    dataDir = o.dataDir as string
    if (o.expectHead !== undefined) {
      const m = /^([1-9][0-9]{0,15}):([A-Za-z0-9_-]{43})$/.exec(String(o.expectHead))
      if (!m) throw new Error('--expect-head must be <seq>:<hash> as printed by an earlier run')
      pinned = { seq: Number(m[1]), hash: m[2]! }
    }
  } catch (e) {
    const err = e as { code?: string; message: string }
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0
    if (!err.code?.startsWith('commander.')) process.stderr.write(`verify-access-log: ${err.message}\n`)
    return 2
  }
  const store = databaseUrl
    ? await openPostgresStore({ url: databaseUrl })
    : await openSqliteStore(join(dataDir, 'airlock.db'))
  try {
    const r = await auditAccessLog(store, pinned ? { pinned } : {})
    process.stdout.write(`${JSON.stringify(r)}\n`)
    if (!r.ok) process.stderr.write(`verify-access-log: TAMPERED: ${r.problem}\n`)
    return r.ok ? 0 : 1
  } finally {
    await store.close()
  }
}
