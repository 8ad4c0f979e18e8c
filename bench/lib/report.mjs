// The arithmetic and the output of `npm run bench`, kept apart from the measuring so that a fast
// test can check them: parsing what the tools print, MB/s and ratios, the Markdown table and the
// SVG chart. Everything here is pure; the measuring lives in bench/run.mjs.

const MiB = 1024 * 1024

/**
 * `--quick`, `--sizes 64,256` (MiB), `--skip peers,web,…`, `--devices N`, `--files N`, `--web-mib N`,
 * `--rounds N` (runs of age, Airlock and magic-wormhole per size up to 1 GiB, the median reported).
 */
export function parseArgs(argv) {
  const value = (name) => {
    const i = argv.indexOf(name)
    if (i < 0) return undefined
    const v = argv[i + 1]
    if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`)
    return v
  }
  const known = new Set(['--quick', '--sizes', '--skip', '--devices', '--files', '--web-mib', '--rounds'])
  for (const a of argv) if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}`)
  const quick = argv.includes('--quick')
  const list = (v) => v.split(',').filter(Boolean)
  const positive = (name, v) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: not a positive integer: ${v}`)
    return n
  }
  const sizes = value('--sizes')
  return {
    quick,
    sizesMiB: sizes ? list(sizes).map((s) => positive('--sizes', s)) : quick ? [32, 128] : [256, 1024, 4096],
    skip: new Set(value('--skip') ? list(value('--skip')) : []),
    devices: positive('--devices', value('--devices') ?? (quick ? 200 : 1000)),
    files: positive('--files', value('--files') ?? (quick ? 100 : 10000)),
    webMiB: positive('--web-mib', value('--web-mib') ?? (quick ? 32 : 1024)),
    rounds: positive('--rounds', value('--rounds') ?? (quick ? 1 : 3)),
  }
}

/**
 * The run with the median `key` (of an even number, the faster of the middle two), so that its
 * other figures (CPU, memory) come from the same run as the time reported.
 */
export function medianRun(runs, key) {
  if (runs.length === 0) throw new Error('no runs')
  const sorted = [...runs].sort((a, b) => key(a) - key(b))
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

/** GNU time's `-f '%e %M'` output (the last line; the command's own stderr may come first). */
export function parseGnuTime(text) {
  const line = text.trim().split('\n').pop() ?? ''
  const m = /^(\d+(?:\.\d+)?) (\d+)(?: (\d+(?:\.\d+)?) (\d+(?:\.\d+)?))?$/.exec(line.trim())
  if (!m) throw new Error(`not GNU time output: ${JSON.stringify(line)}`)
  const out = { seconds: Number(m[1]), maxRssMiB: Number(m[2]) / 1024 }
  // `%U %S`, when asked for: the CPU seconds the process used, user and system.
  return m[3] === undefined ? out : { ...out, cpuSeconds: Number(m[3]) + Number(m[4]) }
}

/** The loopback address onionshare-cli prints once it serves (`http://127.0.0.1:PORT`). */
export function parseOnionshareUrl(text) {
  const m = /Give this address[^\n]*\n(http:\/\/127\.0\.0\.1:\d+)/.exec(text)
  return m ? m[1] : null
}

/** The port a twisted service reports (`Transit starting on 4001`, `…Site starting on 4000`). */
export function parseTwistedPort(text) {
  const m = /starting on (\d+)/.exec(text)
  return m ? Number(m[1]) : null
}

/** `p`-th percentile (nearest rank) of an ascending array; NaN when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** MB/s (10^6 bytes per second) for `bytes` moved in `seconds`. */
export const mbps = (bytes, seconds) => bytes / seconds / 1e6

const measured = (x) => x !== undefined && x !== null && x.notMeasured === undefined

/**
 * Throughputs and ratios for one file size. Every ratio is Airlock's throughput over the other's
 * for the same bytes, so above 1 means Airlock is faster:
 * - `overAge`: Airlock end to end against the age CLI's encrypt-to-file + decrypt-to-file. End to
 *   end is from the start of `airlock send` on one device to the file saved on the other by
 *   `airlock watch`, which follows the upload (`endToEndSeconds`); runs that lack it count
 *   send + receive;
 * - `overWormhole`, `overOnionshare`, `overPlain`: disk to disk against wormhole's code-to-file
 *   time, onionshare's start-up + download, and curl's upload + download without encryption.
 */
export function deriveSize(s) {
  const bytes = s.sizeMiB * MiB
  const ageSeconds = s.limits.age.encryptSeconds + s.limits.age.decryptSeconds
  const air = s.airlock
  const airSeconds = air.endToEndSeconds ?? air.sendSeconds + air.receiveSeconds
  const out = {
    sizeMiB: s.sizeMiB,
    diskWriteMBps: mbps(bytes, s.limits.diskWriteSeconds),
    diskReadMBps: mbps(bytes, s.limits.diskReadSeconds),
    age: {
      encryptMBps: mbps(bytes, s.limits.age.encryptSeconds),
      decryptMBps: mbps(bytes, s.limits.age.decryptSeconds),
      endToEndMBps: mbps(bytes, ageSeconds),
    },
    airlock: {
      sendMBps: mbps(bytes, air.sendSeconds),
      receiveMBps: mbps(bytes, air.receiveSeconds),
      endToEndMBps: mbps(bytes, airSeconds),
      peakRssMiB: air.peakRssMiB,
      ...(air.cpuSeconds ? { cpuSeconds: air.cpuSeconds } : {}),
    },
    peers: {},
    ratios: { overAge: ageSeconds / airSeconds },
  }
  const p = s.peers ?? {}
  if (measured(p.wormhole)) {
    out.peers.wormhole = { MBps: mbps(bytes, p.wormhole.seconds) }
    out.ratios.overWormhole = p.wormhole.seconds / airSeconds
  }
  if (measured(p.onionshare)) {
    const total = p.onionshare.startupSeconds + p.onionshare.downloadSeconds
    out.peers.onionshare = {
      MBps: mbps(bytes, total),
      downloadMBps: mbps(bytes, p.onionshare.downloadSeconds),
      startupSeconds: p.onionshare.startupSeconds,
    }
    out.ratios.overOnionshare = total / airSeconds
  }
  if (measured(p.plain)) {
    const total = p.plain.uploadSeconds + p.plain.downloadSeconds
    out.peers.plain = {
      MBps: mbps(bytes, total),
      uploadMBps: mbps(bytes, p.plain.uploadSeconds),
      downloadMBps: mbps(bytes, p.plain.downloadSeconds),
    }
    out.ratios.overPlain = total / airSeconds
  }
  return out
}

const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '—')
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—')
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—')
const size = (mib) => (mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`)
const why = (x) => (x?.notMeasured ? `not measured: ${x.notMeasured}` : '—')

/** The Markdown report: machine, limits, Airlock, peers, ratios, and the other figures. */
export function markdown(r) {
  const d = r.sizes.map(deriveSize)
  const m = r.machine
  const lines = [
    `## Airlock benchmark, ${r.date}${r.quick ? ' (--quick)' : ''}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, ${m.os}; Node ${m.node}. ` +
      `Load average ${m.loadBefore.map(f2).join(' ')} at the start, ${m.loadAfter.map(f2).join(' ')} at the end` +
      (r.command ? `; command \`${r.command}\`.` : '.'),
    '',
    '### Ratios (Airlock ÷ other, throughput of the same file; above 1 means Airlock is faster)',
    '',
    '| file | ÷ age CLI (target ≥ 0.5) | ÷ magic-wormhole (target > 1) | ÷ onionshare | ÷ plain curl, no encryption |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...d.map(
      (x) =>
        `| ${size(x.sizeMiB)} | ${f2(x.ratios.overAge)} | ${f2(x.ratios.overWormhole)} | ${f2(x.ratios.overOnionshare)} | ${f2(x.ratios.overPlain)} |`,
    ),
    '',
    '### Throughput, MB/s (disk to disk on loopback)',
    '',
    '| file | load avg | disk write / read | age encrypt / decrypt / both | Airlock send / receive / end to end | peak RSS MiB server / send / receive | magic-wormhole | onionshare start-up s / download / both | curl up / down / both |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...d.map((x, i) => {
      const p = x.peers
      const raw = r.sizes[i].peers ?? {}
      const rss = x.airlock.peakRssMiB
      return [
        `| ${size(x.sizeMiB)}`,
        f1(r.sizes[i].load),
        `${f0(x.diskWriteMBps)} / ${f0(x.diskReadMBps)}`,
        `${f0(x.age.encryptMBps)} / ${f0(x.age.decryptMBps)} / ${f0(x.age.endToEndMBps)}`,
        `${f0(x.airlock.sendMBps)} / ${f0(x.airlock.receiveMBps)} / **${f0(x.airlock.endToEndMBps)}**`,
        `${f0(rss.server)} / ${f0(rss.sendCli)} / ${f0(rss.receiveCli)}`,
        p.wormhole ? f0(p.wormhole.MBps) : why(raw.wormhole),
        p.onionshare
          ? `${f1(p.onionshare.startupSeconds)} / ${f0(p.onionshare.downloadMBps)} / ${f0(p.onionshare.MBps)}`
          : why(raw.onionshare),
        p.plain
          ? `${f0(p.plain.uploadMBps)} / ${f0(p.plain.downloadMBps)} / ${f0(p.plain.MBps)} |`
          : `${why(raw.plain)} |`,
      ].join(' | ')
    }),
    '',
    '### Other figures',
    '',
    '| what | result | target |',
    '| --- | --- | --- |',
    `| node:crypto ChaCha20-Poly1305, 64 KiB chunks, one thread | ${r.aead ? `${f0(r.aead.sealMBps)} MB/s seal, ${f0(r.aead.openMBps)} MB/s open` : '—'} | (the limit) |`,
    r.web?.notMeasured === undefined && r.web
      ? `| web app worker in Chromium, ${size(r.web.sizeMiB)} in memory | ${f0(r.web.encryptMBps)} MB/s encrypt, ${f0(r.web.decryptMBps)} MB/s decrypt | |`
      : `| web app in Chromium | ${why(r.web)} | |`,
    r.smallFiles?.notMeasured === undefined && r.smallFiles
      ? `| small files: \`airlock send\` of a folder of ${r.smallFiles.count} 1 KiB files | ${f0(r.smallFiles.count / r.smallFiles.seconds)} files/s (${f1(r.smallFiles.seconds)} s) | |`
      : `| small files | ${why(r.smallFiles)} | |`,
    r.push?.notMeasured === undefined && r.push
      ? `| push latency, upload complete → arrival on the account's devices, ${pushLoad(r.push)} | p50 ${f1(r.push.p50)} ms, p99 ${f1(r.push.p99)} ms (${r.push.delivered}/${r.push.expected} delivered) | p99 < 50 ms |`
      : `| push latency | ${why(r.push)} | p99 < 50 ms |`,
    ...(r.push?.saturated
      ? [
          `| 1 KiB items through the API, ${pushLoad(r.push.saturated)} | ${f0(r.push.saturated.itemsPerSecond)} items/s; push p50 ${f1(r.push.saturated.p50)} ms, p99 ${f1(r.push.saturated.p99)} ms (${r.push.saturated.delivered}/${r.push.saturated.expected} delivered) | |`,
        ]
      : []),
    r.startup?.notMeasured === undefined && r.startup
      ? `| server start (fresh data directory) → first request served, median of ${r.startup.runs?.length ?? 1} | ${f2(r.startup.seconds)} s | |`
      : `| server start | ${why(r.startup)} | |`,
    ...d
      .filter((x) => x.airlock.cpuSeconds)
      .map(
        (x) =>
          `| CPU seconds for ${size(x.sizeMiB)} end to end: \`airlock send\` / server / \`airlock watch\` | ${f1(x.airlock.cpuSeconds.send)} / ${f1(x.airlock.cpuSeconds.server)} / ${f1(x.airlock.cpuSeconds.watch)} | |`,
      ),
    `| peak server RSS, whole run | ${f0(Math.max(...d.map((x) => x.airlock.peakRssMiB.server)))} MiB | < 150 MB (143 MiB) |`,
  ]
  if (r.notes?.length) lines.push('', ...r.notes.map((n) => `- ${n}`))
  return `${lines.join('\n')}\n`
}

