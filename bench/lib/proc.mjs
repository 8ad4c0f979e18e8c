// Running the measured programs: wall time and peak RSS of a child under GNU time, a free loopback
// port, and a long-running child that is killed when the bench ends.
import { spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseGnuTime } from './report.mjs'

let n = 0

/**
 * Runs `cmd argv` under GNU time; resolves to its wall time (measured here, from spawn to exit),
 * peak RSS and output; rejects when it exits non-zero.
 */
export function timed(cmd, argv, { env, cwd, input } = {}) {
  const rssFile = join(tmpdir(), `airlock-bench-time-${process.pid}-${n++}.txt`)
  return new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn('/usr/bin/time', ['-f', '%e %M %U %S', '-o', rssFile, cmd, ...argv], {
      env: env ? { ...process.env, ...env } : process.env,
      cwd,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    if (input !== undefined) child.stdin.end(input)
    child.once('error', reject)
    child.once('close', (code) => {
      const seconds = (performance.now() - start) / 1000
      let parsed
      try {
        parsed = parseGnuTime(readFileSync(rssFile, 'utf8'))
      } catch (e) {
        return reject(new Error(`${cmd} ${argv.join(' ')}: ${e.message}\n${stderr}`))
      } finally {
        rmSync(rssFile, { force: true })
      }
      if (code !== 0) return reject(new Error(`${cmd} ${argv.join(' ')} exited ${code}:\n${stderr}`))
      resolve({ seconds, maxRssMiB: parsed.maxRssMiB, cpuSeconds: parsed.cpuSeconds, stdout, stderr })
    })
  })
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for tools that cannot take port 0). */
const handedOut = new Set()

/**
 * A loopback port nothing listens on, never one handed out before in this process: the kernel may
 * give the same free port to two calls in a row (the bench once started magic-wormhole's mailbox
 * and transit relay on one port).
 */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const s = createServer()
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address()
        s.close(() => resolve(port))
      })
    })
    if (!handedOut.has(port)) {
      handedOut.add(port)
      return port
    }
  }
}

/**
 * Starts a long-running child and waits until its output (stdout and stderr together) matches
 * `ready`; resolves to `{ child, match, output(), stop() }`.
 */
export function daemon(cmd, argv, ready, { env, cwd, timeoutMs = 120_000 } = {}) {
  const child = spawn(cmd, argv, {
    env: env ? { ...process.env, ...env } : process.env,
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const exited = new Promise((r) => child.once('exit', r))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(t)
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop()
      reject(new Error(`${cmd} not ready after ${timeoutMs} ms:\n${out.slice(-2000)}`))
    }, timeoutMs)
    const onData = (d) => {
      out += d
      const m = ready.exec(out)
      if (m) {
        clearTimeout(timer)
        child.stdout.off('data', onData)
        child.stderr.off('data', onData)
        child.stdout.resume()
        child.stderr.resume()
        resolve({ child, match: m, output: () => out, stop })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('error', reject)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${cmd} exited ${code} before it was ready:\n${out.slice(-2000)}`))
    })
  })
}

/**
 * How a binary of ours runs, read from its `#!/usr/bin/env [-S] [NAME=value …] node [--option=value …]`
 * line: the environment it sets and Node's options, so that the bench measures exactly what
 * `airlock-server`, `npm start` and `airlock` run. `spawn(process.execPath, [...options, bin, …],
 * { env: { ...process.env, ...env } })` is the same as running the file.
 */
export function nodeCommand(bin) {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0]
  const m = /^#!\/usr\/bin\/env (?:-S )?((?:[A-Z_]+=\S+ )*)node((?: --[a-z-]+=\S+)*)$/.exec(first)
  if (!m) throw new Error(`${bin}: unexpected first line ${JSON.stringify(first)}`)
  const env = Object.fromEntries(
    m[1]
      .split(' ')
      .filter(Boolean)
      .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
  )
  return { env, options: m[2].split(' ').filter(Boolean) }
}
