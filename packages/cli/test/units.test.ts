import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  AccessLogError,
  appendEntry,
  BadResponseError,
  bytesStream,
  CancelledError,
  createGenesis,
  entryValue,
  extendVerified,
  generateDevice,
  HashMismatchError,
  LinkExpiredError,
  LoginRefusedError,
  NetworkError,
  NotSetUpError,
  PolicyError,
  padmeLength,
  RollbackError,
  readAll,
  ServerError,
  ShareLinkError,
  sealItem,
  verifyLog,
  WrongPassphraseError,
} from '@airlock/core'
import { nodeAead } from '@airlock/core/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDir, tempDir } from '../../../test-support/harness.js'
import { CliError, describeError, EXIT } from '../src/errors.js'
import { safeComponents, saveStream } from '../src/placement.js'
import { parseRecovery, serializeRecovery } from '../src/recovery.js'
import { ciphertextSizeFor } from '../src/upload.js'

let dir: string
beforeAll(async () => {
  dir = await tempDir('airlock-cli-units-')
})
afterAll(async () => {
  await removeDir(dir)
})

describe('ciphertext size computed before encrypting', () => {
  it('equals what sealItem produces, around chunk and padding boundaries, for 1 to 3 recipients', async () => {
    const devices = await Promise.all([1, 2, 3].map((i) => generateDevice({ name: `d${i}`, kind: 'cli' })))
    const accountId = 'units-account-0001'
    let log = verifyLog(accountId, [entryValue(createGenesis(accountId, devices[0]!))])
    const sizes = [0, 1, 2, 1000, 65535, 65536, 65537, 131072, 131073, 300_001]
    for (const n of [1, 2, 3]) {
      if (n > 1)
        log = extendVerified(log, [entryValue(appendEntry(log, devices[0]!, 'add', devices[n - 1]!.record))])
      const recipients = log.active.map((d) => d.recipient)
      for (const size of sizes) {
        const item = await sealItem({
          plaintext: bytesStream(new Uint8Array(size)),
          size,
          meta: {
            itemId: 'item',
            conversationId: 'conv',
            filename: 'f',
            type: 'application/octet-stream',
            mtime: 0,
            created: 0,
            kind: 'file',
          },
          sender: { device: devices[0]!, log },
          recipients: [{ log }],
          aead: nodeAead,
        })
        const ct = await readAll(item.ciphertext)
        expect(ct.length, `${n} recipients, ${size} bytes (padded ${padmeLength(size)})`).toBe(
          await ciphertextSizeFor(recipients, size),
        )
      }
    }
  })
})

describe('placing received files', () => {
  it('keeps hostile names inside the destination, as safe components', () => {
    expect(safeComponents('../../etc/passwd')).toEqual(['etc', 'passwd'])
    expect(safeComponents('/abs/path')).toEqual(['abs', 'path'])
    expect(safeComponents('C:\\Windows\\x.exe')).toEqual(['C__Windows_x.exe'])
    expect(safeComponents('a/\u202Egnp.exe')).toEqual(['a', 'gnp.exe'])
    expect(safeComponents('\u001b[31mred')).toEqual(['[31mred'])
    expect(safeComponents('')).toEqual(['unnamed'])
    expect(safeComponents('..')).toEqual(['unnamed'])
    expect(safeComponents('a/b/c/d/e/f/g/h/i/j')).toHaveLength(8)
  })

  it('never overwrites, also across case, and never follows a symlinked directory', async () => {
    const dest = join(dir, 'place')
    await mkdir(dest)
    await writeFile(join(dest, 'Report.PDF'), 'mine')
    const outside = join(dir, 'outside')
    await mkdir(outside)
    await symlink(outside, join(dest, 'docs'))
    const a = await saveStream(dest, 'report.pdf', bytesStream(new TextEncoder().encode('theirs')))
    expect(a).toBe(join(dest, 'report (2).pdf'))
    expect(await readFile(join(dest, 'Report.PDF'), 'utf8')).toBe('mine')
    const b = await saveStream(dest, 'docs/x.txt', bytesStream(new TextEncoder().encode('x')))
    expect(b).toBe(join(dest, 'docs (2)', 'x.txt'))
    expect(await readdir(outside)).toEqual([])
  })

  it('leaves nothing behind when the stream fails', async () => {
    const dest = join(dir, 'failing')
    const failing = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(10))
        c.error(new Error('boom'))
      },
    })
    await expect(saveStream(dest, 'x.bin', failing)).rejects.toThrow('boom')
    expect(await readdir(dest)).toEqual([])
  })
})

