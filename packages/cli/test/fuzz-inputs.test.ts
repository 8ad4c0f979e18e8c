import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join, sep } from 'node:path'
import {
  AirlockError,
  appendEntry,
  bytesStream,
  createGenesis,
  type DeviceSecrets,
  decodeSignedManifest,
  decryptBytes,
  encryptBytes,
  entryValue,
  extendVerified,
  generateDevice,
  parseLinkCode,
  parseLinkPayload,
  printable,
  utf8,
  verifyLog,
} from '@airlock/core'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, tempDir } from '../../../test-support/harness.js'
import { saveStream } from '../src/placement.js'

/**
 * SECURITY-TESTS 7 and 19 at the CLI's boundary, where a hostile server's bytes first meet
 * parsing: age headers, sealed manifests, device logs, linking codes and links, and filenames.
 * Every input ends in a typed `AirlockError` (never another exception) within bounded time, and a
 * hostile name never leaves the folder it is saved into. Cases: AIRLOCK_FUZZ_RUNS (default 300).
 */

const RUNS = Number(process.env.AIRLOCK_FUZZ_RUNS ?? 300)
const counts = { header: 0, manifest: 0, log: 0, link: 0, filenames: 0 }
let me: DeviceSecrets
let sample: Uint8Array
let logEntries: unknown[]
let dir: string

/** Calls `f`; it must return, or throw an AirlockError, within `ms`. */
async function typedOnly(f: () => unknown, ms = 2000): Promise<void> {
  const start = Date.now()
  try {
    await f()
  } catch (e) {
    if (!(e instanceof AirlockError)) throw e
  }
  expect(Date.now() - start).toBeLessThan(ms)
}

/** Random edits of a valid input: flipped bytes, cuts, insertions. */
function mutated(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc
    .array(
      fc.tuple(
        fc.nat(valid.length),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('set', 'cut', 'insert'),
      ),
      {
        minLength: 1,
        maxLength: 4,
      },
    )
    .map((edits) => {
      let b = [...valid]
      for (const [i, v, op] of edits) {
        if (op === 'set') b[i % b.length] = v
        else if (op === 'cut') b = b.slice(0, i)
        else b.splice(i, 0, v)
      }
      return Uint8Array.from(b)
    })
}

beforeAll(async () => {
  dir = await tempDir('airlock-fuzz-')
  me = await generateDevice({ name: 'me', kind: 'cli' })
  const other = await generateDevice({ name: 'other', kind: 'cli' })
  sample = await encryptBytes([me.record.recipient, other.record.recipient], utf8('a sample payload'))
  const genesis = verifyLog('acct', [createGenesis('acct', me)])
  logEntries = [...genesis.entries, appendEntry(genesis, me, 'add', other.record)].map(entryValue)
})

afterAll(async () => {
  console.log(
    `fuzz inputs: ${counts.header} age files, ${counts.manifest} manifests, ${counts.log} logs, ${counts.link} links/codes, ${counts.filenames} filenames (${RUNS} per property)`,
  )
  if (dir) await removeDir(dir)
})

describe('fuzzing what a hostile server sends the CLI', () => {
  it('age files: mutated or random bytes give a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated(sample), fc.uint8Array({ maxLength: 3000 })), async (bytes) => {
        counts.header++
        await typedOnly(() => decryptBytes([me.ageIdentity], bytes, { policy: 'pq' }))
      }),
      { numRuns: RUNS },
    )
  })

  it('sealed manifests: any payload decodes to a typed error or a canonical manifest', async () => {
    const json = fc
      .jsonValue({ maxDepth: 4 })
      .map((v) => utf8(JSON.stringify({ manifest: v, sig: 'A'.repeat(86) })))
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(json, fc.uint8Array({ maxLength: 500 }), mutated(utf8('{"manifest":{},"sig":""}'))),
        async (bytes) => {
          counts.manifest++
          await typedOnly(() => decodeSignedManifest(bytes))
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('device logs: mutated entries and random JSON give a typed error', async () => {
    const text = utf8(JSON.stringify(logEntries))
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          mutated(text),
          fc.jsonValue({ maxDepth: 4 }).map((v) => utf8(JSON.stringify([v]))),
        ),
        async (bytes) => {
          counts.log++
          let entries: unknown
          try {
            entries = JSON.parse(new TextDecoder().decode(bytes))
          } catch {
            return
          }
          await typedOnly(() => verifyLog('acct', entries as unknown[]))
          await typedOnly(() =>
            extendVerified(verifyLog('acct', logEntries.slice(0, 1)), entries as unknown[]),
          )
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('linking codes and links: a typed error for anything malformed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ maxLength: 80 }).map((s) => `https://x/link#${s}`),
        ),
        async (s) => {
          counts.link++
          await typedOnly(() => parseLinkCode(s))
          await typedOnly(() => parseLinkPayload(s, Date.now()))
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('SECURITY-19: hostile filenames stay inside a fresh folder, overwrite nothing and print no escapes', async () => {
    const piece = fc.constantFrom(
      '..',
      '.',
      '/',
      '\\',
      'C:',
      'c:\\',
      '\u0000',
      '\u001b[2J',
      '\u202e',
      '\u200b',
      'CON',
      'nul.txt',
      'A'.repeat(300),
      'é',
      'e\u0301',
      'victim.txt',
      ' ',
      '~',
      '$HOME',
      '%2e%2e',
    )
    const name = fc
      .array(fc.oneof(piece, fc.string({ maxLength: 8 })), { minLength: 1, maxLength: 8 })
      .map((p) => p.join(''))
    let i = 0
    await fc.assert(
      fc.asyncProperty(name, async (n) => {
        counts.filenames++
        const dest = join(dir, `case-${++i}`)
        await mkdir(dest)
        await writeFile(join(dest, 'victim.txt'), 'keep')
        const path = await saveStream(dest, n, bytesStream(utf8('payload')))
        expect(path.startsWith(dest + sep)).toBe(true)
        expect(
          path
            .slice(dest.length + 1)
            .split(sep)
            .includes('..'),
        ).toBe(false)
        expect(await readFile(path, 'utf8')).toBe('payload')
        expect(await readFile(join(dest, 'victim.txt'), 'utf8')).toBe('keep')
        expect(await readdir(join(dir))).not.toContain('victim.txt')
        expect(printable(n)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/)
      }),
      { numRuns: RUNS },
    )
  })
})
