// Soak test: one server on its embedded default (SQLite + local disk), started like `npm start`,
// holds --devices push WebSockets (10 per account) for --minutes while --senders concurrent
// senders reserve → tus PATCH → commit items (a mix of notes and files) and --downloaders fetch
// every --download-every-th committed item back (checking its bytes) and delete what was sent
// (so the data directory stays bounded). Every item and delete event must reach every device of
// the account: a missed (30 s), duplicated or unexpected push is an error, and so are a failed request,
// a wrong download and a dropped or reconnected socket. Every 30 s a line: throughput, pushes,
// push latency, errors, the RSS of the server and of this process; at the end the RSS slope
// (least squares over the samples after the first minute) and a verdict.
// usage: npm run soak [-- --minutes N] [-- --senders N] [-- --devices N] [-- --downloaders N]
//        [-- --note-kib N] [-- --file-mib N] [-- --file-every N] [-- --download-every N]
//        [-- --interval S] [-- --max-slope MiB/min]
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { openSqliteStore } from '../packages/server/dist/storage/metadata/sqlite.js'
import { nodeCommand } from './lib/proc.mjs'
import { call, seed } from './lib/seed.mjs'

const ROOT = new URL('..', import.meta.url).pathname
const SERVER = join(ROOT, 'packages/server/dist/bin.js')
const SERVER_NODE = nodeCommand(SERVER)
const args = process.argv.slice(2)
if (args.includes('--help')) {
  console.log(
    readFileSync(new URL(import.meta.url), 'utf8')
      .split('\nimport ')[0]
      .replace(/^\/\/ ?/gm, ''),
  )
  process.exit(0)
}
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt)
const MINUTES = opt('--minutes', 10)
const DEVICES = opt('--devices', 1000)
const PER_ACCOUNT = 10
const SENDERS = opt('--senders', 8)
const DOWNLOADERS = opt('--downloaders', 2)
const NOTE = opt('--note-kib', 64) * 1024
const FILE = opt('--file-mib', 4) * 1024 * 1024
const FILE_EVERY = opt('--file-every', 10)
const DOWNLOAD_EVERY = opt('--download-every', 4)
const INTERVAL = opt('--interval', 30)
const MAX_SLOPE = opt('--max-slope', 2)
const PUSH_DEADLINE_MS = 30_000
if (DEVICES % PER_ACCOUNT !== 0 || DEVICES <= 0)
  throw new Error(`--devices must be a multiple of ${PER_ACCOUNT}`)

const MB = 1e6
const MiB = 1024 * 1024
const work = mkdtempSync(join(tmpdir(), 'airlock-soak-'))
const log = (s) => process.stderr.write(`${s}\n`)
const bodies = { [NOTE]: randomBytes(NOTE), [FILE]: randomBytes(FILE) }
const manifest = randomBytes(300)

// Counters, cumulative; each report prints the difference from the previous one.
const c = {
  items: 0,
  files: 0,
  upBytes: 0,
  downloads: 0,
  downBytes: 0,
  deletes: 0,
  pushes: 0,
  missed: 0,
  unexpected: 0,
  requestErrors: 0,
  downloadErrors: 0,
  socketErrors: 0,
}
const errorCount = () => c.requestErrors + c.downloadErrors + c.socketErrors + c.missed + c.unexpected
const errorSamples = []
const note = (msg) => {
  if (errorSamples.length >= 20) return
  errorSamples.push(msg)
  log(msg)
}
const fail = (kind, e) => {
  c[kind]++
  note(`${kind}: ${e?.message ?? e}`)
}

