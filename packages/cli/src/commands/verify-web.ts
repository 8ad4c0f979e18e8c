import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { NetworkError, readAll } from '@airlock/core'
import { z } from 'zod'
import { serverOrigin } from '../config.js'
import type { Context } from '../context.js'
import { CliError } from '../errors.js'
import { CLI_ROOT } from '../paths.js'

/**
 * `airlock verify-web <url>`: checks that the web app a server really serves is the reproducible
 * build. Downloads the server's `web-files.json` and every file it lists, hashes what arrived
 * (never trusting the listed hashes), recomputes the bundle hash, checks index.html's scripts and
 * styles carry matching Subresource Integrity and the page's Content-Security-Policy forbids
 * inline script and eval, then compares the bundle hash with the expected one: `--expect`, or
 * the build next to this CLI (packages/web/dist), which is the same source.
 */

const listSchema = z.strictObject({
  v: z.literal(1),
  bundle: z.string().regex(/^[0-9a-f]{64}$/),
  files: z
    .array(z.strictObject({ path: z.string().regex(/^\/[A-Za-z0-9._\-/]{1,200}$/), sha256: z.string() }))
    .min(1)
    .max(1000),
})

const LOCAL_BUILD = fileURLToPath(new URL('../web/dist/web-files.json', CLI_ROOT))
const MAX_FILE = 32 * 1024 * 1024

function sha(alg: 'sha256' | 'sha384', data: Uint8Array, enc: 'hex' | 'base64'): string {
  return createHash(alg).update(data).digest(enc)
}

/** The bundle hash: SHA-256 over `<sha256>  <path>\n` lines sorted by path (as the build computes it). */
export function bundleHash(list: readonly { path: string; sha256: string }[]): string {
  const h = createHash('sha256')
  for (const f of [...list].sort((a, b) => (a.path < b.path ? -1 : 1))) h.update(`${f.sha256}  ${f.path}\n`)
  return h.digest('hex')
}

async function fetchBytes(url: string): Promise<{ bytes: Uint8Array; headers: Headers }> {
  let res: Response
  try {
    res = await fetch(url, { redirect: 'error' })
  } catch {
    throw new NetworkError(`cannot reach ${url}`)
  }
  if (!res.ok || !res.body) throw new CliError('WEB_MISMATCH', `${url} answered ${res.status}`)
  try {
    return { bytes: await readAll(res.body, MAX_FILE), headers: res.headers }
  } catch {
    throw new CliError('WEB_MISMATCH', `${url} is too large`)
  }
}

/** The policy the server must send, directive by directive (see the server's routes/web.ts). */
const REQUIRED_CSP: Record<string, string> = {
  'default-src': "'none'",
  'script-src': "'self'",
  'style-src': "'self'",
  'img-src': "'self' blob:",
  'connect-src': "'self'",
  'worker-src': "'self'",
  'manifest-src': "'self'",
  'media-src': "'self' blob:",
  'base-uri': "'none'",
  'form-action': "'none'",
  'frame-ancestors': "'none'",
}

/** Problems with a Content-Security-Policy header: anything but exactly the required directives. */
export function cspProblems(header: string | null): string[] {
  if (!header) return ['the page has no Content-Security-Policy']
  if (header.includes(',')) return ['the page has more than one Content-Security-Policy']
  const got = new Map<string, string>()
  for (const part of header.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/)
    if (!name) continue
    if (got.has(name.toLowerCase())) return [`the Content-Security-Policy repeats ${name}`]
    got.set(name.toLowerCase(), values.join(' '))
  }
  const problems: string[] = []
  for (const [name, value] of Object.entries(REQUIRED_CSP))
    if (got.get(name) !== value)
      problems.push(`Content-Security-Policy ${name} is "${got.get(name) ?? '(missing)'}", not "${value}"`)
  for (const name of got.keys())
    if (!(name in REQUIRED_CSP)) problems.push(`Content-Security-Policy has an unexpected ${name}`)
  return problems
}

export async function verifyWeb(ctx: Context, url: string, opts: { expect?: string }): Promise<void> {
  const origin = serverOrigin(url)
  const listed = await fetchBytes(`${origin}/web-files.json`)
  let list: z.infer<typeof listSchema>
  try {
    list = listSchema.parse(JSON.parse(new TextDecoder().decode(listed.bytes)))
  } catch {
    throw new CliError('WEB_MISMATCH', 'the server serves a malformed web-files.json')
  }
  const problems: string[] = []
  const served = new Map<string, Uint8Array>()
  for (const f of list.files) {
    const { bytes } = await fetchBytes(`${origin}${f.path}`)
    served.set(f.path, bytes)
    if (sha('sha256', bytes, 'hex') !== f.sha256) problems.push(`${f.path} differs from the list`)
  }
  const actual = bundleHash(
    list.files.map((f) => ({ path: f.path, sha256: sha('sha256', served.get(f.path)!, 'hex') })),
  )

  const page = await fetchBytes(`${origin}/`)
  const html = new TextDecoder().decode(page.bytes)
  if (sha('sha256', page.bytes, 'hex') !== list.files.find((f) => f.path === '/index.html')?.sha256)
    problems.push('/ is not the listed index.html')
  problems.push(...cspProblems(page.headers.get('content-security-policy')))
  for (const m of html.matchAll(/<(script|link)\b[^>]*>/g)) {
    const tag = m[0]
    const ref = /\s(?:src|href)="([^"]+)"/.exec(tag)?.[1]
    const isCode = m[1] === 'script' || /rel="(stylesheet|modulepreload)"/.test(tag)
    if (m[1] === 'script' && !ref) problems.push('index.html has an inline script')
    if (!ref || !isCode) continue
    const bytes = served.get(ref)
    const integrity = /\sintegrity="sha384-([^"]+)"/.exec(tag)?.[1]
    if (!bytes) problems.push(`index.html loads ${ref}, which is not in the list`)
    else if (integrity !== sha('sha384', bytes, 'base64'))
      problems.push(`${ref} has no matching integrity attribute`)
  }

  let expected = opts.expect?.trim().toLowerCase()
  let source = 'given with --expect'
  if (!expected) {
    const local = await readFile(LOCAL_BUILD, 'utf8').catch(() => null)
    if (local) {
      expected = listSchema.parse(JSON.parse(local)).bundle
      source = 'of the build next to this CLI'
    }
  }
  if (expected && expected !== actual)
    problems.push(`bundle hash ${actual} is not the expected ${expected} (${source})`)

  if (problems.length > 0) {
    ctx.out.result({ ok: false, bundle: actual, expected: expected ?? null, problems }, [
      `The web app served by ${origin} does NOT match:`,
      ...problems.map((p) => `  - ${p}`),
    ])
    throw new CliError('WEB_MISMATCH', 'the served web app does not match the reproducible build')
  }
  ctx.out.result({ ok: true, bundle: actual, expected: expected ?? null, files: list.files.length }, [
    `Web app served by ${origin}: bundle ${actual}`,
    `Matches the expected hash (${source}): ${list.files.length} files (the worker included), the strict CSP, and SRI on every script and style of the page.`,
    'This checks what the server serves now; a browser cannot pin it, so check again after upgrades.',
  ])
}
