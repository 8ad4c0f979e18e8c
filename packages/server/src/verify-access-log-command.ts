import { join } from 'node:path'
import { Command, Option } from 'commander'
import { auditAccessLog } from './access-log.js'
import { openPostgresStore } from './pg-store.js'
import { openSqliteStore } from './sqlite-store.js'
import { addStorageOptions, storageSettings } from './storage-options.js'

/**
 * `airlock-server verify-access-log`: checks the whole access log of the installation the usual
 * storage options name (`--data-dir`, or `--database-url`), from its first row: both hash chains
 * of every row and the recorded head. Prints a JSON report on stdout. Exit codes: 0 intact,
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
    .exitOverride()
  addStorageOptions(cmd)
  let databaseUrl: string | null
  let dataDir: string
  try {
    cmd.parse(argv, { from: 'user' })
    const o = cmd.opts<Record<string, unknown>>()
    databaseUrl = storageSettings(o).databaseUrl
    dataDir = o.dataDir as string
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
    const r = await auditAccessLog(store)
    process.stdout.write(`${JSON.stringify(r)}\n`)
    if (!r.ok) process.stderr.write(`verify-access-log: TAMPERED: ${r.problem}\n`)
    return r.ok ? 0 : 1
  } finally {
    await store.close()
  }
}