// Push accounting. `pending`: expected event → start time and devices still to hear it. Events
// can arrive before the response that names them; those wait in `early`.
const pending = new Map()
const early = new Map()
const HIST_MS = 60_000
const histAll = new Uint32Array(HIST_MS + 1)
const histNow = new Uint32Array(HIST_MS + 1)
const arrive = (key, t0, at) => {
  const p = pending.get(key)
  if (!p) return false
  const ms = Math.min(HIST_MS, Math.max(0, Math.round(at - t0)))
  histAll[ms]++
  histNow[ms]++
  c.pushes++
  if (--p.left === 0) pending.delete(key)
  return true
}
const expect = (key, t0) => {
  pending.set(key, { t0, left: PER_ACCOUNT })
  for (const at of early.get(key)?.times ?? []) arrive(key, t0, at)
  early.delete(key)
}
const onEvent = (m, at) => {
  if (m.type !== 'item' && m.type !== 'delete') return
  const key = `${m.type}:${m.conversationId}:${m.seq}`
  const p = pending.get(key)
  if (p) return arrive(key, p.t0, at)
  const e = early.get(key)
  if (e) e.times.push(at)
  else early.set(key, { times: [at], since: at })
}
/** Expected pushes older than the deadline are missed; unmatched early ones past it are extra. */
const sweep = (now, deadline = PUSH_DEADLINE_MS) => {
  for (const [key, p] of pending) {
    if (now - p.t0 < deadline) continue
    c.missed += p.left
    note(`missed: ${p.left} device(s) did not get ${key}`)
    pending.delete(key)
  }
  for (const [key, e] of early) {
    // Duplicates of finished events, or events of a commit whose response failed.
    if (now - e.since < deadline) continue
    c.unexpected += e.times.length
    note(`unexpected: ${e.times.length} push(es) of ${key}`)
    early.delete(key)
  }
}
const pct = (hist, p) => {
  let total = 0
  for (const n of hist) total += n
  if (total === 0) return Number.NaN
  let seen = 0
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]
    if (seen >= (p / 100) * total) return i
  }
  return HIST_MS
}

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
const hwmMiB = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024

