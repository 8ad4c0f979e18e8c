// `npm run bench`: Airlock against the machine's limits and against the tools people use instead,
// every figure measured in the same run on loopback. Writes bench/results/<date>.{json,md,svg}.
// usage: npm run bench [-- --quick] [-- --sizes 256,1024] [-- --skip peers,web,files,push,startup]
import { spawn, spawnSync } from 'node:child_process'
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomFillSync } from 'node:crypto'
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { createServer } from 'node:http'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { CHROMIUM_PATH } from '../chromium.mjs'
import { browserCrypto } from './browser.mjs'
import { daemon, freePort, nodeCommand, timed } from './lib/proc.mjs'
import { connectDevices } from './lib/push.mjs'
import {
  markdown,
  medianRun,
  parseArgs,
  parseOnionshareUrl,
  replaceReadmeSection,
  svgChart,
} from './lib/report.mjs'
import { seed } from './lib/seed.mjs'

const ROOT = new URL('..', import.meta.url).pathname
const SERVER = join(ROOT, 'packages/server/dist/bin.js')
const CLI = join(ROOT, 'packages/cli/dist/airlock.js')
// Both run as their `#!` lines say (environment and Node options), as `airlock-server` and `airlock` do.
const SERVER_NODE = nodeCommand(SERVER)
const CLI_NODE = nodeCommand(CLI)
/** `airlock …` as the arguments of spawn, timed or daemon: node, its argv, then options with the full environment. */
const airlock = (argv, opts = {}) => [
  process.execPath,
  [...CLI_NODE.options, CLI, ...argv],
  { ...opts, env: { ...process.env, ...CLI_NODE.env, ...opts.env } },
]
const MiB = 1024 * 1024
const opts = parseArgs(process.argv.slice(2))
const work = mkdtempSync(join(tmpdir(), 'airlock-bench-'))
const log = (s) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`)
const cleanup = []

const results = {
  date: new Date().toISOString(),
  quick: opts.quick,
  command: `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: machine(),
  sizes: [],
  notes: [],
}

try {
  const tools = ensureTools()
  const server = await startServer(join(work, 'server'))
  cleanup.push(server.stop)
  const A = join(work, 'device-a')
  const B = join(work, 'device-b')
  log('setting up device A and linking device B…')
  await setupDevices(server, A, B)
  const peers = opts.skip.has('peers') ? null : await startPeers(tools)

  results.aead = aeadLimit(256)
  log(`node:crypto ChaCha20-Poly1305: ${results.aead.sealMBps.toFixed(0)} MB/s seal`)

  for (const sizeMiB of opts.sizesMiB) results.sizes.push(await measureSize(sizeMiB, server, A, B, peers))
  await peers?.stop()

  results.web = opts.skip.has('web') ? { notMeasured: 'skipped (--skip web)' } : await web(server)
  results.smallFiles = opts.skip.has('files')
    ? { notMeasured: 'skipped (--skip files)' }
    : await smallFiles(A)
  await server.stop()
  results.push = opts.skip.has('push') ? { notMeasured: 'skipped (--skip push)' } : await push()
  results.startup = opts.skip.has('startup') ? { notMeasured: 'skipped (--skip startup)' } : await startup()
  if (opts.rounds > 1) {
    results.notes.push(
      `Up to 1 GiB, age, Airlock and magic-wormhole ran ${opts.rounds} times each, taking turns; the tables give the median run of each (every run is in the JSON), and peak memory the highest of all runs.`,
    )
  }
  results.notes.push(
    'Disk to disk: Airlock is from the start of `airlock send` on device A to the file saved (fsynced, verified, in place) by `airlock watch` on device B, which follows the upload as it arrives; its receive figure is a separate `airlock get` of the stored item; magic-wormhole is send and receive started together, to the received file; onionshare is its start-up (until it prints its address) plus `curl` downloading to a file; curl is `curl -T` to a static Node server writing a file, then `curl -o` back.',
    'Disk write: `dd … conv=fsync` of the file size; disk read: `dd … iflag=direct` (bypassing the page cache). Every other tool reads its input from the page cache.',
  )
} finally {
  results.machine.loadAfter = loadavg()
  for (const stop of cleanup.reverse()) await stop().catch(() => {})
  rmSync(work, { recursive: true, force: true })
}