const pushLoad = (p) =>
  `${p.devices} devices connected, ${p.senders} sender${p.senders === 1 ? '' : 's'} (${f0(p.itemsPerSecond)} items/s)`

/**
 * `readme` with the text between `<!-- bench:start -->` and `<!-- bench:end -->` replaced by
 * `table`; throws when the markers are missing, so a moved section is noticed.
 */
export function replaceReadmeSection(readme, table) {
  const start = '<!-- bench:start -->'
  const end = '<!-- bench:end -->'
  const a = readme.indexOf(start)
  const b = readme.indexOf(end)
  if (a < 0 || b < a) throw new Error('README.md has no bench:start / bench:end markers')
  return `${readme.slice(0, a + start.length)}\n${table.trim()}\n${readme.slice(b)}`
}

const escapeXml = (s) => String(s).replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`)

/** The series the chart draws: MB/s disk to disk by file size, Airlock and each peer. */
export function chartSeries(r) {
  const d = r.sizes.map(deriveSize)
  const series = [
    { name: 'Airlock, disk to disk', values: d.map((x) => x.airlock.endToEndMBps) },
    { name: 'age CLI, encrypt + decrypt', values: d.map((x) => x.age.endToEndMBps) },
    { name: 'magic-wormhole', values: d.map((x) => x.peers.wormhole?.MBps) },
    { name: 'onionshare, start-up + download', values: d.map((x) => x.peers.onionshare?.MBps) },
    { name: 'curl, no encryption', values: d.map((x) => x.peers.plain?.MBps) },
  ]
  return { sizes: d.map((x) => x.sizeMiB), series: series.filter((s) => s.values.some(Number.isFinite)) }
}

/** A grouped bar chart (SVG, no dependency) of `chartSeries`: one group per file size. */
export function svgChart(r) {
  const { sizes, series } = chartSeries(r)
  const colors = ['#1f6feb', '#8250df', '#bf8700', '#cf222e', '#57606a']
  const W = 760
  const H = 360
  const left = 60
  const right = 220
  const top = 40
  const bottom = 50
  const plotW = W - left - right
  const plotH = H - top - bottom
  const max = Math.max(1, ...series.flatMap((s) => s.values.filter(Number.isFinite)))
  const step = 10 ** Math.floor(Math.log10(max))
  const yMax = Math.ceil(max / step) * step
  const y = (v) => top + plotH - (v / yMax) * plotH
  const group = plotW / sizes.length
  const bar = (group * 0.8) / series.length
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<title>Throughput by file size, MB/s, disk to disk on loopback (${escapeXml(r.date)})</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="14">Throughput by file size, MB/s, disk to disk on loopback</text>`,
  ]
  for (let t = 0; t <= yMax; t += yMax / 5) {
    out.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#d0d7de"/>`,
      `<text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${Math.round(t)}</text>`,
    )
  }
  sizes.forEach((mib, g) => {
    const x0 = left + g * group + group * 0.1
    out.push(
      `<text x="${(left + g * group + group / 2).toFixed(1)}" y="${top + plotH + 20}" text-anchor="middle">${size(mib)}</text>`,
    )
    series.forEach((s, i) => {
      const v = s.values[g]
      if (!Number.isFinite(v)) return
      const x = x0 + i * bar
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bar - 2).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${colors[i % colors.length]}"><title>${escapeXml(s.name)}, ${size(mib)}: ${v.toFixed(0)} MB/s</title></rect>`,
        `<text x="${(x + (bar - 2) / 2).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${v.toFixed(0)}</text>`,
      )
    })
  })
  series.forEach((s, i) => {
    const ly = top + 10 + i * 22
    out.push(
      `<rect x="${W - right + 20}" y="${ly - 10}" width="12" height="12" fill="${colors[i % colors.length]}"/>`,
      `<text x="${W - right + 38}" y="${ly}">${escapeXml(s.name)}</text>`,
    )
  })
  out.push(`<text x="${left + plotW / 2}" y="${H - 10}" text-anchor="middle">file size</text>`, '</svg>')
  return `${out.join('\n')}\n`
}