let server
const sockets = []
let closing = false
try {
  const dataDir = join(work, 'data')
  mkdirSync(dataDir, { recursive: true })
  log(`seeding ${DEVICES} devices (${DEVICES / PER_ACCOUNT} accounts)…`)
  const store = await openSqliteStore(join(dataDir, 'airlock.db'))
  const accounts = await seed(store, {
    accounts: DEVICES / PER_ACCOUNT,
    perAccount: PER_ACCOUNT,
    sessionMs: (MINUTES + 60) * 60_000,
  })
  await store.close()
  server = await startServer(dataDir)
  const wsUrl = `${server.url.replace(/^http/, 'ws')}/api/v1/push`
  log(`connecting ${DEVICES} push sockets…`)
  const all = accounts.flatMap((a) => a.devices)
  for (let i = 0; i < all.length; i += 50)
    sockets.push(...(await Promise.all(all.slice(i, i + 50).map((d) => hold(wsUrl, d.token)))))

  const queue = []
  const started = performance.now()
  const end = started + MINUTES * 60_000
  const rows = []
  const samples = []
  let last = { ...c, t: 0 }
  const sample = () => {
    const t = (performance.now() - started) / 1000
    const s = { t, server: rssMiB(server.child.pid), soak: process.memoryUsage.rss() / MiB }
    samples.push(s)
    return s
  }
  const report = () => {
    const s = sample()
    sweep(performance.now())
    const dt = s.t - last.t
    const row = {
      t: Math.round(s.t),
      itemsPerSecond: (c.items - last.items) / dt,
      upMBps: (c.upBytes - last.upBytes) / MB / dt,
      downMBps: (c.downBytes - last.downBytes) / MB / dt,
      pushes: c.pushes - last.pushes,
      p50: pct(histNow, 50),
      p99: pct(histNow, 99),
      errors: errorCount(),
      serverRssMiB: s.server,
      soakRssMiB: s.soak,
      backlog: queue.length,
    }
    histNow.fill(0)
    last = { ...c, t: s.t }
    rows.push(row)
    console.log(
      `${String(row.t).padStart(5)} s  ${row.itemsPerSecond.toFixed(1).padStart(5)} items/s  ` +
        `up ${row.upMBps.toFixed(1).padStart(5)} MB/s  down ${row.downMBps.toFixed(1).padStart(5)} MB/s  ` +
        `pushes ${String(row.pushes).padStart(6)}  p50 ${row.p50} ms  p99 ${row.p99} ms  ` +
        `errors ${row.errors}  server RSS ${row.serverRssMiB.toFixed(0)} MiB  ` +
        `soak RSS ${row.soakRssMiB.toFixed(0)} MiB`,
    )
  }
  log(
    `soak: ${MINUTES} min, ${DEVICES} devices, ${SENDERS} senders (${NOTE / 1024} KiB notes, ` +
      `${FILE / MiB} MiB file every ${FILE_EVERY}), ${DOWNLOADERS} downloaders (every ` +
      `${DOWNLOAD_EVERY}th item), a line every ${INTERVAL} s`,
  )
  sample()
  const sampler = setInterval(sample, 5000)
  const reporter = setInterval(report, INTERVAL * 1000)

  let n = 0
  const sender = async () => {
    while (performance.now() < end) {
      const i = n++
      const acct = accounts[i % accounts.length]
      const device = acct.devices[Math.floor(i / accounts.length) % PER_ACCOUNT]
      const size = FILE_EVERY > 0 && i % FILE_EVERY === FILE_EVERY - 1 ? FILE : NOTE
      const auth = { authorization: `Bearer ${device.token}` }
      try {
        const r = await call(server.url, 'POST', `/api/v1/conversations/${acct.conversationId}/items`, auth, {
          json: { ciphertextSize: size },
          signal: AbortSignal.timeout(60_000),
        })
        await call(
          server.url,
          'PATCH',
          r.uploadUrl,
          {
            ...auth,
            'tus-resumable': '1.0.0',
            'upload-offset': '0',
            'content-type': 'application/offset+octet-stream',
          },
          { body: bodies[size], signal: AbortSignal.timeout(60_000) },
        )
        c.upBytes += size
        const t0 = performance.now()
        const done = await call(
          server.url,
          'PUT',
          `/api/v1/items/${r.itemId}/manifest`,
          { ...auth, 'content-type': 'application/octet-stream' },
          { body: manifest, signal: AbortSignal.timeout(60_000) },
        )
        expect(`item:${acct.conversationId}:${done.seq}`, t0)
        c.items++
        if (size === FILE) c.files++
        queue.push({ acct, device, itemId: r.itemId, size, download: c.items % DOWNLOAD_EVERY === 0 })
      } catch (e) {
        fail('requestErrors', e)
        await new Promise((r) => setTimeout(r, 200))
      }
    }
  }
  const downloader = async () => {
    while (performance.now() < end) {
      const job = queue.shift()
      if (!job) {
        await new Promise((r) => setTimeout(r, 20))
        continue
      }
      const { acct, device, itemId, size } = job
      try {
        if (job.download) {
          // Another device of the same account fetches it.
          const other = acct.devices[(acct.devices.indexOf(device) + 1) % PER_ACCOUNT]
          const res = await fetch(`${server.url}/api/v1/items/${itemId}/blob`, {
            headers: { authorization: `Bearer ${other.token}` },
            signal: AbortSignal.timeout(60_000),
          })
          const got = Buffer.from(await res.arrayBuffer())
          c.downBytes += got.length
          if (res.status !== 200) throw new Error(`GET blob: ${res.status} ${got}`)
          if (got.length !== size) fail('downloadErrors', `${itemId}: ${got.length} bytes, not ${size}`)
          else if (!got.equals(bodies[size])) fail('downloadErrors', `${itemId}: bytes differ`)
          else c.downloads++
        }
        const t0 = performance.now()
        const d = await call(
          server.url,
          'DELETE',
          `/api/v1/items/${itemId}`,
          { authorization: `Bearer ${device.token}` },
          { signal: AbortSignal.timeout(60_000) },
        )
        if (d.seq !== null) expect(`delete:${acct.conversationId}:${d.seq}`, t0)
        c.deletes++
      } catch (e) {
        fail('requestErrors', e)
      }
    }
  }
  await Promise.all([
    ...Array.from({ length: SENDERS }, sender),
    ...Array.from({ length: DOWNLOADERS }, downloader),
  ])
  clearInterval(reporter)
  clearInterval(sampler)
  // The last events get a few seconds to arrive; anything still missing then is missed.
  const waitUntil = performance.now() + 5000
  while (pending.size > 0 && performance.now() < waitUntil) await new Promise((r) => setTimeout(r, 100))
  // A last line for the tail of the run, unless it ended right after one.
  if ((performance.now() - started) / 1000 - last.t >= 5) report()
  else sample()
  sweep(Number.POSITIVE_INFINITY, 0)
  const elapsed = (performance.now() - started) / 1000
  closing = true
  const connected = sockets.filter((s) => s.ws.readyState === WebSocket.OPEN).length

  // Memory: least squares over the samples after the first minute (a fifth of a shorter run).
  const warmup = Math.min(60, (MINUTES * 60) / 5)
  const fitted = samples.filter((s) => s.t >= warmup)
  const slope = (key) => {
    const k = fitted.length
    if (k < 3) return Number.NaN
    const mt = fitted.reduce((a, s) => a + s.t, 0) / k
    const mv = fitted.reduce((a, s) => a + s[key], 0) / k
    const num = fitted.reduce((a, s) => a + (s.t - mt) * (s[key] - mv), 0)
    const den = fitted.reduce((a, s) => a + (s.t - mt) ** 2, 0)
    return (num / den) * 60
  }
  const memory = (key) => ({
    firstMiB: samples[0][key],
    lastMiB: samples[samples.length - 1][key],
    maxMiB: Math.max(...samples.map((s) => s[key])),
    slopeMiBPerMinute: slope(key),
  })
  const summary = {
    date: new Date().toISOString(),
    node: process.version,
    command: `node bench/soak.mjs ${args.join(' ')}`.trim(),
    config: {
      minutes: MINUTES,
      devices: DEVICES,
      perAccount: PER_ACCOUNT,
      senders: SENDERS,
      downloaders: DOWNLOADERS,
      noteBytes: NOTE,
      fileBytes: FILE,
      fileEvery: FILE_EVERY,
      downloadEvery: DOWNLOAD_EVERY,
      serverNodeOptions: SERVER_NODE.options,
      serverEnv: SERVER_NODE.env,
      storage: 'SQLite + local disk',
    },
    seconds: elapsed,
    items: c.items,
    files: c.files,
    itemsPerSecond: c.items / elapsed,
    upMB: c.upBytes / MB,
    downMB: c.downBytes / MB,
    downloads: c.downloads,
    deletes: c.deletes,
    pushes: c.pushes,
    pushP50: pct(histAll, 50),
    pushP99: pct(histAll, 99),
    socketsConnectedAtEnd: connected,
    errors: {
      total: errorCount(),
      requests: c.requestErrors,
      downloads: c.downloadErrors,
      socketsDroppedOrReconnected: c.socketErrors,
      missedPushes: c.missed,
      unexpectedPushes: c.unexpected,
      samples: errorSamples,
    },
    server: { ...memory('server'), peakMiB: server.peakMiB() },
    soak: memory('soak'),
    slopeFrom: warmup,
    maxSlopeMiBPerMinute: MAX_SLOPE,
    rows,
    samples,
  }
  const flat = summary.server.slopeMiBPerMinute < MAX_SLOPE
  summary.pass = summary.errors.total === 0 && connected === DEVICES && flat
  const mem = (m) =>
    `first ${m.firstMiB.toFixed(0)} MiB, last ${m.lastMiB.toFixed(0)} MiB, max ${m.maxMiB.toFixed(0)} MiB, ` +
    `slope ${m.slopeMiBPerMinute.toFixed(2)} MiB/min`
  const lines = [
    `Airlock soak, ${summary.date}, Node ${process.version}: \`${summary.command}\``,
    '',
    `${DEVICES} push WebSockets (${PER_ACCOUNT} per account) held for ${MINUTES} min on one server ` +
      `(SQLite + local disk, \`${Object.entries(SERVER_NODE.env)
        .map(([k, v]) => `${k}=${v} `)
        .join('')}node ${SERVER_NODE.options.join(' ')}\`), ${SENDERS} senders ` +
      `(${NOTE / 1024} KiB notes, a ${FILE / MiB} MiB file every ${FILE_EVERY}th item), ` +
      `${DOWNLOADERS} downloaders (every ${DOWNLOAD_EVERY}th item fetched and compared; every item deleted).`,
    '',
    '| s | items/s | up MB/s | down MB/s | pushes | p50 ms | p99 ms | errors | server RSS MiB | soak RSS MiB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.t} | ${r.itemsPerSecond.toFixed(1)} | ${r.upMBps.toFixed(1)} | ${r.downMBps.toFixed(1)} | ` +
        `${r.pushes} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.serverRssMiB.toFixed(0)} | ${r.soakRssMiB.toFixed(0)} |`,
    ),
    '',
    `- ${c.items} items committed (${c.files} files), ${summary.itemsPerSecond.toFixed(1)}/s; ` +
      `${summary.upMB.toFixed(0)} MB up, ${summary.downMB.toFixed(0)} MB down (${c.downloads} downloads ` +
      `byte-identical), ${c.deletes} deletes`,
    `- ${c.pushes} push deliveries (item and delete events to all ${PER_ACCOUNT} devices of the account), ` +
      `p50 ${summary.pushP50} ms, p99 ${summary.pushP99} ms (from the start of the commit or delete request)`,
    `- errors: ${summary.errors.total} (requests ${c.requestErrors}, downloads ${c.downloadErrors}, ` +
      `sockets dropped or reconnected ${c.socketErrors}, missed pushes ${c.missed}, ` +
      `unexpected or duplicate pushes ${c.unexpected}); ${connected}/${DEVICES} sockets connected at the end`,
    `- server RSS: ${mem(summary.server)}; peak (VmHWM) ${summary.server.peakMiB.toFixed(0)} MiB`,
    `- soak process RSS: ${mem(summary.soak)}`,
    `- slopes: least squares over the 5 s samples after ${warmup} s`,
    '',
    summary.pass
      ? `**PASS**: 0 errors and flat server memory (slope under ${MAX_SLOPE} MiB/min).`
      : `**FAIL**: ${summary.errors.total} errors, ${connected}/${DEVICES} sockets, server RSS slope ` +
        `${summary.server.slopeMiBPerMinute.toFixed(2)} MiB/min (limit ${MAX_SLOPE}).`,
  ]
  console.log(`\n${lines.slice(7 + rows.length).join('\n')}`)
  const stamp = summary.date.replace(/[:]/g, '-').slice(0, 19)
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  writeFileSync(join(ROOT, 'bench/results', `${stamp}-soak.json`), `${JSON.stringify(summary, null, 2)}\n`)
  writeFileSync(join(ROOT, 'bench/results', `${stamp}-soak.md`), `${lines.join('\n')}\n`)
  log(`wrote bench/results/${stamp}-soak.{json,md}`)
  process.exitCode = summary.pass ? 0 : 1
} finally {
  closing = true
  for (const s of sockets) s.ws.terminate()
  await server?.stop()
  rmSync(work, { recursive: true, force: true })
}