const stamp = results.date.replace(/[:]/g, '-').slice(0, 19)
const dir = join(ROOT, 'bench/results')
mkdirSync(dir, { recursive: true })
const table = markdown(results)
writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`)
writeFileSync(join(dir, `${stamp}.md`), `${table}\n![throughput by file size](${stamp}.svg)\n`)
writeFileSync(join(dir, `${stamp}.svg`), svgChart(results))
console.log(table)
if (!opts.quick && opts.skip.size === 0) {
  // The README shows the latest full run; a quick run, or one that skipped parts, is for checks only.
  const readme = join(ROOT, 'README.md')
  const link = `Full report: [bench/results/${stamp}.md](bench/results/${stamp}.md), chart: [bench/results/${stamp}.svg](bench/results/${stamp}.svg).`
  writeFileSync(
    readme,
    replaceReadmeSection(readFileSync(readme, 'utf8'), `${table.replace(/^## .*\n/, '')}\n${link}`),
  )
  // The README is formatted by Biome like every other file (`npm run lint` checks it).
  spawnSync(join(ROOT, 'node_modules/.bin/biome'), ['format', '--write', 'README.md'], { cwd: ROOT })
}
log(`wrote bench/results/${stamp}.{json,md,svg}`)

function machine() {
  const os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux'
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 1024 ** 3),
    os,
    node: process.version,
    loadBefore: loadavg(),
  }
}

