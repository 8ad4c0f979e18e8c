// scratch: live transfer timing
import { spawnSync } from 'node:child_process'
import { createHash, randomFillSync } from 'node:crypto'
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { daemon, timed } from './lib/proc.mjs'

const ROOT = new URL('..', import.meta.url).pathname
const SERVER = join(ROOT, 'packages/server/dist/bin.js')
const CLI = join(ROOT, 'packages/cli/dist/bin.js')
const P = process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []
const work = mkdtempSync(join(tmpdir(), 'exp-'))
const mib = Number(process.argv[2] ?? 1024)
const s = await daemon(
  process.execPath,
  [
    ...P,
    ...(process.env.SRVFLAGS ?? '--max-semi-space-size=2').split(' ').filter(Boolean),
    SERVER,
    '--port',
    '0',
    '--data-dir',
    join(work, 'srv'),
    '--log-level',
    'warn',
  ],
  /listening on (http:\/\/\S+)/,
)
const url = s.match[1]
const gc = { scav: 0, mark: 0, ms: 0 }
s.child.stdout.on('data', (d) => {
  for (const l of String(d).split('\n')) {
    const m = /(Scavenge|Mark-Compact|Mark-sweep)[^,]*, ([\d.]+) \/ ([\d.]+) ms/.exec(l)
    if (m) {
      if (m[1] === 'Scavenge') gc.scav++
      else gc.mark++
      gc.ms += Number(m[2])
    }
    if (/Mark/.test(l) && gc.mark < 3) console.log(l.slice(0, 200))
  }
})
const code = /setup-code: (\S+)/.exec(s.output())?.[1]
const A = join(work, 'a'),
  B = join(work, 'b')
await timed(
  process.execPath,
  [CLI, '--home', A, 'setup', url, '--username', 'x', '--name', 'a', '--recovery-out', join(work, 'rec')],
  { env: { AIRLOCK_CODE: code } },
)
const link = await daemon(
  process.execPath,
  [CLI, '--home', B, '--json', 'link', url, '--name', 'b'],
  /"code":"(\d{4}-\d{4}-\d{4})"/,
)
const done = new Promise((r) => link.child.once('exit', r))
await timed(process.execPath, [CLI, '--home', A, 'devices', 'approve'], { input: `${link.match[1]}\ny\n` })
await done
const plain = join(work, 'plain.bin')
const fd = openSync(plain, 'w')
const buf = Buffer.allocUnsafe(1 << 20)
for (let i = 0; i < mib; i++) {
  randomFillSync(buf)
  writeSync(fd, buf)
}
fsyncSync(fd)
closeSync(fd)
const out = join(work, 'out')
mkdirSync(out)

import { spawn } from 'node:child_process'

const wc = spawn(
  process.execPath,
  process.env.NOWATCH
    ? ['-e', 'setTimeout(()=>{},1e9)']
    : [...P, CLI, '--home', B, '--json', 'watch', '--dir', out],
  { stdio: ['ignore', 'pipe', 'pipe'] },
)
let wout = ''
wc.stdout.on('data', (d) => {
  wout += d
})
wc.stderr.on('data', (d) => {
  wout += d
})
const w = {
  output: () => wout,
  stop: async () => {
    wc.kill('SIGTERM')
    await new Promise((r) => wc.once('exit', r))
  },
}
await new Promise((r) => setTimeout(r, 2500))

import { readFileSync } from 'node:fs'

const cpu = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}
const c0 = [cpu(s.child.pid), cpu(wc.pid)]
const t0 = performance.now()
const gotIt = new Promise((res) => {
  const iv = setInterval(() => {
    if (/"event":"received"/.test(w.output())) {
      clearInterval(iv)
      res(performance.now())
    }
  }, 20)
})
const send = await timed(process.execPath, [...P, CLI, '--home', A, '--json', 'send', plain])
const t1 = performance.now()
const t2 = process.env.NOWATCH ? t1 : await gotIt
const c1 = [cpu(s.child.pid), cpu(wc.pid)]
console.log(
  `cpu: server ${(c1[0] - c0[0]).toFixed(1)} s, watch ${(c1[1] - c0[1]).toFixed(1)} s, sender ${send.cpuSeconds}`,
)
console.log(
  `server peak rss ${Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${s.child.pid}/status`, 'utf8'))[1]) / 1024} MiB; watch ${Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${wc.pid}/status`, 'utf8'))[1]) / 1024} MiB`,
)
console.log(`server gc: ${gc.scav} scavenges, ${gc.mark} mark, ${gc.ms.toFixed(0)} ms`)
console.log(
  `send ${((t1 - t0) / 1000).toFixed(2)} s, received at ${((t2 - t0) / 1000).toFixed(2)} s => e2e ${((mib * 1048576) / ((t2 - t0) / 1000) / 1e6).toFixed(0)} MB/s; send rss ${send.maxRssMiB}`,
)
console.log(w.output().slice(0, 1500))
await w.stop()
await s.stop()
rmSync(work, { recursive: true, force: true })
