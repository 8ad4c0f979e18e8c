import { type ChildProcess, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The real things, as processes, for every package's tests: the `airlock-server` binary on
 * loopback and the one-file `airlock` CLI, each `--home` a separate device; plus the temporary
 * directories, files and polling those tests share. Both binaries must be built
 * (`npm run build`). Route-level checks that need no process go through `app.inject` instead
 * (packages/server/test/inject-app.ts).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const SERVER_BIN = join(ROOT, 'packages/server/dist/bin.js')
// The one-file build users run (the bin); it is made from dist/bin.js, tsc's output.
export const CLI_BIN = join(ROOT, 'packages/cli/dist/airlock.js')

/** Fails at once, with the command to run, when a test needs the built binaries and they are missing. */
export function assertBuilt(): void {
  for (const f of [SERVER_BIN, CLI_BIN]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` first`)
  }
}

export async function tempDir(prefix = 'airlock-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/**
 * The environment for child processes: the caller's, without any AIRLOCK_* setting (a developer's
 * own would change what is tested), plus `extra`.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AIRLOCK_')) env[k] = v
  return { ...env, NODE_NO_WARNINGS: '1', ...extra }
}

/** A real `airlock-server` process on loopback, started from the built `dist/bin.js`. */
export interface ServerProcess {
  url: string
  port: number
  /** The one-time admin setup code it printed, when its database had no account yet. */
  setupCode: string | null
  dataDir: string
  proc: ChildProcess
  /** Everything the process wrote to stdout and stderr so far (its logs are on stderr). */
  output(): string
  /** Sends `signal` (SIGTERM: a clean shutdown; SIGKILL: none at all) and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Starts `airlock-server --port <port> --data-dir <dataDir> ...args` (port 0: any free one) and
 * waits for its listening line. `env` adds environment variables, e.g. AIRLOCK_* settings.
 */
export async function startServer(
  dataDir: string,
  opts: { port?: number; args?: string[]; env?: Record<string, string> } = {},
): Promise<ServerProcess> {
  const proc = spawn(
    process.execPath,
    [SERVER_BIN, '--port', String(opts.port ?? 0), '--data-dir', dataDir, ...(opts.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(opts.env) },
  )
  let out = ''
  let all = ''
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d
    all += d
  })
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    all += d
  })
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${all}`)), 20_000)
    const check = () => {
      const m = /airlock-server listening on (\S+)\n/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolveUrl(m[1]!)
      }
    }
    proc.stdout!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code}:\n${all}`))
    })
  })
  return {
    url,
    port: Number(new URL(url).port),
    setupCode: /setup-code: (\S+)/.exec(out)?.[1] ?? null,
    dataDir,
    proc,
    output: () => all,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      return exited
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
      env: childEnv(opts.env),
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

/** Polls `condition` until it holds, failing after `timeoutMs` with `what` it waited for. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'a condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}