/** Installs the Debian packages of age and the peers where absent; returns why a tool is missing. */
function ensureTools() {
  const want = { age: 'age', wormhole: 'magic-wormhole', 'onionshare-cli': 'onionshare-cli' }
  const extra = ['python3-magic-wormhole-mailbox-server', 'magic-wormhole-transit-relay']
  const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0
  const pyHas = (mod) => spawnSync('/usr/bin/python3', ['-c', `import ${mod}`]).status === 0
  const missing = Object.keys(want).filter((b) => !has(b))
  if (!pyHas('wormhole_mailbox_server')) missing.push(extra[0])
  if (!pyHas('wormhole_transit_relay')) missing.push(extra[1])
  const skipPeers = opts.skip.has('peers')
  const needed = missing.map((b) => want[b] ?? b).filter((p) => p === 'age' || !skipPeers)
  if (!opts.skip.has('web') && !existsSync(CHROMIUM_PATH)) needed.push('chromium')
  if (needed.length) {
    log(`installing ${needed.join(' ')} from Debian…`)
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
    spawnSync('apt-get', ['install', '-y', '-qq', ...needed], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
  }
  if (!has('age')) throw new Error('the age CLI is needed (apt-get install age)')
  return {
    wormhole:
      has('wormhole') && pyHas('wormhole_mailbox_server') && pyHas('wormhole_transit_relay')
        ? null
        : 'magic-wormhole or its servers could not be installed',
    onionshare: has('onionshare-cli') ? null : 'onionshare-cli could not be installed',
  }
}

async function measureSize(sizeMiB, server, A, B, peers) {
  const bytes = sizeMiB * MiB
  log(`— ${sizeMiB} MiB —`)
  const load = loadavg()[0]
  const plain = join(work, `plain-${sizeMiB}.bin`)
  const hash = writeRandom(plain, sizeMiB)
  const scratch = join(work, 'scratch.bin')
  const ddCount = `count=${sizeMiB / 4}`
  const write = await timed('dd', ['if=/dev/zero', `of=${scratch}`, 'bs=4M', ddCount, 'conv=fsync'])
  rmSync(scratch)
  const read = await timed('dd', [`if=${plain}`, 'of=/dev/null', 'bs=4M', 'iflag=direct'])

  // age, Airlock and magic-wormhole take turns, `--rounds` times up to 1 GiB; the median run of
  // each is reported, and every run is kept in the JSON.
  const rounds = sizeMiB <= 1024 ? opts.rounds : 1
  const skipPeers = opts.skip.has('peers') ? 'skipped (--skip peers)' : null
  const ageRuns = []
  const airRuns = []
  const wormholeRuns = []
  for (let round = 1; round <= rounds; round++) {
    if (rounds > 1) log(`round ${round} of ${rounds}`)
    ageRuns.push(await ageOnce(plain))
    airRuns.push(await airlockOnce(server, A, B, plain, hash))
    if (!skipPeers) wormholeRuns.push(await attempt(() => wormhole(peers, plain, hash)))
  }
  const ageRun = medianRun(ageRuns, (r) => r.enc.seconds + r.dec.seconds)
  const air = medianRun(airRuns, (r) => r.endToEnd)
  const wormholeMeasured = wormholeRuns.filter((r) => r.notMeasured === undefined)
  const wormholeRun =
    wormholeMeasured.length > 0 ? medianRun(wormholeMeasured, (r) => r.seconds) : wormholeRuns[0]

  // Receiving an item that is already stored: `airlock get` on its own.
  log('airlock get…')
  const out = join(work, 'received')
  mkdirSync(out)
  const get = await timed(...airlock(['--home', B, '--json', 'get', air.itemId, '--out', out]))
  await expectSame(join(out, readdirSync(out)[0]), hash, 'airlock')
  rmSync(out, { recursive: true })
  for (const r of airRuns) {
    const [node, argv, options] = airlock(['--home', A, 'rm', r.itemId])
    spawnSync(node, argv, { ...options, stdio: 'ignore' })
  }

  const result = {
    sizeMiB,
    load,
    rounds,
    limits: {
      diskWriteSeconds: write.seconds,
      diskReadSeconds: read.seconds,
      age: {
        encryptSeconds: ageRun.enc.seconds,
        decryptSeconds: ageRun.dec.seconds,
        runs: ageRuns.map((r) => r.enc.seconds + r.dec.seconds),
      },
    },
    airlock: {
      sendSeconds: air.send.seconds,
      receiveSeconds: get.seconds,
      endToEndSeconds: air.endToEnd,
      endToEndRuns: airRuns.map((r) => r.endToEnd),
      // Peaks are the highest of every round.
      peakRssMiB: {
        server: Math.max(...airRuns.map((r) => r.serverPeak)),
        sendCli: Math.max(...airRuns.map((r) => r.send.maxRssMiB)),
        receiveCli: Math.max(...airRuns.map((r) => r.watchPeak), get.maxRssMiB),
      },
      cpuSeconds: air.cpu,
    },
    peers: {},
  }
  result.peers.wormhole = skipPeers
    ? { notMeasured: skipPeers }
    : {
        ...wormholeRun,
        ...(wormholeMeasured.length > 1 ? { runs: wormholeMeasured.map((r) => r.seconds) } : {}),
      }
  result.peers.onionshare = skipPeers
    ? { notMeasured: skipPeers }
    : await attempt(() => onionshare(peers, plain, hash))
  result.peers.plain = skipPeers
    ? { notMeasured: skipPeers }
    : await attempt(() => plainCopy(peers, plain, hash))
  rmSync(plain)
  const e2e = bytes / air.endToEnd / 1e6
  log(
    `airlock ${e2e.toFixed(0)} MB/s end to end; age ${(bytes / (ageRun.enc.seconds + ageRun.dec.seconds) / 1e6).toFixed(0)}`,
  )
  return result
}

/** The age CLI encrypting the file to a fresh key, then decrypting it, each to a file. */
async function ageOnce(plain) {
  log('age CLI encrypt and decrypt…')
  const keygen = spawnSync('age-keygen', { encoding: 'utf8' })
  const ageKey = join(work, 'age-key.txt')
  writeFileSync(ageKey, keygen.stdout, { mode: 0o600 })
  const recipient = /public key: (age1\S+)/.exec(keygen.stdout + keygen.stderr)[1]
  const enc = await timed('age', ['-e', '-r', recipient, '-o', join(work, 'age.age'), plain])
  const dec = await timed('age', ['-d', '-i', ageKey, '-o', join(work, 'age.out'), join(work, 'age.age')])
  rmSync(join(work, 'age.age'))
  rmSync(join(work, 'age.out'))
  return { enc, dec }
}

/** Disk to disk: `airlock watch` on B follows the upload while `airlock send` runs on A. */
async function airlockOnce(server, A, B, plain, hash) {
  log('airlock send, received by airlock watch…')
  const inbox = join(work, 'received')
  mkdirSync(inbox)
  const watch = await startWatch(A, B, inbox)
  server.resetPeak()
  const serverCpu = server.cpuSeconds()
  const watchCpu = watch.cpuSeconds()
  const t0 = performance.now()
  const arrived = watch.next()
  const send = await timed(...airlock(['--home', A, '--json', 'send', plain]))
  const itemId = JSON.parse(send.stdout.trim().split('\n').pop()).sent?.[0]?.itemId
  if (!itemId) throw new Error(`no item id in ${send.stdout}`)
  const received = await arrived
  const endToEnd = (performance.now() - t0) / 1000
  if (received.itemId !== itemId) throw new Error(`watch received ${received.itemId}, not ${itemId}`)
  const cpu = {
    send: send.cpuSeconds,
    server: server.cpuSeconds() - serverCpu,
    watch: watch.cpuSeconds() - watchCpu,
  }
  const serverPeak = server.peakRssMiB()
  const watchPeak = watch.peakRssMiB()
  await watch.stop()
  await expectSame(received.path, hash, 'airlock')
  rmSync(inbox, { recursive: true })
  return { itemId, send, endToEnd, cpu, serverPeak, watchPeak }
}

async function attempt(fn) {
  try {
    return await fn()
  } catch (e) {
    log(`not measured: ${e.message}`)
    return { notMeasured: e.message.split('\n')[0] }
  }
}

/** The local mailbox and transit relay for magic-wormhole, and the static server for curl. */
async function startPeers(tools) {
  const stops = []
  // Registered first, so that a peer that fails to start does not leave the others running.
  cleanup.push(async () => {
    for (const s of stops.reverse()) await s()
  })
  const p = { tools }
  if (!tools.wormhole) {
    const mailbox = await freePort()
    const transit = await freePort()
    const cwd = join(work, 'wormhole')
    mkdirSync(cwd)
    const py = '/usr/bin/python3'
    const mb = await daemon(
      py,
      ['-m', 'twisted', 'wormhole-mailbox', '--port', `tcp:${mailbox}:interface=127.0.0.1`],
      /Site starting on/,
      { cwd },
    )
    stops.push(mb.stop)
    const tr = await daemon(
      py,
      ['-m', 'twisted', 'transitrelay', '--port', `tcp:${transit}:interface=127.0.0.1`],
      /Transit starting on/,
      { cwd },
    )
    stops.push(tr.stop)
    p.wormholeArgs = [
      '--relay-url',
      `ws://127.0.0.1:${mailbox}/v1`,
      '--transit-helper',
      `tcp:127.0.0.1:${transit}`,
    ]
  }
  // The no-encryption reference: PUT writes the body to a file, GET streams it back.
  const store = join(work, 'static')
  mkdirSync(store)
  const http = createServer(async (req, res) => {
    const file = join(store, 'upload.bin')
    try {
      if (req.method === 'PUT') {
        await pipeline(req, createWriteStream(file))
        res.end('ok')
      } else {
        res.setHeader('content-length', String(statSync(file).size))
        await pipeline(createReadStream(file), res)
      }
    } catch (e) {
      res.statusCode = 500
      res.end(String(e))
    }
  })
  await new Promise((r) => http.listen(0, '127.0.0.1', r))
  p.plainUrl = `http://127.0.0.1:${http.address().port}/upload.bin`
  p.plainStore = store
  stops.push(() => new Promise((r) => http.close(r)))
  p.stop = async () => {
    for (const s of stops.splice(0).reverse()) await s()
  }
  return p
}

async function wormhole(peers, plain, hash) {
  if (peers.tools.wormhole) throw new Error(peers.tools.wormhole)
  log('magic-wormhole…')
  const code = `7-${randomBytes(6).toString('hex')}`
  const out = join(work, 'wormhole.out')
  const flags = ['--no-listen', '--hide-progress']
  const t = performance.now()
  const [, recv] = await Promise.all([
    timed('wormhole', [...peers.wormholeArgs, 'send', ...flags, '--code', code, plain]),
    timed('wormhole', [...peers.wormholeArgs, 'receive', ...flags, '--accept-file', '-o', out, code]),
  ])
  const seconds = (performance.now() - t) / 1000
  await expectSame(out, hash, 'magic-wormhole')
  rmSync(out)
  return { seconds, receiveSeconds: recv.seconds }
}

async function onionshare(peers, plain, hash) {
  if (peers.tools.onionshare) throw new Error(peers.tools.onionshare)
  log('onionshare…')
  const t = performance.now()
  const os = await daemon(
    'onionshare-cli',
    ['--local-only', '--no-autostop-sharing', '--data-dir', join(work, 'onionshare-data'), plain],
    /Give this address[^\n]*\nhttp:\/\/127\.0\.0\.1:\d+/,
    { cwd: work, timeoutMs: 600_000 },
  )
  const startupSeconds = (performance.now() - t) / 1000
  try {
    const url = parseOnionshareUrl(os.output())
    const out = join(work, 'onionshare.out')
    const name = plain.split('/').pop()
    const dl = await timed('curl', ['-sSf', '-o', out, `${url}/${name}`])
    await expectSame(out, hash, 'onionshare')
    rmSync(out)
    return { startupSeconds, downloadSeconds: dl.seconds }
  } finally {
    await os.stop()
  }
}

async function plainCopy(peers, plain, hash) {
  log('curl, no encryption…')
  const up = await timed('curl', ['-sSf', '-T', plain, peers.plainUrl])
  const out = join(work, 'curl.out')
  const down = await timed('curl', ['-sSf', '-o', out, peers.plainUrl])
  await expectSame(out, hash, 'curl')
  rmSync(out)
  rmSync(join(peers.plainStore, 'upload.bin'))
  return { uploadSeconds: up.seconds, downloadSeconds: down.seconds }
}

/** node:crypto ChaCha20-Poly1305 over 64 KiB chunks, one thread: the AEAD's ceiling here. */
function aeadLimit(sizeMiB) {
  const key = randomBytes(32)
  const chunk = randomBytes(64 * 1024)
  const n = (sizeMiB * MiB) / chunk.length
  const nonce = Buffer.alloc(12)
  const sealed = []
  let t = performance.now()
  for (let i = 0; i < n; i++) {
    nonce.writeUInt32BE(i, 7)
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
    const body = c.update(chunk)
    c.final()
    if (i < 64) sealed.push([Buffer.from(nonce), body, c.getAuthTag()])
  }
  const seal = (performance.now() - t) / 1000
  t = performance.now()
  for (let i = 0; i < n; i++) {
    const [iv, body, tag] = sealed[i % sealed.length]
    const d = createDecipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 })
    d.setAuthTag(tag)
    d.update(body)
    d.final()
  }
  const open = (performance.now() - t) / 1000
  return {
    sizeMiB,
    chunkKiB: 64,
    sealMBps: (sizeMiB * MiB) / seal / 1e6,
    openMBps: (sizeMiB * MiB) / open / 1e6,
  }
}

