import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  CliProcess,
  cli,
  cliJson,
  randomFile,
  removeDir,
  type ServerProcess,
  sha256File,
  sleep,
  startServer,
  tempDir,
  until,
} from '../../../test-support/harness.js'

/**
 * The CLI end to end: a real server process on loopback and real `airlock` processes, each
 * `--home` one device of the same account.
 */

const MiB = 1024 * 1024
let dir: string
let server: ServerProcess
let A: string // laptop: set up the account
let B: string // phone: linked by short code
const files: Record<string, { path: string; sha: string; size: number }> = {}

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir()
  server = await startServer(join(dir, 'data'))
  A = join(dir, 'home-a')
  B = join(dir, 'home-b')
  await mkdir(join(dir, 'src'))
  for (const [name, size] of [
    ['empty.bin', 0],
    ['one-mib.bin', MiB],
    ['hundred-mib.bin', 100 * MiB],
  ] as const) {
    const path = join(dir, 'src', name)
    files[name] = { path, sha: await randomFile(path, size), size }
  }
})

afterAll(async () => {
  await server?.stop()
  if (dir) await removeDir(dir)
})

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777
}

describe('airlock CLI against a real server', () => {
  it('sets up an account from the admin setup code, with 0700/0600 files and a recovery key', async () => {
    expect(server.setupCode).toMatch(/^[0-9A-Z-]+$/)
    const recovery = join(dir, 'recovery.txt')
    // A wrong code is refused with a one-line error, and nothing is written.
    const bad = await cli(A, ['setup', server.url, '--username', 'alice', '--recovery-out', recovery], {
      env: { AIRLOCK_CODE: 'AAAA-BBBB-CCCC-DDDD-EEEE' },
    })
    expect(bad.code).toBe(5)
    expect(bad.stderr.trim().split('\n')).toHaveLength(1)
    const r = await cliJson<{ accountId: string; deviceId: string; admin: boolean; recoveryFile: string }>(
      A,
      ['setup', server.url, '--username', 'alice', '--name', 'laptop', '--recovery-out', recovery],
      { env: { AIRLOCK_CODE: server.setupCode! } },
    )
    expect(r.admin).toBe(true)
    expect(r.recoveryFile).toBe(recovery)
    expect(await mode(A)).toBe(0o700)
    expect(await mode(join(A, 'device.key'))).toBe(0o600)
    expect(await mode(recovery)).toBe(0o600)
    expect(await readFile(recovery, 'utf8')).toContain('airlock-recovery v1')
    const devices = await cliJson<{ devices: { name: string; kind: string; thisDevice: boolean }[] }>(A, [
      'devices',
    ])
    expect(devices.devices.map((d) => [d.name, d.kind, d.thisDevice])).toEqual([
      ['laptop', 'cli', true],
      ['recovery key', 'recovery', false],
    ])
    // The code was single-use: a second setup with it fails.
    const again = await cli(
      join(dir, 'home-x'),
      ['setup', server.url, '--username', 'mallory', '--recovery-out', '-'],
      {
        env: { AIRLOCK_CODE: server.setupCode! },
      },
    )
    expect(again.code).not.toBe(0)
  })

  it('links a second device by short code; both show the same confirmation fingerprint', async () => {
    const link = new CliProcess(B, ['--json', 'link', server.url, '--name', 'phone'])
    const m = await link.waitFor(/"code":"(\d{4}-\d{4}-\d{4})"/)
    const code = m[1]!
    const approve = await cli(A, ['--json', 'devices', 'approve'], { input: `${code}\ny\n` })
    expect(approve.code, approve.stderr).toBe(0)
    const linked = await link.exited
    expect(linked.code, linked.stderr).toBe(0)
    const newSide = link.events()
    const oldSide = approve.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const fpNew = newSide.find((e) => e.event === 'fingerprint')!.fingerprint
    const fpOld = oldSide.find((e) => e.event === 'device')!.fingerprint
    expect(fpNew).toMatch(/^\d{4}( \d{4}){5}$/)
    expect(fpOld).toBe(fpNew)
    expect(newSide.find((e) => e.event === 'linked')).toMatchObject({ username: 'alice' })
    const onB = await cliJson<{ devices: { name: string; thisDevice: boolean }[]; logFingerprint: string }>(
      B,
      ['devices'],
    )
    const onA = await cliJson<{ devices: unknown[]; logFingerprint: string }>(A, ['devices'])
    expect(onB.devices.find((d) => d.thisDevice)?.name).toBe('phone')
    expect(onB.logFingerprint).toBe(onA.logFingerprint)
    expect(onA.devices).toHaveLength(3)
  })

  it('sends a 0-byte file, a note, 1 MiB and 100 MiB; each arrives on the other device via watch, byte-identical', async () => {
    const inbox = join(dir, 'inbox-b')
    const watch = new CliProcess(B, ['--json', 'watch', '--dir', inbox])
    try {
      const sent = await cliJson<{ sent: { itemId: string }[] }>(A, [
        'send',
        files['empty.bin']!.path,
        files['one-mib.bin']!.path,
      ])
      expect(sent.sent).toHaveLength(2)
      await cliJson(A, ['note', 'hello from the laptop ✓'])
      await cliJson(A, ['send', files['hundred-mib.bin']!.path])
      await watch.waitFor(/hundred-mib\.bin/, 120_000)
      const received = watch.events().filter((e) => e.event === 'received')
      expect(received).toHaveLength(4)
      for (const name of ['empty.bin', 'one-mib.bin', 'hundred-mib.bin']) {
        const ev = received.find((e) => e.name === name)!
        expect(ev.path).toBe(join(inbox, name))
        expect(ev.size).toBe(files[name]!.size)
        expect(await sha256File(ev.path as string)).toBe(files[name]!.sha)
      }
      const note = received.find((e) => e.kind === 'note')!
      expect(await readFile(note.path as string, 'utf8')).toBe('hello from the laptop ✓')
      // No temporary files are left behind.
      expect((await readdir(inbox)).filter((f) => f.startsWith('.'))).toEqual([])
    } finally {
      watch.proc.kill('SIGTERM')
    }
    const stopped = await watch.exited
    expect(stopped.code).toBe(0)
  })

  it('inbox lists names only from verified manifests; get never overwrites', async () => {
    const list = await cliJson<{
      items: { itemId: string; name: string | null; verified: boolean; fromName: string }[]
    }>(B, ['inbox'])
    expect(list.items.filter((i) => i.verified).map((i) => i.name)).toEqual([
      'empty.bin',
      'one-mib.bin',
      null,
      'hundred-mib.bin',
    ])
    expect(list.items.every((i) => i.fromName === 'laptop')).toBe(true)
    const one = list.items.find((i) => i.name === 'one-mib.bin')!
    const out = join(dir, 'get-b')
    const first = await cliJson<{ path: string }>(B, ['get', '--out', out, '--', one.itemId])
    const second = await cliJson<{ path: string }>(B, ['get', '--out', out, '--', one.itemId])
    expect(first.path).toBe(join(out, 'one-mib.bin'))
    expect(second.path).toBe(join(out, 'one-mib (2).bin'))
    expect(await sha256File(second.path)).toBe(files['one-mib.bin']!.sha)
  })

  it('sends a directory keeping relative names, and a hostile name stays inside the folder, unescaped nowhere', async () => {
    const tree = join(dir, 'src', 'tree')
    await mkdir(join(tree, 'sub'), { recursive: true })
    await writeFile(join(tree, 'a.txt'), 'A')
    await writeFile(join(tree, 'sub', 'b.txt'), 'B')
    const plain = join(dir, 'src', 'plain.txt')
    await writeFile(plain, 'x')
    const sentTree = await cliJson<{ sent: { itemId: string; name: string }[] }>(A, ['send', tree])
    expect(sentTree.sent.map((i) => i.name)).toEqual(['tree/a.txt', 'tree/sub/b.txt'])
    const hostile = '../../\u001b[2J\u202Eevil.txt'
    const sentHostile = await cliJson<{ sent: { itemId: string; name: string }[] }>(A, [
      'send',
      '--name',
      hostile,
      plain,
    ])
    const all = [...sentTree.sent, ...sentHostile.sent]
    const out = join(dir, 'tree-out')
    for (const item of all) {
      const r = await cli(B, ['get', '--out', out, '--', item.itemId])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).not.toMatch(/[\u001b\u202e]/)
    }
    expect(await readFile(join(out, 'tree', 'a.txt'), 'utf8')).toBe('A')
    expect(await readFile(join(out, 'tree', 'sub', 'b.txt'), 'utf8')).toBe('B')
    expect((await readdir(out)).sort()).toEqual(['[2Jevil.txt', 'tree'])
    const inbox = await cli(B, ['inbox'])
    expect(inbox.stdout).not.toMatch(/[\u001b\u202e]/)
    expect(inbox.stdout).toContain('\\u{1b}')
    for (const item of all) await cliJson(A, ['rm', '--', item.itemId])
  })

  it('refuses a blob the server altered: get fails with a clear error and writes nothing', async () => {
    const path = join(dir, 'src', 'tamper.bin')
    await randomFile(path, MiB)
    const sent = await cliJson<{ sent: { itemId: string }[] }>(A, ['send', path])
    const id = sent.sent[0]!.itemId
    const blob = join(server.dataDir, 'blobs', 'blobs', id.slice(0, 2), id)
    const fh = await open(blob, 'r+')
    const byte = Buffer.alloc(1)
    await fh.read(byte, 0, 1, 500_000)
    byte[0]! ^= 0x01
    await fh.write(byte, 0, 1, 500_000)
    await fh.close()
    const out = join(dir, 'get-tampered')
    const r = await cli(B, ['get', '--out', out, '--', id])
    expect(r.code).toBe(6)
    expect(r.stderr).toMatch(/does not match what the sender signed/)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(await readdir(out).catch(() => [])).toEqual([])
    expect(await readdir(join(B, 'downloads'))).toEqual([])
    // The sender deletes it; then it is gone for everyone.
    expect((await cliJson<{ deleted: string }>(A, ['rm', '--', id])).deleted).toBe(id)
    expect((await cli(B, ['get', '--out', out, '--', id])).code).toBe(7)
  })

  it('links a third device by its QR link, then removes it: it can no longer log in', async () => {
    const C = join(dir, 'home-c')
    const link = new CliProcess(C, ['--json', 'link', server.url, '--name', 'tablet'])
    const m = await link.waitFor(/"link":"([^"]+)"/)
    const approve = await cli(A, ['--json', 'devices', 'approve'], { input: `${m[1]}\ny\n` })
    expect(approve.code, approve.stderr).toBe(0)
    const linked = await link.exited
    expect(linked.code, linked.stderr).toBe(0)
    const cId = link.events().find((e) => e.event === 'linked')!.deviceId as string
    expect((await cli(C, ['inbox'])).code).toBe(0)

    // A wrong code burns the session on both sides: one guess per code.
    const D = join(dir, 'home-d')
    const link1 = new CliProcess(D, ['--json', 'link', server.url, '--name', 'guessed'])
    const code1 = (await link1.waitFor(/"code":"(\d{4}-\d{4}-\d{4})"/))[1]!
    const wrong = code1.slice(0, -1) + String((Number(code1.at(-1)) + 1) % 10)
    const guess = await cli(A, ['devices', 'approve'], { input: `${wrong}\ny\n` })
    expect(guess.code).not.toBe(0)
    const burnt = await link1.exited
    expect(burnt.code).toBe(6)
    expect(burnt.stderr).toMatch(/linking code did not match/)

    // Declining on the existing device adds nothing and ends the new device's wait.
    // Without --json the new device draws its QR code (qrcode is loaded on demand, so this also
    // checks that the one-file build carries it) and prints the short code below it.
    const link2 = new CliProcess(D, ['link', server.url, '--name', 'stranger'])
    const code2 = (await link2.waitFor(/^ {4}(\d{4}-\d{4}-\d{4})$/m))[1]!
    expect(link2.stdout).toMatch(/[▄▀█]{7}/)
    expect(link2.stdout).toContain('Scan the QR code')
    const declined = await cli(A, ['devices', 'approve'], { input: `${code2}\nn\n` })
    expect(declined.code).toBe(130)
    expect((await link2.exited).code).toBe(130)

    const removed = await cliJson<{ removed: string }>(A, ['devices', 'remove', '--', cId])
    expect(removed.removed).toBe(cId)
    const after = await cli(C, ['inbox'])
    expect(after.code).toBe(5)
    expect(after.stderr).toMatch(/refused this device/)
    // The other device is told of the removal on its next sync.
    const onB = await cli(B, ['devices'])
    expect(onB.stderr).toMatch(/"tablet" .* was added/)
    expect(onB.stderr).toMatch(/"tablet" .* was removed/)
    expect(onB.stdout).not.toContain('tablet')
  })

  it('exports every item so that Debian age -d -i decrypts it byte-identical', async () => {
    const out = join(dir, 'export')
    const r = await cliJson<{
      identity: string
      exported: { itemId: string; path: string }[]
      failed: unknown[]
    }>(A, ['export', out])
    expect(r.failed).toEqual([])
    expect(await mode(r.identity)).toBe(0o600)
    const byName = new Map(r.exported.map((e) => [e.path.slice(out.length + 1), e.path]))
    for (const name of ['empty.bin', 'one-mib.bin', 'hundred-mib.bin']) {
      const file = byName.get(`${name}.age`)!
      const plain = execFileSync('/usr/bin/age', ['-d', '-i', r.identity, file], { maxBuffer: 200 * MiB })
      expect(createHash('sha256').update(plain).digest('hex')).toBe(files[name]!.sha)
    }
    const note = [...byName.entries()].find(([n]) => n.startsWith('note-'))!
    expect(execFileSync('/usr/bin/age', ['-d', '-i', r.identity, note[1]], { encoding: 'utf8' })).toBe(
      'hello from the laptop ✓',
    )
    expect(r.exported).toHaveLength(4)
  })

  it('recovers the account on a fresh machine with the paper recovery key', async () => {
    const E = join(dir, 'home-e')
    const r = await cliJson<{ username: string; deviceId: string }>(E, [
      'recover',
      server.url,
      join(dir, 'recovery.txt'),
      '--name',
      'new-laptop',
    ])
    expect(r.username).toBe('alice')
    const devices = await cliJson<{ devices: { name: string; thisDevice: boolean }[] }>(E, ['devices'])
    expect(devices.devices.find((d) => d.thisDevice)?.name).toBe('new-laptop')
    // The recovered device receives what is sent from now on.
    await cliJson(A, ['note', 'after recovery'])
    const got = await cliJson<{ items: { kind?: string; verified: boolean }[] }>(E, ['inbox'])
    expect(got.items.filter((i) => i.verified && i.kind === 'note')).toHaveLength(1)

    // A new recovery key replaces the old one, which is then revoked and stops working.
    const second = join(dir, 'recovery-2.txt')
    const made = await cliJson<{ recoveryDeviceId: string }>(A, [
      'devices',
      'add-recovery',
      '--recovery-out',
      second,
    ])
    expect(await mode(second)).toBe(0o600)
    const oldId = (
      await cliJson<{ devices: { deviceId: string; kind: string }[] }>(A, ['devices'])
    ).devices.find((d) => d.kind === 'recovery' && d.deviceId !== made.recoveryDeviceId)!.deviceId
    await cliJson(A, ['devices', 'remove', '--', oldId])
    const refused = await cli(join(dir, 'home-f'), ['recover', server.url, join(dir, 'recovery.txt')])
    expect(refused.code).toBe(5)
  })

  it('finishes a 100 MiB send after the CLI is killed, and resumes it after the server is killed (-9) and restarted', async () => {
    const staging = join(server.dataDir, 'blobs', 'staging')
    const waitStaged = async (min: number) => {
      for (let i = 0; i < 600; i++) {
        for (const f of await readdir(staging)) {
          if (!f.endsWith('.length') && ((await stat(join(staging, f)).catch(() => null))?.size ?? 0) >= min)
            return
        }
        await sleep(20)
      }
      throw new Error('the upload did not start')
    }
    // 1. The CLI dies mid-upload; `airlock send` of the same file finishes it, once (a quick
    //    upload held its ciphertext in memory, so it is sent again from the file).
    const send = new CliProcess(A, ['--json', 'send', files['hundred-mib.bin']!.path], {
      env: { AIRLOCK_RETRY_SECONDS: '2' },
    })
    await waitStaged(20 * MiB)
    send.proc.kill('SIGKILL')
    await send.exited
    // The interrupted entry is left (its ciphertext was in memory, or spooled if it was slow).
    expect((await readdir(join(A, 'outbox'))).some((f) => f.endsWith('.json'))).toBe(true)
    const again = await cliJson<{ sent: { itemId: string }[] }>(A, ['send', files['hundred-mib.bin']!.path])
    expect(again.sent).toHaveLength(1)
    expect(await readdir(join(A, 'outbox'))).toEqual([])

    // 2. The server dies (-9) mid-upload, with a watch connected; the CLI keeps the upload for
    //    `airlock resume`, the watch reconnects to the restarted server and catches up.
    const inbox = join(dir, 'inbox-b2')
    const watch = new CliProcess(B, ['--json', 'watch', '--dir', inbox])
    try {
      await watch.waitFor(/"name":"hundred-mib.bin"/, 60_000)
      const send2 = new CliProcess(A, ['--json', 'send', files['hundred-mib.bin']!.path], {
        env: { AIRLOCK_RETRY_SECONDS: '1' },
      })
      await waitStaged(20 * MiB)
      await server.stop('SIGKILL')
      const interrupted = await send2.exited
      expect(interrupted.code, interrupted.stderr).toBe(8)
      expect(interrupted.stderr).toMatch(/airlock resume/)
      server = await startServer(server.dataDir, { port: server.port })
      // No partial item is ever listed.
      const before = await cliJson<{ items: { name: string | null }[] }>(B, ['inbox'])
      expect(before.items.filter((i) => i.name === 'hundred-mib.bin')).toHaveLength(2)
      const resumed = await cliJson<{ sent: { itemId: string }[] }>(A, ['resume'])
      expect(resumed.sent).toHaveLength(1)
      await cliJson(A, ['note', 'after the restart'])
      const restartNote = async () => {
        for (const e of watch.events()) {
          if (e.event === 'received' && e.kind === 'note') {
            if ((await readFile(e.path as string, 'utf8')) === 'after the restart') return true
          }
        }
        return false
      }
      await until(restartNote, 90_000)
      const bigs = watch.events().filter((e) => e.event === 'received' && e.name === 'hundred-mib.bin')
      expect(bigs).toHaveLength(2)
      for (const e of bigs) expect(await sha256File(e.path as string)).toBe(files['hundred-mib.bin']!.sha)
    } finally {
      watch.proc.kill('SIGTERM')
      await watch.exited
    }
  })

  it('resumes an interrupted download with a Range request, and discards a corrupted partial one', async () => {
    const list = await cliJson<{ items: { itemId: string; name: string | null }[] }>(B, ['inbox'])
    const id = list.items.find((i) => i.name === 'one-mib.bin')!.itemId
    const blob = await readFile(join(server.dataDir, 'blobs', 'blobs', id.slice(0, 2), id))
    const part = join(B, 'downloads', `${id}.part`)
    await writeFile(part, blob.subarray(0, 300_000), { mode: 0o600 })
    const out = join(dir, 'ranged')
    const got = await cliJson<{ path: string }>(B, ['get', '--out', out, '--', id])
    expect(await sha256File(got.path)).toBe(files['one-mib.bin']!.sha)
    expect(server.output()).toMatch(new RegExp(`"path":"/api/v1/items/${id}/blob","status":206`))
    // A partial file that does not match is caught by the hash check and thrown away.
    const bad = Buffer.from(blob.subarray(0, 300_000))
    bad[1000]! ^= 1
    await writeFile(part, bad, { mode: 0o600 })
    const refused = await cli(B, ['get', '--out', out, '--', id])
    expect(refused.code).toBe(6)
    expect(await readdir(join(B, 'downloads'))).toEqual([])
    const again = await cliJson<{ path: string }>(B, ['get', '--out', out, '--', id])
    expect(await sha256File(again.path)).toBe(files['one-mib.bin']!.sha)
  })

  it('leaves no plaintext, filename or key on the server (database, blobs, logs)', async () => {
    const secrets = [
      'one-mib.bin',
      'hundred-mib.bin',
      'hello from the laptop',
      'tamper.bin',
      ...(await readFile(join(A, 'device.key'), 'utf8'))
        .split('\n')
        .slice(4, 7)
        .map((l) => l.split(' ')[1]!),
    ]
    const sample = (await readFile(files['one-mib.bin']!.path)).subarray(4096, 4096 + 32)
    const needles = [...secrets.map((s) => Buffer.from(s)), sample]
    const logs = join(dir, 'server-log.txt')
    await writeFile(logs, server.output())
    const scan = async (path: string): Promise<void> => {
      const st = await stat(path)
      if (st.isDirectory()) {
        for (const f of await readdir(path)) await scan(join(path, f))
        return
      }
      const data = await readFile(path)
      for (const n of needles) expect(data.includes(n), `${path} contains a secret`).toBe(false)
    }
    await scan(server.dataDir)
    await scan(logs)
  })
})
