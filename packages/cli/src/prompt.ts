import { readFile } from 'node:fs/promises'
import { createInterface, type Interface } from 'node:readline'
import { CancelledError } from '@airlock/core'
import { CliError } from './errors.js'

/**
 * Input from people and scripts. Secrets (setup and invite codes, linking codes and links,
 * passphrases) never come from argv, which other local users can read: they come from an
 * environment variable, a file named by an option, a terminal prompt, or a line on stdin.
 */

let reader: Interface | null = null
const lines: string[] = []
const waiting: ((line: string | null) => void)[] = []
let ended = false

function stdinReader(): Interface {
  if (!reader) {
    reader = createInterface({ input: process.stdin, terminal: false })
    reader.on('line', (line) => {
      const w = waiting.shift()
      if (w) w(line)
      else lines.push(line)
    })
    reader.on('close', () => {
      ended = true
      for (const w of waiting.splice(0)) w(null)
    })
  }
  return reader
}

/** The next line of non-terminal stdin, or null at its end. */
function nextStdinLine(): Promise<string | null> {
  stdinReader()
  const line = lines.shift()
  if (line !== undefined) return Promise.resolve(line)
  if (ended) return Promise.resolve(null)
  return new Promise((resolve) => waiting.push(resolve))
}

/** Asks on the terminal (stderr), echoing unless `hidden`. */
function askTerminal(question: string, hidden: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true })
    if (hidden) {
      // readline has no hidden mode; print the question, then swallow the echo.
      const internal = rl as unknown as { _writeToOutput: (s: string) => void }
      process.stderr.write(question)
      internal._writeToOutput = () => {}
    }
    rl.question(hidden ? '' : question, (answer) => {
      if (hidden) process.stderr.write('\n')
      rl.close()
      resolve(answer)
    })
    rl.on('SIGINT', () => {
      rl.close()
      reject(new CancelledError())
    })
  })
}

/**
 * A line typed by the person (terminal) or the next line of stdin (scripts). Throws
 * `CliError('USAGE')` if stdin ends first.
 */
export async function readLine(question: string, opts: { hidden?: boolean } = {}): Promise<string> {
  if (process.stdin.isTTY) return (await askTerminal(question, opts.hidden ?? false)).trim()
  const line = await nextStdinLine()
  if (line === null) throw new CliError('USAGE', `no input for: ${question.replace(/[:?]\s*$/, '')}`)
  return line.trim()
}

/**
 * A secret: from `$env`, else from the file `file` (first line), else asked for (hidden on a
 * terminal). Empty secrets are refused.
 */
export async function readSecret(opts: { env: string; file?: string; question: string }): Promise<string> {
  let value: string | undefined = process.env[opts.env]
  if (!value && opts.file !== undefined) {
    const text = opts.file === '-' ? await nextStdinLine() : await readFile(opts.file, 'utf8')
    value = (text ?? '').split('\n')[0]
  }
  if (!value) value = await readLine(opts.question, { hidden: true })
  value = value.trim()
  if (!value) throw new CliError('USAGE', `empty input for: ${opts.question.replace(/[:?]\s*$/, '')}`)
  return value
}

/** Asks a yes/no question; only `y` or `yes` mean yes. */
export async function confirm(question: string): Promise<boolean> {
  const answer = await readLine(`${question} [y/N] `)
  return /^(y|yes)$/i.test(answer)
}

/** Lets the process exit once the command is done. */
export function closeInput(): void {
  reader?.close()
  reader = null
}
