// End-to-end benchmark: one file from device A to device B through the real server on loopback,
// next to the age CLI encrypting and decrypting the same file in the same run.
// usage: npm run bench [-- --quick] [-- --size-mib N]
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomFillSync } from 'node:crypto'
import {
  closeSync,
  createReadStream,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { browserCrypto, nodeAead, nodeCrypto } from './browser.mjs'

const ROOT = new URL('..', import.meta.url).pathname
const SERVER = join(ROOT, 'packages/server/dist/bin.js')
const CLI = join(ROOT, 'packages/cli/dist/bin.js')
const SERVER_NODE_OPTIONS = ['--max-semi-space-size=2']
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const sizeArg = args.indexOf('--size-mib')
const sizeMiB = sizeArg >= 0 ? Number(args[sizeArg + 1]) : quick ? 256 : 1024
const bytes = sizeMiB * 1024 * 1024
const work = mkdtempSync(join(tmpdir(), 'airlock-bench-'))
const log = (s) => process.stderr.write(`${s}\n`)

let server
try {
  log(`writing a ${sizeMiB} MiB random file…`)
  const plain = join(work, 'plain.bin')
  const plainHash = writeRandom(plain, sizeMiB)

  // The age CLI, file to file, as the reference.
  const keygen = spawnSync('age-keygen', { encoding: 'utf8' })
  const ageKey = join(work, 'age-key.txt')
  writeFileSync(ageKey, keygen.stdout, { mode: 0o600 })
  const ageRecipient = /public key: (age1\S+)/.exec(keygen.stdout + keygen.stderr)[1]
  log('age CLI encrypt and decrypt…')
  const ageEnc = timed('age', ['-e', '-r', ageRecipient, '-o', join(work, 'age.age'), plain])
  const ageDec = timed('age', ['-d', '-i', ageKey, '-o', join(work, 'age.out'), join(work, 'age.age')])
  rmSync(join(work, 'age.age'))
  rmSync(join(work, 'age.out'))

  server = await startServer(join(work, 'server'))
  const A = join(work, 'device-a')
  const B = join(work, 'device-b')
  log('setting up device A and linking device B…')
  run(
    A,
    ['setup', server.url, '--username', 'bench', '--name', 'a', '--recovery-out', join(work, 'recovery.txt')],
    {
      AIRLOCK_CODE: server.setupCode,
    },
  )
  await link(A, B, server.url)

  log('airlock send…')
  const send = timed(process.execPath, [CLI, '--home', A, '--json', 'send', plain])
  const sent = JSON.parse(send.stdout.trim().split('\n').pop())
  const itemId = sent.sent?.[0]?.itemId
  if (!itemId) throw new Error(`no item id in ${send.stdout}`)
  log('airlock get…')
  const out = join(work, 'received')
  mkdirSync(out)
  const get = timed(process.execPath, [CLI, '--home', B, '--json', 'get', itemId, '--out', out])
  const files = readdirSync(out)
  if (files.length !== 1 || (await sha256(join(out, files[0]))) !== plainHash)
    throw new Error('received file differs')
  const serverPeak = server.peakRssMiB()

  // The web app's crypto worker in Chromium, and core in Node on the same size, same run.
  const cryptoMiB = Math.min(256, sizeMiB)
  log(`browser and Node crypto, ${cryptoMiB} MiB…`)
  const web = await browserCrypto(server.url, cryptoMiB)
  const nodeJs = await nodeCrypto(cryptoMiB)
  const nodeFast = await nodeCrypto(cryptoMiB, nodeAead)

  const ageTotal = ageEnc.seconds + ageDec.seconds
  const airTotal = send.seconds + get.seconds
  const results = {
    date: new Date().toISOString(),
    sizeMiB,
    node: process.version,
    age: { encryptSeconds: ageEnc.seconds, decryptSeconds: ageDec.seconds },
    airlock: {
      sendSeconds: send.seconds,
      receiveSeconds: get.seconds,
      sendMBps: bytes / send.seconds / 1e6,
      receiveMBps: bytes / get.seconds / 1e6,
      endToEndMBps: bytes / airTotal / 1e6,
      peakRssMiB: { server: serverPeak, sendCli: send.maxRssMiB, receiveCli: get.maxRssMiB },
    },
    ratioAgeOverAirlock: ageTotal / airTotal,
    crypto: { sizeMiB: cryptoMiB, browser: web, nodeSameAead: nodeJs, nodeFastPath: nodeFast },
  }
  const mbps = (r) => `${r.encryptMBps.toFixed(0)} | ${r.decryptMBps.toFixed(0)}`
  const table = [
    `Airlock end to end, ${sizeMiB} MiB file, loopback (${results.date}, Node ${process.version})`,
    '',
    '| what | seconds | MB/s | peak RSS MiB |',
    '|---|---:|---:|---:|',
    `| age CLI encrypt (file to file) | ${ageEnc.seconds.toFixed(2)} | ${(bytes / ageEnc.seconds / 1e6).toFixed(0)} | ${ageEnc.maxRssMiB.toFixed(0)} |`,
    `| age CLI decrypt (file to file) | ${ageDec.seconds.toFixed(2)} | ${(bytes / ageDec.seconds / 1e6).toFixed(0)} | ${ageDec.maxRssMiB.toFixed(0)} |`,
    `| airlock send (A → server) | ${send.seconds.toFixed(2)} | ${results.airlock.sendMBps.toFixed(0)} | ${send.maxRssMiB.toFixed(0)} |`,
    `| airlock get (server → B, verified) | ${get.seconds.toFixed(2)} | ${results.airlock.receiveMBps.toFixed(0)} | ${get.maxRssMiB.toFixed(0)} |`,
    `| server (whole run) | | | ${serverPeak.toFixed(0)} |`,
    '',
    `| age encrypt / decrypt in memory, ${cryptoMiB} MiB | encrypt MB/s | decrypt MB/s |`,
    '|---|---:|---:|',
    `| web app worker in Chromium (JavaScript ChaCha20-Poly1305) | ${mbps(web)} |`,
    `| core in Node, same JavaScript AEAD | ${mbps(nodeJs)} |`,
    `| core in Node, node:crypto AEAD (CLI path) | ${mbps(nodeFast)} |`,
    `| ratio browser ÷ Node (same AEAD) | ${(web.encryptMBps / nodeJs.encryptMBps).toFixed(2)} | ${(web.decryptMBps / nodeJs.decryptMBps).toFixed(2)} |`,
    '',
    `ratio (age encrypt + decrypt time) ÷ (Airlock send + receive time): ${results.ratioAgeOverAirlock.toFixed(2)} (target ≥ 0.5)`,
    `targets: server RSS < 150 MB (${serverPeak < 143 ? 'met' : 'NOT met'}), CLI RSS < 200 MB (${Math.max(send.maxRssMiB, get.maxRssMiB) < 190 ? 'met' : 'NOT met'})`,
  ].join('\n')
  console.log(table)
  const stamp = results.date.replace(/[:]/g, '-').slice(0, 19)
  writeFileSync(join(ROOT, 'bench/results', `${stamp}.json`), `${JSON.stringify(results, null, 2)}\n`)
  writeFileSync(join(ROOT, 'bench/results', `${stamp}.md`), `${table}\n`)
} finally {
  await server?.stop()
  rmSync(work, { recursive: true, force: true })
}

function writeRandom(path, mib) {
  const hash = createHash('sha256')
  const fd = openSync(path, 'w')
  const buf = Buffer.allocUnsafe(1 << 20)
  for (let i = 0; i < mib; i++) {
    randomFillSync(buf)
    hash.update(buf)
    writeSync(fd, buf)
  }
  closeSync(fd)
  return hash.digest('hex')
}

function sha256(path) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject)
  })
}

