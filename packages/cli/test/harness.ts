import { type ChildProcess, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The real things, as processes: the server binary on loopback and the `airlock` CLI, each
 * `--home` a separate device. Both must be built (`npm run build`).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
export const SERVER_BIN = join(ROOT, 'packages/server/dist/bin.js')
// The one-file build users run (the bin); it is made from dist/bin.js, tsc's output.
export const CLI_BIN = join(ROOT, 'packages/cli/dist/airlock.js')

export function assertBuilt(): void {
  for (const f of [SERVER_BIN, CLI_BIN]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` first`)
  }
}

export async function tempDir(prefix = 'airlock-cli-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** The environment for child processes, without any AIRLOCK_* of the caller's. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AIRLOCK_')) env[k] = v
  return { ...env, ...extra }
}

export interface ServerProcess {
  url: string
  port: number
  setupCode: string | null
  dataDir: string
  pid: number
  /** Everything the server wrote to stdout and stderr (its logs). */
  output(): string
  stop(signal?: NodeJS.Signals): Promise<void>
}

/** Starts `airlock-server --port <port> --data-dir <dir> ...args` and waits for its listening line. */
export async function startServer(
  dataDir: string,
  port = 0,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [SERVER_BIN, '--port', String(port), '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(env),
  })
  let out = ''
  proc.stdout.on('data', (d) => {
    out += d
  })
  proc.stderr.on('data', (d) => {
    out += d
  })
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000)
    const check = () => {
      const m = /airlock-server listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolveUrl(m[1]!)
      }
    }
    proc.stdout.on('data', check)
    proc.once('exit', () => reject(new Error(`server exited:\n${out}`)))
  })
  return {
    url,
    port: Number(new URL(url).port),
    setupCode: /setup-code: (\S+)/.exec(out)?.[1] ?? null,
    dataDir,
    pid: proc.pid!,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      await exited
    },
  }
}

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** A running `airlock` process with its output so far. */
export class CliProcess {
  readonly proc: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<Run>

  constructor(home: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
    this.proc = spawn(process.execPath, [CLI_BIN, '--home', home, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: cleanEnv(opts.env),
    })
    this.proc.stdout!.on('data', (d) => {
      this.stdout += d
    })
    this.proc.stderr!.on('data', (d) => {
      this.stderr += d
    })
    if (opts.input !== undefined) this.proc.stdin!.end(opts.input)
    this.exited = new Promise((r) =>
      this.proc.once('close', (code) => r({ code, stdout: this.stdout, stderr: this.stderr })),
    )
  }

  /** Waits until `re` matches stdout (or stderr), failing after `timeoutMs`. */
  async waitFor(
    re: RegExp,
    timeoutMs = 30_000,
    stream: 'stdout' | 'stderr' = 'stdout',
  ): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const m = re.exec(stream === 'stdout' ? this.stdout : this.stderr)
      if (m) return m
      if (this.proc.exitCode !== null || Date.now() > deadline) {
        throw new Error(
          `waiting for ${re}: ${this.proc.exitCode !== null ? 'exited' : 'timed out'}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`,
        )
      }
      await sleep(50)
    }
  }

  /** The JSON lines of stdout that parse. */
  events(): Record<string, unknown>[] {
    return this.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  }
}

/** Runs `airlock --home <home> ...args` to completion. */
export function cli(
  home: string,
  args: string[],
  opts: { input?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  return new CliProcess(home, args, { input: opts.input ?? '', ...(opts.env ? { env: opts.env } : {}) })
    .exited
}

/** Runs with `--json` and parses stdout; fails with the output if the exit code is not 0. */
export async function cliJson<T = Record<string, unknown>>(
  home: string,
  args: string[],
  opts: { input?: string; env?: Record<string, string> } = {},
): Promise<T> {
  const r = await cli(home, ['--json', ...args], opts)
  if (r.code !== 0) throw new Error(`airlock ${args.join(' ')} exited ${r.code}\n${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** Writes `size` random bytes to `path`; returns their SHA-256 (hex). */
export async function randomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256')
  const fh = await open(path, 'w')
  try {
    for (let done = 0; done < size; ) {
      const chunk = randomBytes(Math.min(4 << 20, size - done))
      hash.update(chunk)
      await fh.write(chunk)
      done += chunk.length
    }
  } finally {
    await fh.close()
  }
  return hash.digest('hex')
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex')
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Polls `condition` every 100 ms until it holds, failing after `timeoutMs`. */
export async function waitUntil(
  condition: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition')
    await sleep(100)
  }
}
