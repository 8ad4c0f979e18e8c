// The bench's parsing and arithmetic on a tiny file, so `npm run bench` cannot rot unnoticed
// between the (slow, manual) runs: real child processes under GNU time, then the ratios, the
// Markdown table and the SVG chart computed from what they reported.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, nodeCommand, timed } from './lib/proc.mjs'
import {
  chartSeries,
  deriveSize,
  markdown,
  medianRun,
  parseArgs,
  parseGnuTime,
  parseOnionshareUrl,
  parseTwistedPort,
  percentile,
  replaceReadmeSection,
  svgChart,
} from './lib/report.mjs'

const MiB = 1024 * 1024
const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const machine = {
  cpu: 'Test CPU',
  cores: 2,
  memGiB: 4,
  os: 'Debian',
  node: 'v20',
  loadBefore: [1, 2, 3],
  loadAfter: [1.5, 2, 3],
}

/** One size's raw figures with round numbers, so every derived value is known exactly. */
const raw = (over = {}) => ({
  sizeMiB: 1,
  load: 0.5,
  limits: {
    diskWriteSeconds: 0.25,
    diskReadSeconds: 0.125,
    age: { encryptSeconds: 0.5, decryptSeconds: 0.5 },
  },
  airlock: {
    sendSeconds: 1,
    receiveSeconds: 1,
    peakRssMiB: { server: 120, sendCli: 140, receiveCli: 130 },
  },
  peers: {
    wormhole: { seconds: 4 },
    onionshare: { startupSeconds: 1.5, downloadSeconds: 0.5 },
    plain: { uploadSeconds: 0.25, downloadSeconds: 0.75 },
  },
  ...over,
})

describe('measuring a tiny file', () => {
  it('times a real child under GNU time and reads back its output and peak RSS', async () => {
    const file = join(dir, 'tiny.bin')
    writeFileSync(file, Buffer.alloc(4096, 7))
    const r = await timed('cat', [file])
    expect(r.stdout.length).toBe(4096)
    expect(r.seconds).toBeGreaterThan(0)
    expect(r.seconds).toBeLessThan(30)
    expect(r.maxRssMiB).toBeGreaterThan(0.1)
    expect(r.maxRssMiB).toBeLessThan(100)
    await expect(timed('cat', [join(dir, 'missing')])).rejects.toThrow(/exited 1/)
  })

  it('computes the ratios of figures measured on the tiny file', async () => {
    const file = join(dir, 'one-mib.bin')
    writeFileSync(file, Buffer.alloc(MiB, 1))
    const a = await timed('cp', [file, join(dir, 'a.bin')])
    const b = await timed('cp', [file, join(dir, 'b.bin')])
    const d = deriveSize(
      raw({ airlock: { sendSeconds: a.seconds, receiveSeconds: b.seconds, peakRssMiB: {} } }),
    )
    expect(d.ratios.overAge).toBeCloseTo(1 / (a.seconds + b.seconds), 10)
    expect(d.airlock.endToEndMBps).toBeCloseTo(MiB / (a.seconds + b.seconds) / 1e6, 10)
    // A receiver that followed the upload: end to end is its own measurement, not a sum.
    const live = deriveSize(
      raw({
        airlock: {
          sendSeconds: a.seconds,
          receiveSeconds: b.seconds,
          endToEndSeconds: a.seconds,
          peakRssMiB: {},
        },
      }),
    )
    expect(live.ratios.overAge).toBeCloseTo(1 / a.seconds, 10)
    expect(live.ratios.overWormhole).toBeCloseTo(4 / a.seconds, 10)
  })

  it('finds a free loopback port', async () => {
    const port = await freePort()
    expect(port).toBeGreaterThan(1023)
    expect(port).toBeLessThan(65536)
  })
})