/**
 * A push socket held for the run: resolves once `ready`; a close or error afterwards counts as an
 * error, and the socket reconnects (which is counted too).
 */
function hold(url, token) {
  const holder = { ws: null }
  const open = (first) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url)
      holder.ws = ws
      let ready = false
      ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })))
      ws.on('message', (data) => {
        const at = performance.now()
        const m = JSON.parse(String(data))
        if (m.type === 'ready') {
          ready = true
          resolve(holder)
        } else onEvent(m, at)
      })
      ws.on('error', (e) => {
        if (!ready && first) reject(e)
      })
      ws.on('close', (code, reason) => {
        if (closing) return
        if (!ready && first) return reject(new Error(`push socket closed ${code} ${reason}`))
        fail('socketErrors', `push socket closed ${code} ${reason}; reconnecting`)
        setTimeout(() => open(false).catch((e) => fail('socketErrors', e)), 1000)
      })
    })
  return open(true)
}

async function startServer(dataDir) {
  const child = spawn(
    process.execPath,
    [...SERVER_NODE.options, SERVER, '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...SERVER_NODE.env, NODE_NO_WARNINGS: '1' } },
  )
  let out = ''
  let lines = 0
  const url = await new Promise((resolve, reject) => {
    const onData = (d) => {
      out += d
      const m = /airlock-server listening on (\S+)/.exec(out)
      if (m) resolve(m[1])
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)))
  })
  // Warnings and errors the server logs during the run are shown (the first 20).
  const show = (d) => {
    for (const line of String(d).split('\n').filter(Boolean)) if (lines++ < 20) log(`server: ${line}`)
  }
  child.stdout.on('data', show)
  child.stderr.on('data', show)
  const exited = new Promise((r) => child.once('exit', r))
  child.once('exit', (code, signal) => {
    if (!closing) fail('requestErrors', `server exited ${code ?? signal}`)
  })
  let peak = 0
  return {
    child,
    url,
    peakMiB: () => {
      peak = Math.max(peak, hwmMiB(child.pid))
      return peak
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    },
  }
}
