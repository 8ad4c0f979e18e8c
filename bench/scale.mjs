// Scale benchmark: items per second (1 KiB items) and push latency with many connected devices,
// for two server instances on PostgreSQL + S3 (s3rver) and, in the same run, one instance on
// SQLite + disk. Accounts, devices and sessions are seeded straight into the store (the rate
// limits and the per-entry log verification of the API would otherwise take minutes); everything
// after that goes through the real servers: tus uploads, commits, WebSocket push.
// usage: node bench/scale.mjs [--quick] [--devices N] [--seconds S] [--senders K]
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { openPostgresStore } from '../packages/server/dist/storage/metadata/postgres.js'
import { openSqliteStore } from '../packages/server/dist/storage/metadata/sqlite.js'
import { measurePush } from './lib/push.mjs'
import { seed as seedStore } from './lib/seed.mjs'

const ROOT = new URL('..', import.meta.url).pathname
const SERVER = join(ROOT, 'packages/server/dist/bin.js')
const S3RVER = join(ROOT, 'node_modules/s3rver/bin/s3rver.js')
const args = process.argv.slice(2)
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt)
const quick = args.includes('--quick')
const DEVICES = opt('--devices', quick ? 200 : 1000)
const PER_ACCOUNT = 10
const SECONDS = opt('--seconds', quick ? 5 : 15)
const SENDERS = opt('--senders', 16)
const PG_BASE = process.env.AIRLOCK_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test'
const work = mkdtempSync(join(tmpdir(), 'airlock-scale-'))
const log = (s) => process.stderr.write(`${s}\n`)
const children = []

try {
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    devices: DEVICES,
    seconds: SECONDS,
  }
  results.scaleOut = await runPostgres(true)
  results.scaleOutDisk = await runPostgres(false)
  results.single = await runSqlite()
  const row = (name, r) =>
    `| ${name} | ${r.instances} | ${r.itemsPerSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.delivered}/${r.expected} |`
  const table = [
    `Airlock scale, ${DEVICES} devices (${PER_ACCOUNT} per account), ${SENDERS} concurrent senders, 1 KiB items, ${SECONDS} s each (${results.date}, Node ${process.version})`,
    '',
    '| storage | instances | items/s | push p50 ms | push p99 ms | pushes delivered |',
    '| --- | --- | --- | --- | --- | --- |',
    row('PostgreSQL + S3 (s3rver)', results.scaleOut),
    row('PostgreSQL + one shared blob directory', results.scaleOutDisk),
    row('SQLite + disk', results.single),
    '',
    'Push latency: from the start of the commit request to the event on each device socket.',
  ].join('\n')
  console.log(table)
  for (const k of ['scaleOut', 'scaleOutDisk', 'single'])
    log(`${k}: mean ms per step ${JSON.stringify(results[k].meanMs)}`)
  const stamp = results.date.replace(/[:]/g, '-').slice(0, 19)
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  writeFileSync(join(ROOT, 'bench/results', `${stamp}-scale.json`), `${JSON.stringify(results, null, 2)}\n`)
  writeFileSync(join(ROOT, 'bench/results', `${stamp}-scale.md`), `${table}\n`)
} finally {
  for (const c of children) c.kill('SIGKILL')
  rmSync(work, { recursive: true, force: true })
}

/** Two instances on one PostgreSQL schema; blobs in s3rver, or in one directory both share. */
async function runPostgres(withS3) {
  const schema = `airlock_bench_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: PG_BASE })
  await admin.connect()
  await admin.query(`create schema ${schema}`)
  const url = new URL(PG_BASE)
  url.searchParams.set('options', `-c search_path=${schema}`)
  try {
    let storage = ['--data-dir', join(work, 'shared')]
    let env = {}
    if (withS3) {
      mkdirSync(join(work, 's3'), { recursive: true })
      const s3 = await startChild(
        [
          S3RVER,
          '-d',
          join(work, 's3'),
          '-p',
          '0',
          '-a',
          '127.0.0.1',
          '--silent',
          '--configure-bucket',
          'airlock',
        ],
        /S3rver listening on \S+:(\d+)/,
        {},
      )
      const endpoint = `http://127.0.0.1:${s3.match}`
      storage = ['--s3-bucket', 'airlock', '--s3-endpoint', endpoint, '--s3-path-style']
      env = { AIRLOCK_S3_ACCESS_KEY_ID: 'S3RVER', AIRLOCK_S3_SECRET_ACCESS_KEY: 'S3RVER' }
    }
    const store = await openPostgresStore({ url: url.toString() })
    const accounts = await seed(store)
    await store.close()
    storage.push('--database-url', url.toString())
    const servers = [await startServer('pg-a', storage, env), await startServer('pg-b', storage, env)]
    return await measure(servers, accounts)
  } finally {
    await admin.query(`drop schema ${schema} cascade`)
    await admin.end()
  }
}

async function runSqlite() {
  const dir = join(work, 'sqlite')
  mkdirSync(dir, { recursive: true })
  const store = await openSqliteStore(join(dir, 'airlock.db'))
  const accounts = await seed(store)
  await store.close()
  return measure([await startServer('sqlite', ['--data-dir', dir], {})], accounts)
}

/** Accounts of PER_ACCOUNT devices each, every device with a session token. */
async function seed(store) {
  log(`seeding ${DEVICES} devices…`)
  return seedStore(store, { accounts: DEVICES / PER_ACCOUNT, perAccount: PER_ACCOUNT })
}

async function measure(servers, accounts) {
  try {
    return await measurePush(servers, accounts, { seconds: SECONDS, senders: SENDERS, log })
  } finally {
    for (const s of servers) s.child.kill('SIGTERM')
  }
}

async function startServer(name, extra, env) {
  const { child, match } = await startChild(
    [SERVER, '--port', '0', '--data-dir', join(work, name), '--log-level', 'warn', ...extra],
    /airlock-server listening on (\S+)/,
    env,
  )
  return { child, url: match }
}

function startChild(argv, re, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
    })
    children.push(child)
    let out = ''
    const onData = (d) => {
      out += d
      const m = re.exec(out)
      if (m) resolve({ child, match: m[1] })
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${argv[0]} exited ${code}: ${out}`)))
  })
}