describe('parsing', () => {
  it("reads GNU time's last line, after whatever the command wrote to stderr", () => {
    expect(parseGnuTime('1.50 20480\n')).toEqual({ seconds: 1.5, maxRssMiB: 20 })
    expect(parseGnuTime('1.50 20480 0.75 0.25\n')).toEqual({ seconds: 1.5, maxRssMiB: 20, cpuSeconds: 1 })
    expect(parseGnuTime('Command exited with non-zero status 1\n0.00 1024')).toEqual({
      seconds: 0,
      maxRssMiB: 1,
    })
    expect(() => parseGnuTime('')).toThrow(/not GNU time/)
    expect(() => parseGnuTime('1.5s 20M')).toThrow(/not GNU time/)
  })

  it("reads onionshare's loopback address and a twisted service's port", () => {
    const os = [
      ' * Running on http://127.0.0.1:17606',
      'Press CTRL+C to quit',
      'Give this address and private key to the recipient:',
      'http://127.0.0.1:17606',
      'Private key: E2GOT5LTUTP3OAMRCRXO4GSH6VKJEUOXZQUC336SRKAHTTT5OVSA',
    ].join('\n')
    expect(parseOnionshareUrl(os)).toBe('http://127.0.0.1:17606')
    expect(parseOnionshareUrl(' * Running on http://127.0.0.1:17606')).toBeNull()
    expect(parseTwistedPort('"Transit starting on 4001"')).toBe(4001)
    expect(parseTwistedPort('Starting reactor...')).toBeNull()
  })

  it('picks the median run, the faster middle one of an even count', () => {
    const runs = [
      { s: 9, cpu: 'a' },
      { s: 4, cpu: 'b' },
      { s: 6, cpu: 'c' },
    ]
    expect(medianRun(runs, (r) => r.s).cpu).toBe('c')
    expect(medianRun([...runs, { s: 5, cpu: 'd' }], (r) => r.s).cpu).toBe('d')
    expect(medianRun([{ s: 1 }], (r) => r.s).s).toBe(1)
    expect(() => medianRun([], (r) => r.s)).toThrow(/no runs/)
  })

  it('takes the options, with the quick and full defaults', () => {
    const full = parseArgs([])
    expect(full.sizesMiB).toEqual([256, 1024, 4096])
    expect(full.devices).toBe(1000)
    expect(full.files).toBe(10000)
    expect(parseArgs(['--quick']).files).toBe(100)
    expect(full.rounds).toBe(3)
    expect(parseArgs(['--quick']).rounds).toBe(1)
    expect(parseArgs(['--rounds', '5']).rounds).toBe(5)
    expect(() => parseArgs(['--rounds', '0'])).toThrow(/positive/)
    const quick = parseArgs(['--quick', '--skip', 'peers,web'])
    expect(quick.sizesMiB).toEqual([32, 128])
    expect([...quick.skip]).toEqual(['peers', 'web'])
    expect(parseArgs(['--sizes', '16,32']).sizesMiB).toEqual([16, 32])
    expect(() => parseArgs(['--sizes', '0'])).toThrow(/positive/)
    expect(() => parseArgs(['--sizes'])).toThrow(/needs a value/)
    expect(() => parseArgs(['--fast'])).toThrow(/unknown option/)
  })

  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(xs, 50)).toBe(50)
    expect(percentile(xs, 99)).toBe(99)
    expect(percentile([7], 99)).toBe(7)
    expect(percentile([], 50)).toBeNaN()
  })
})

describe('ratios', () => {
  it('divides Airlock by each reference for the same bytes (above 1: Airlock is faster)', () => {
    const d = deriveSize(raw())
    const mb = MiB / 1e6
    expect(d.diskWriteMBps).toBeCloseTo(mb * 4, 10)
    expect(d.diskReadMBps).toBeCloseTo(mb * 8, 10)
    expect(d.age).toEqual({ encryptMBps: mb * 2, decryptMBps: mb * 2, endToEndMBps: mb })
    expect(d.airlock.sendMBps).toBeCloseTo(mb, 10)
    expect(d.airlock.endToEndMBps).toBeCloseTo(mb / 2, 10)
    expect(d.ratios).toEqual({ overAge: 0.5, overWormhole: 2, overOnionshare: 1, overPlain: 0.5 })
    expect(d.peers.onionshare).toEqual({ MBps: mb / 2, downloadMBps: mb * 2, startupSeconds: 1.5 })
    expect(d.peers.plain.uploadMBps).toBeCloseTo(mb * 4, 10)
  })

  it('leaves out a peer that was not measured', () => {
    const d = deriveSize(raw({ peers: { wormhole: { notMeasured: 'no transit relay' } } }))
    expect(d.ratios).toEqual({ overAge: 0.5 })
    expect(d.peers).toEqual({})
  })
})

