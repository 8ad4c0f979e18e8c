// Core micro-benchmark: age encryption and decryption of one file, streamed to /dev/null, by
// Airlock's Node path, Airlock's portable path and the age CLI, measured in the same run.
// usage: npm run bench -w packages/core [-- --size-mib 1024]
import { execFileSync, spawnSync } from 'node:child_process'
import { createCipheriv, randomFillSync } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateX25519Identity, identityToRecipient } from 'age-encryption'

const args = process.argv.slice(2)
const sizeMiB = Number(args[args.indexOf('--size-mib') + 1] || 1024) || 1024
const portableMiB = Math.min(sizeMiB, 64)
const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-'))
const here = new URL('.', import.meta.url).pathname

try {
  const plain = join(dir, 'plain')
  writeRandom(plain, sizeMiB)
  const small = join(dir, 'small')
  writeRandom(small, portableMiB)
  const identity = await generateX25519Identity()
  const recipient = await identityToRecipient(identity)
  const keyFile = join(dir, 'key')
  const fd = openSync(keyFile, 'w', 0o600)
  writeSync(fd, `${identity}\n`)
  closeSync(fd)
  const ctAge = join(dir, 'ct-age')
  const ctAirlock = join(dir, 'ct-airlock')
  execFileSync('age', ['-e', '-r', recipient, '-o', ctAge, plain])

  const rows = []
  const bytes = sizeMiB * 1024 * 1024
  rows.push([
    'node:crypto ChaCha20-Poly1305, 64 KiB chunks (limit)',
    'seal',
    bytes / chachaLimit(bytes),
    null,
  ])
  const ageEnc = timeCommand('age', ['-e', '-r', recipient, '-o', '/dev/null', plain])
  const ageDec = timeCommand('age', ['-d', '-i', keyFile, '-o', '/dev/null', ctAge])
  rows.push(['age CLI', 'encrypt', bytes / ageEnc.seconds, ageEnc.maxRssMiB])
  rows.push(['age CLI', 'decrypt', bytes / ageDec.seconds, ageDec.maxRssMiB])
  const enc = op('encrypt', plain, '/dev/null', recipient)
  op('encrypt', plain, ctAirlock, recipient)
  const dec = op('decrypt', ctAirlock, '/dev/null', identity)
  rows.push(['Airlock, Node path', 'encrypt', bytes / enc.seconds, enc.maxRssMiB])
  rows.push(['Airlock, Node path', 'decrypt', bytes / dec.seconds, dec.maxRssMiB])
  const pEnc = op('encrypt', small, '/dev/null', recipient, 'portable')
  rows.push([
    `Airlock, portable path (${portableMiB} MiB)`,
    'encrypt',
    (portableMiB << 20) / pEnc.seconds,
    pEnc.maxRssMiB,
  ])

  console.log(`\nage streaming, ${sizeMiB} MiB file to /dev/null (${new Date().toISOString()})\n`)
  console.log('| implementation | operation | MB/s | peak RSS MiB |')
  console.log('|---|---|---:|---:|')
  for (const [name, what, rate, rss] of rows) {
    console.log(`| ${name} | ${what} | ${(rate / 1e6).toFixed(0)} | ${rss === null ? '' : rss.toFixed(0)} |`)
  }
  const encRatio = ageEnc.seconds / enc.seconds
  const decRatio = ageDec.seconds / dec.seconds
  console.log(
    `\nratio Airlock ÷ age CLI (throughput): encrypt ${encRatio.toFixed(2)}×, decrypt ${decRatio.toFixed(2)}× (target ≥ 0.8×)`,
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}

function writeRandom(path, mib) {
  const fd = openSync(path, 'w')
  const buf = Buffer.allocUnsafe(1 << 20)
  for (let i = 0; i < mib; i++) writeSync(fd, randomFillSync(buf))
  closeSync(fd)
  if (statSync(path).size !== mib << 20) throw new Error('short write')
}

function op(kind, input, output, key, portable = '') {
  const r = spawnSync(process.execPath, [join(here, 'age-op.mjs'), kind, input, output, key, portable], {
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(`${kind} failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

function timeCommand(cmd, argv) {
  const start = performance.now()
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...argv], { encoding: 'utf8' })
  const seconds = (performance.now() - start) / 1000
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`)
  return { seconds, maxRssMiB: Number(r.stderr.trim().split('\n').pop()) / 1024 }
}

function chachaLimit(total) {
  const key = Buffer.alloc(32)
  const nonce = Buffer.alloc(12)
  const chunk = Buffer.alloc(65536)
  const start = performance.now()
  for (let done = 0; done < total; done += chunk.length) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
    c.update(chunk)
    c.final()
    c.getAuthTag()
  }
  return (performance.now() - start) / 1000
}