describe('recovery key file', () => {
  it('round-trips and refuses anything else', async () => {
    const device = await generateDevice({ name: 'recovery key', kind: 'recovery' })
    const key = {
      server: 'https://airlock.example',
      accountId: 'acct-0001',
      pin: { seq: 1, head: 'A'.repeat(43) },
      device,
    }
    const parsed = await parseRecovery(serializeRecovery(key))
    expect(parsed.accountId).toBe(key.accountId)
    expect(parsed.pin).toEqual(key.pin)
    expect(parsed.device.record).toEqual(device.record)
    await expect(parseRecovery('hello')).rejects.toMatchObject({ code: 'KEY_FORMAT' })
    const cli = await generateDevice({ name: 'laptop', kind: 'cli' })
    await expect(parseRecovery(serializeRecovery({ ...key, device: cli }))).rejects.toMatchObject({
      code: 'KEY_FORMAT',
    })
  })
})

describe('error mapping', () => {
  it('maps verification failures to exit 6 with a one-line message', async () => {
    for (const e of [new HashMismatchError(), new RollbackError()]) {
      const d = describeError(e)
      expect(d.exit).toBe(EXIT.security)
      expect(d.message).not.toContain('\n')
    }
  })

  it("takes each failure's exit code from core's kind, keeping the documented codes", () => {
    const exits: [unknown, number][] = [
      [new AccessLogError('entry 2 was edited'), EXIT.tampered],
      [new PolicyError('label-mismatch', 'changed'), EXIT.security],
      [new PolicyError('share-links-disabled', 'off'), EXIT.policy],
      [new BadResponseError(), EXIT.security],
      [new LoginRefusedError(), EXIT.auth],
      [new ServerError(401, 'BAD_SIGNATURE', ''), EXIT.auth],
      [new WrongPassphraseError(), EXIT.auth],
      [new LinkExpiredError(), EXIT.notFound],
      [new ServerError(410, 'GONE', ''), EXIT.notFound],
      [new ShareLinkError(), EXIT.usage],
      [new NotSetUpError(), EXIT.config],
      [new NetworkError(), EXIT.network],
      [new ServerError(503, 'UNAVAILABLE', ''), EXIT.network],
      [new ServerError(400, 'INVALID_BODY', 'share links last at most 30 days'), EXIT.failure],
      [new CancelledError(), EXIT.cancelled],
      [new CliError('UPLOAD_PENDING', 'saved'), EXIT.pending],
      [new CliError('NOT_ADMIN', 'not an administrator'), EXIT.notAdmin],
      [new TypeError('a bug'), EXIT.failure],
    ]
    for (const [e, exit] of exits) expect(describeError(e).exit, String(e)).toBe(exit)
  })
})

describe('the pinned device log only moves forward', () => {
  it('keeps the newer log when an older one is saved later, and refuses a fork', async () => {
    const { homePaths } = await import('../src/config.js')
    const { saveLog, loadLog } = await import('../src/log-file.js')
    const home = homePaths(join(dir, 'pin-home'))
    await mkdir(home.dir, { recursive: true })
    const [a, b, c] = await Promise.all(
      ['a', 'b', 'c'].map((name) => generateDevice({ name, kind: 'cli', now: 0 })),
    )
    const v0 = verifyLog('acct-pin-test-0001', [createGenesis('acct-pin-test-0001', a!)])
    const v1 = extendVerified(v0, [appendEntry(v0, a!, 'add', b!.record)])
    const v2 = extendVerified(v1, [appendEntry(v1, a!, 'remove', b!.record)])
    expect((await saveLog(home, v2)).seq).toBe(2)
    // A late answer to an earlier sync (b still active) must not replace the newer pin.
    const kept = await saveLog(home, v1)
    expect(kept.seq).toBe(2)
    expect((await loadLog(home, 'acct-pin-test-0001')).seq).toBe(2)
    // A different history at a shared position is a fork.
    const other = extendVerified(v0, [appendEntry(v0, a!, 'add', c!.record)])
    await expect(saveLog(home, other)).rejects.toMatchObject({ code: 'FORK' })
  })
})