describe('the Markdown table and the chart', () => {
  const results = {
    date: '2026-01-01T00:00:00.000Z',
    quick: true,
    command: 'node bench/run.mjs --quick',
    machine,
    sizes: [
      raw(),
      raw({
        sizeMiB: 1024,
        peers: { ...raw().peers, wormhole: { notMeasured: 'wormhole <failed> & gone' } },
      }),
    ],
    aead: { sealMBps: 1000, openMBps: 1100 },
    web: { notMeasured: 'no Chromium' },
    smallFiles: { count: 100, seconds: 4 },
    push: {
      devices: 1000,
      senders: 1,
      p50: 12.34,
      p99: 45.6,
      delivered: 10,
      expected: 10,
      itemsPerSecond: 5,
      saturated: {
        devices: 1000,
        senders: 16,
        p50: 300,
        p99: 900,
        delivered: 20,
        expected: 20,
        itemsPerSecond: 60,
      },
    },
    startup: { seconds: 0.75, runs: [0.5, 0.75, 2] },
  }

  it('lists the ratios, every figure, and why a peer was not measured', () => {
    const md = markdown(results)
    expect(md).toContain('| 1 MiB | 0.50 | 2.00 | 1.00 | 0.50 |')
    expect(md).toContain('| 1 GiB | 0.50 | — | 1.00 | 0.50 |')
    expect(md).toContain('not measured: wormhole <failed> & gone')
    expect(md).toContain('| web app in Chromium | not measured: no Chromium |')
    expect(md).toContain('25 files/s (4.0 s)')
    expect(md).toContain(
      '1000 devices connected, 1 sender (5 items/s) | p50 12.3 ms, p99 45.6 ms (10/10 delivered)',
    )
    expect(md).toContain(
      '16 senders (60 items/s) | 60 items/s; push p50 300.0 ms, p99 900.0 ms (20/20 delivered)',
    )
    expect(md).toContain('first request served, median of 3 | 0.75 s |')
    expect(md).toContain('| 120 MiB |')
    expect(md).toContain(
      '| 1 MiB | 0.5 | 4 / 8 | 2 / 2 / 1 | 1 / 1 / **1** | 120 / 140 / 130 | 0 | 1.5 / 2 / 1 | 4 / 1 / 1 |',
    )
    expect(md).toContain(
      'Load average 1.00 2.00 3.00 at the start, 1.50 2.00 3.00 at the end; command `node bench/run.mjs --quick`.',
    )
  })

  it('draws one bar per measured figure, scaled to the largest, with escaped names', () => {
    const { sizes, series } = chartSeries(results)
    expect(sizes).toEqual([1, 1024])
    expect(series.map((s) => s.name)).toEqual([
      'Airlock, disk to disk',
      'age CLI, encrypt + decrypt',
      'magic-wormhole',
      'onionshare, start-up + download',
      'curl, no encryption',
    ])
    const svg = svgChart(results)
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg.trim().endsWith('</svg>')).toBe(true)
    // 9 bars (wormhole is missing at 1 GiB) + 5 legend swatches + the background.
    expect(svg.match(/<rect /g)).toHaveLength(9 + 5 + 1)
    const heights = [...svg.matchAll(/height="([\d.]+)" fill="#1f6feb"><title>/g)].map((m) => Number(m[1]))
    const ages = [...svg.matchAll(/height="([\d.]+)" fill="#8250df"><title>/g)].map((m) => Number(m[1]))
    // Airlock runs at half the age CLI's throughput in these figures (the 1 GiB group sets the scale).
    expect(heights[1] / ages[1]).toBeCloseTo(0.5, 2)
    expect(svg).not.toMatch(/<failed>/)
  })
})

describe('the way the bench runs our binaries', () => {
  it('is read from their first line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-opts-'))
    try {
      const bin = join(dir, 'bin.js')
      writeFileSync(bin, '#!/usr/bin/env -S node --max-semi-space-size=4 --initial-old-space-size=40\n// x\n')
      expect(nodeCommand(bin)).toEqual({
        env: {},
        options: ['--max-semi-space-size=4', '--initial-old-space-size=40'],
      })
      writeFileSync(bin, '#!/usr/bin/env -S A_B=x=1:y=2 C=3 node --max-semi-space-size=1\n')
      expect(nodeCommand(bin)).toEqual({
        env: { A_B: 'x=1:y=2', C: '3' },
        options: ['--max-semi-space-size=1'],
      })
      writeFileSync(bin, '#!/usr/bin/env node\n')
      expect(nodeCommand(bin)).toEqual({ env: {}, options: [] })
      writeFileSync(bin, 'import x from "y"\n')
      expect(() => nodeCommand(bin)).toThrow(/unexpected first line/)
      writeFileSync(bin, '#!/usr/bin/env -S node --inspect\n')
      expect(() => nodeCommand(bin)).toThrow(/unexpected first line/)
    } finally {
      rmSync(dir, { recursive: true })
    }
  })
  it('matches the built airlock-server and airlock, which run as their first line says', () => {
    const server = nodeCommand(new URL('../packages/server/dist/bin.js', import.meta.url).pathname)
    expect(server.options).toContain('--max-semi-space-size=1')
    expect(server.env.GLIBC_TUNABLES).toMatch(/trim_threshold=/)
    const cli = new URL('../packages/cli/dist/airlock.js', import.meta.url).pathname
    const { env, options } = nodeCommand(cli)
    expect(env.GLIBC_TUNABLES).toMatch(/trim_threshold=/)
    // The line itself works as the kernel runs it (the rest of the line is env's one argument):
    // env -S sets the variable and starts node.
    const rest = readFileSync(cli, 'utf8').split('\n', 1)[0].slice('#!/usr/bin/env '.length)
    const r = spawnSync('/usr/bin/env', [rest, '-e', 'console.log(process.env.GLIBC_TUNABLES)'], {
      encoding: 'utf8',
    })
    expect(r.stdout.trim()).toBe(env.GLIBC_TUNABLES)
    expect(options).toEqual([])
  })
})

describe('the README section', () => {
  it('replaces only what lies between the markers', () => {
    const readme = '# A\n\n## Performance\n<!-- bench:start -->\nold\n<!-- bench:end -->\n\n## Next\n'
    expect(replaceReadmeSection(readme, '| new |\n')).toBe(
      '# A\n\n## Performance\n<!-- bench:start -->\n| new |\n<!-- bench:end -->\n\n## Next\n',
    )
    expect(() => replaceReadmeSection('# A\n', 'x')).toThrow(/markers/)
  })
})