/** Runs a command under GNU time for its wall time and peak RSS. */
function timed(cmd, argv) {
  const rss = join(work, 'rss.txt')
  const start = performance.now()
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rss, cmd, ...argv], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  })
  const seconds = (performance.now() - start) / 1000
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed:\n${r.stderr}`)
  return {
    seconds,
    maxRssMiB: Number(readFileSync(rss, 'utf8').trim().split('\n').pop()) / 1024,
    stdout: r.stdout,
  }
}

function run(home, argv, env = {}, input = '') {
  const r = spawnSync(process.execPath, [CLI, '--home', home, ...argv], {
    encoding: 'utf8',
    input,
    env: { ...process.env, ...env },
  })
  if (r.status !== 0) throw new Error(`airlock ${argv.join(' ')} failed:\n${r.stderr}`)
  return r.stdout
}

async function link(existing, fresh, url) {
  const proc = spawn(process.execPath, [CLI, '--home', fresh, '--json', 'link', url, '--name', 'b'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout.on('data', (d) => {
    out += d
  })
  const done = new Promise((r) => proc.once('close', r))
  const code = await new Promise((resolve, reject) => {
    const t = setInterval(() => {
      const m = /"code":"(\d{4}-\d{4}-\d{4})"/.exec(out)
      if (m) {
        clearInterval(t)
        resolve(m[1])
      }
    }, 50)
    proc.once('close', () => reject(new Error(`link exited: ${out}`)))
  })
  run(existing, ['devices', 'approve'], {}, `${code}\ny\n`)
  if ((await done) !== 0) throw new Error(`link failed: ${out}`)
}

async function startServer(dataDir) {
  const proc = spawn(
    process.execPath,
    // The same V8 options as `npm start` (see package.json).
    [...SERVER_NODE_OPTIONS, SERVER, '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  let out = ''
  proc.stdout.on('data', (d) => {
    out += d
  })
  const url = await new Promise((resolve, reject) => {
    const t = setInterval(() => {
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearInterval(t)
        resolve(m[1])
      }
    }, 50)
    proc.once('exit', () => reject(new Error(`server exited: ${out}`)))
  })
  const exited = new Promise((r) => proc.once('exit', r))
  return {
    url,
    setupCode: /setup-code: (\S+)/.exec(out)[1],
    // VmHWM is the kernel's record of the process's peak resident set.
    peakRssMiB: () =>
      Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))[1]) / 1024,
    async stop() {
      proc.kill('SIGTERM')
      await exited
    },
  }
}