async function web(server) {
  log(`web app crypto worker in Chromium, ${opts.webMiB} MiB…`)
  try {
    return { ...(await browserCrypto(server.url, opts.webMiB)), sizeMiB: opts.webMiB }
  } catch (e) {
    return { notMeasured: e.message.split('\n')[0] }
  }
}

async function smallFiles(A) {
  log(`airlock send of ${opts.files} small files…`)
  const dir = join(work, 'small')
  mkdirSync(dir)
  const body = randomBytes(1024)
  for (let i = 0; i < opts.files; i++) writeFileSync(join(dir, `f${i}.txt`), body)
  const r = await timed(...airlock(['--home', A, '--json', 'send', dir]))
  const sent = JSON.parse(r.stdout.trim().split('\n').pop()).sent?.length
  if (sent !== opts.files) throw new Error(`sent ${sent} of ${opts.files} files`)
  rmSync(dir, { recursive: true })
  return { count: opts.files, bytesEach: 1024, seconds: r.seconds, peakRssMiB: r.maxRssMiB }
}

async function push() {
  const { openSqliteStore } = await import('../packages/server/dist/storage/metadata/sqlite.js')
  const dir = join(work, 'push')
  mkdirSync(dir)
  log(`seeding ${opts.devices} devices…`)
  const store = await openSqliteStore(join(dir, 'airlock.db'))
  const accounts = await seed(store, { accounts: opts.devices / 10, perAccount: 10 })
  await store.close()
  const s = await startServer(dir)
  const devices = await connectDevices([s], accounts, log)
  try {
    // Latency first, one item at a time; then what the server sustains with 16 senders at once,
    // where latency is mostly time queued behind the other senders' requests.
    const seconds = opts.quick ? 5 : 15
    const light = await devices.run({ seconds, senders: 1, log })
    const saturated = await devices.run({ seconds, senders: 16, log })
    return { ...light, saturated }
  } finally {
    devices.close()
    await s.stop()
  }
}

