#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=16777216:glibc.malloc.mmap_threshold=33554432 node --max-semi-space-size=1 --initial-old-space-size=40
// Every body chunk the HTTP parser hands over is a fresh buffer that only garbage collection frees.
// A small young generation collects them every few megabytes, which keeps the server's memory flat
// while it receives a large file; glibc then keeps the freed memory (up to 16 MiB) instead of
// giving it back and faulting it in again, page by page, for the next chunks. A larger starting
// limit for the old generation stops V8 from running a full collection every few megabytes
// received. See "Performance" in the README; the bench runs exactly this line.
import { Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_PORT, DEFAULTS, parseOrigins, parseQuota, parseSize, type ServerConfig } from './config.js'
import { serverVersion, startServer } from './server.js'
import { addStorageOptions, storageSettings } from './storage-options.js'

if (process.argv[2] === 'migrate-storage') {
  const { runMigrateStorage } = await import('./migrate-command.js')
  process.exit(await runMigrateStorage(process.argv.slice(3)))
}

if (process.argv[2] === 'verify-access-log') {
  const { runVerifyAccessLog } = await import('./verify-access-log-command.js')
  process.exit(await runVerifyAccessLog(process.argv.slice(3)))
}

const SHUTDOWN_GRACE_MS = 20_000

function int(name: string, min: number, max: number) {
  return (v: string) => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max)
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`)
    return Number(v)
  }
}

const program = new Command('airlock-server')
  .description('Airlock server: relays end-to-end encrypted files between devices; stores only ciphertext.')
  .version(serverVersion())
  .addOption(
    new Option('--port <n>', `TCP port (0 = any free port)`)
      .env('AIRLOCK_PORT')
      .argParser(int('--port', 0, 65535))
      .default(DEFAULT_PORT),
  )
  .addOption(
    new Option('--host <addr>', 'address to listen on (0.0.0.0 for every interface)')
      .env('AIRLOCK_HOST')
      .default(DEFAULTS.host),
  )
  .addOption(
    new Option('--data-dir <dir>', 'where the database and blobs live')
      .env('AIRLOCK_DATA_DIR')
      .default(DEFAULTS.dataDir),
  )
  .addOption(new Option('--tls-cert <file>', 'PEM certificate: serve HTTPS itself').env('AIRLOCK_TLS_CERT'))
  .addOption(new Option('--tls-key <file>', 'PEM private key for --tls-cert').env('AIRLOCK_TLS_KEY'))
  .addOption(
    new Option(
      '--public-url <origins>',
      'origin(s) clients use, comma-separated, e.g. https://airlock.example (default: the loopback origins of --port)',
    ).env('AIRLOCK_PUBLIC_URL'),
  )
  .addOption(
    new Option('--max-item-size <size>', 'largest item ciphertext, e.g. 16G')
      .env('AIRLOCK_MAX_ITEM_SIZE')
      .default('16G'),
  )
  .addOption(
    new Option('--max-manifest-size <size>', 'largest encrypted manifest')
      .env('AIRLOCK_MAX_MANIFEST_SIZE')
      .default('8M'),
  )
  .addOption(
    new Option('--quota <size>', "bytes per account, or 'none'").env('AIRLOCK_QUOTA').default('100G'),
  )
  .addOption(
    new Option('--upload-ttl <hours>', 'delete uncommitted uploads after this many hours')
      .env('AIRLOCK_UPLOAD_TTL')
      .argParser(int('--upload-ttl', 1, 24 * 365))
      .default(DEFAULTS.uploadTtlHours),
  )
  .addOption(
    new Option('--max-share-days <days>', 'longest lifetime of a share link')
      .env('AIRLOCK_MAX_SHARE_DAYS')
      .argParser(int('--max-share-days', 1, 3650))
      .default(DEFAULTS.maxShareDays),
  )
  .addOption(
    new Option('--session-ttl <seconds>', 'session token lifetime')
      .env('AIRLOCK_SESSION_TTL')
      .argParser(int('--session-ttl', 60, 86400))
      .default(DEFAULTS.sessionTtlSeconds),
  )
  .addOption(
    new Option('--gc-interval <seconds>', 'how often expired uploads and items are deleted')
      .env('AIRLOCK_GC_INTERVAL')
      .argParser(int('--gc-interval', 1, 86400))
      .default(DEFAULTS.gcIntervalSeconds),
  )
  .addOption(
    new Option('--max-connections <n>', 'simultaneous connections')
      .env('AIRLOCK_MAX_CONNECTIONS')
      .argParser(int('--max-connections', 1, 1_000_000))
      .default(DEFAULTS.maxConnections),
  )
  .addOption(
    new Option('--max-live-per-account <n>', 'uploads one account may follow at once as they arrive')
      .env('AIRLOCK_MAX_LIVE_PER_ACCOUNT')
      .argParser(int('--max-live-per-account', 1, 256))
      .default(DEFAULTS.maxLivePerAccount),
  )
  .addOption(
    new Option('--web-dir <dir>', 'built web app to serve at / (default: packages/web/dist if present)').env(
      'AIRLOCK_WEB_DIR',
    ),
  )
  .addOption(
    new Option('--trust-proxy', 'trust X-Forwarded-For from a reverse proxy (for per-IP rate limits)').env(
      'AIRLOCK_TRUST_PROXY',
    ),
  )
  .addOption(
    new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
      .env('AIRLOCK_LOG_LEVEL')
      .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
  )

addStorageOptions(program)
program.addHelpText(
  'after',
  '\nCommands:\n  migrate-storage   copy an SQLite + disk installation to PostgreSQL + S3 (see migrate-storage --help)\n  verify-access-log check the hash chains of the access log from the first row (exit 1 if tampered)',
)
program.parse()
const o = program.opts<Record<string, string | number | boolean | undefined>>()

let config: ServerConfig
try {
  config = {
    ...DEFAULTS,
    port: o.port as number,
    host: o.host as string,
    dataDir: o.dataDir as string,
    tlsCert: (o.tlsCert as string | undefined) ?? null,
    tlsKey: (o.tlsKey as string | undefined) ?? null,
    publicUrls: o.publicUrl ? parseOrigins(o.publicUrl as string) : [],
    maxItemSize: parseSize(o.maxItemSize as string),
    maxManifestSize: parseSize(o.maxManifestSize as string),
    quota: parseQuota(o.quota as string),
    uploadTtlHours: o.uploadTtl as number,
    maxShareDays: o.maxShareDays as number,
    sessionTtlSeconds: o.sessionTtl as number,
    maxConnections: o.maxConnections as number,
    maxLivePerAccount: o.maxLivePerAccount as number,
    gcIntervalSeconds: o.gcInterval as number,
    webDir: (o.webDir as string | undefined) ?? null,
    trustProxy: Boolean(o.trustProxy),
    logLevel: o.logLevel as string,
    ...storageSettings(o),
  }
} catch (e) {
  process.stderr.write(`airlock-server: ${(e as Error).message}\n`)
  process.exit(2)
}

try {
  const server = await startServer(config)
  if (server.setupCode) {
    process.stdout.write(
      `No account exists yet. One-time admin setup code (use it with \`airlock setup\`):\n  setup-code: ${server.setupCode}\n`,
    )
  }
  // Last, so whoever waits for this line has everything printed before it.
  process.stdout.write(`airlock-server listening on ${server.url}\n`)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) process.exit(1)
    stopping = true
    server.app.log.info({ signal }, 'shutting down')
    const force = setTimeout(() => {
      server.app.log.warn('in-flight requests did not finish in time; exiting')
      process.exit(0)
    }, SHUTDOWN_GRACE_MS)
    force.unref()
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
} catch (e) {
  process.stderr.write(`airlock-server: ${(e as Error).message}\n`)
  process.exit(1)
}
