import cliProgress from 'cli-progress'

/**
 * Where the CLI speaks. Results go to stdout (one JSON document, or NDJSON for streaming
 * commands, with `--json`); notices, warnings and progress bars go to stderr, progress only when
 * stderr is a terminal.
 */
export class Output {
  readonly json: boolean
  private readonly tty: boolean

  constructor(opts: { json: boolean; tty?: boolean }) {
    this.json = opts.json
    this.tty = opts.tty ?? Boolean(process.stderr.isTTY)
  }

  /** A line for people on stderr (suppressed with `--json`). */
  info(line: string): void {
    if (!this.json) process.stderr.write(`${line}\n`)
  }

  /** A warning on stderr, always shown (also with `--json`). */
  warn(line: string): void {
    process.stderr.write(`airlock: warning: ${line}\n`)
  }

  /** The result of a command: JSON on stdout, or the human lines. */
  result(value: unknown, human: string | readonly string[]): void {
    if (this.json) process.stdout.write(`${JSON.stringify(value)}\n`)
    else {
      const lines = typeof human === 'string' ? [human] : human
      if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`)
    }
  }

  /** A progress bar of `total` bytes, or a no-op when stderr is not a terminal. */
  progress(label: string, total: number): Progress {
    if (!this.tty || this.json || total < 1024 * 1024) return NO_PROGRESS
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% {done}/{size} {rate}`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    )
    const start = Date.now()
    let base = 0
    const payload = (v: number) => ({
      done: formatBytes(v),
      size: formatBytes(total),
      rate: `${formatBytes(((v - base) * 1000) / Math.max(1, Date.now() - start))}/s`,
    })
    bar.start(total, 0, payload(0))
    return {
      resumeAt(v) {
        base = v
        bar.update(v, payload(v))
      },
      update(v) {
        bar.update(v, payload(v))
      },
      stop() {
        bar.stop()
      },
    }
  }
}

export interface Progress {
  /** The transfer continues from `v` bytes (not counted in the rate). */
  resumeAt(v: number): void
  update(v: number): void
  stop(): void
}

const NO_PROGRESS: Progress = { resumeAt() {}, update() {}, stop() {} }

/** `1.5 MiB`-style sizes. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`
}

/** A local time like `2026-05-01 14:03`. */
export function formatTime(ms: number): string {
  const d = new Date(ms)
  const p = (x: number) => String(x).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`
}