/**
 * From spawning the server on a fresh data directory to its first answered request; the median
 * of five starts, since one start on a shared machine says little.
 */
async function startup() {
  const runs = []
  for (let i = 0; i < 5; i++) {
    const t = performance.now()
    const s = await startServer(join(work, `startup-${i}`))
    try {
      for (;;) {
        const ok = await fetch(`${s.url}/healthz`)
          .then((r) => r.ok)
          .catch(() => false)
        if (ok) break
        await new Promise((r) => setTimeout(r, 5))
      }
      runs.push((performance.now() - t) / 1000)
    } finally {
      await s.stop()
    }
  }
  runs.sort((a, b) => a - b)
  return {
    seconds: runs[2],
    runs,
    what: 'node packages/server/dist/bin.js (what npm start runs after its build)',
  }
}

function writeRandom(path, mib) {
  const hash = createHash('sha256')
  const fd = openSync(path, 'w')
  const buf = Buffer.allocUnsafe(MiB)
  for (let i = 0; i < mib; i++) {
    randomFillSync(buf)
    hash.update(buf)
    writeSync(fd, buf)
  }
  fsyncSync(fd)
  closeSync(fd)
  return hash.digest('hex')
}

async function expectSame(path, want, who) {
  const h = createHash('sha256')
  await pipeline(createReadStream(path), h)
  if (h.digest('hex') !== want) throw new Error(`${who}: the received file differs`)
}

async function setupDevices(server, A, B) {
  const run = (home, argv, env = {}, input) => timed(...airlock(['--home', home, ...argv], { env, input }))
  await run(
    A,
    ['setup', server.url, '--username', 'bench', '--name', 'a', '--recovery-out', join(work, 'rec.txt')],
    {
      AIRLOCK_CODE: server.setupCode,
    },
  )
  const [node, argv, linkOptions] = airlock(['--home', B, '--json', 'link', server.url, '--name', 'b'])
  const link = await daemon(node, argv, /"code":"(\d{4}-\d{4}-\d{4})"/, linkOptions)
  const done = new Promise((r) => link.child.once('exit', r))
  await run(A, ['devices', 'approve'], {}, `${link.match[1]}\ny\n`)
  if ((await done) !== 0) throw new Error(`link failed: ${link.output()}`)
}

/** `airlock watch` on B, connected (a note from A has arrived), with its next received item. */
async function startWatch(A, B, inbox) {
  const [node, argv, options] = airlock(['--home', B, '--json', 'watch', '--dir', inbox])
  const child = spawn(node, argv, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise((r) => child.once('exit', r))
  const events = []
  let wake = () => {}
  let buffered = ''
  child.stdout.on('data', (d) => {
    buffered += d
    const lines = buffered.split('\n')
    buffered = lines.pop()
    for (const l of lines) if (l.startsWith('{')) events.push(JSON.parse(l))
    wake()
  })
  child.stderr.resume()
  const next = async () => {
    const seen = events.length
    for (;;) {
      const e = events.slice(seen).find((x) => x.event === 'received' || x.event === 'refused')
      if (e?.event === 'refused') throw new Error(`airlock watch refused ${e.itemId}: ${e.message}`)
      if (e) return e
      if (child.exitCode !== null) throw new Error('airlock watch exited')
      await new Promise((r) => {
        wake = r
      })
    }
  }
  const ready = next()
  await timed(...airlock(['--home', A, 'note', 'bench: watch is connected']))
  await ready
  return {
    next,
    cpuSeconds: () => procCpuSeconds(child.pid),
    peakRssMiB: () => procPeakRssMiB(child.pid),
    stop: async () => {
      child.kill('SIGTERM')
      await exited
    },
  }
}

/** CPU seconds (user + system) a live process has used, from /proc. */
function procCpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** VmHWM, the kernel's record of a process's peak resident set. */
function procPeakRssMiB(pid) {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
}

async function startServer(dataDir) {
  const s = await daemon(
    process.execPath,
    [...SERVER_NODE.options, SERVER, '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
    /listening on (http:\/\/\S+)/,
    { env: SERVER_NODE.env },
  )
  return {
    url: s.match[1],
    setupCode: /setup-code: (\S+)/.exec(s.output())?.[1],
    // VmHWM is the kernel's record of the peak resident set; writing 5 to clear_refs resets it.
    peakRssMiB: () => procPeakRssMiB(s.child.pid),
    cpuSeconds: () => procCpuSeconds(s.child.pid),
    resetPeak: () => writeFileSync(`/proc/${s.child.pid}/clear_refs`, '5'),
    stop: s.stop,
  }
}
