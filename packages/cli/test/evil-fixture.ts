import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  canonicalJson,
  type DeviceSecrets,
  decodeSignedManifest,
  decryptBytes,
  encryptBytes,
  MANIFEST_CONTEXT,
  type Manifest,
  signCanonical,
  utf8,
  type VerifiedLog,
  verifyLog,
} from '@airlock/core'
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { Decrypter } from 'age-encryption'
import { expect } from 'vitest'
import { CliProcess, cli, cliJson, type Run } from '../../../test-support/harness.js'
import { homePaths, loadDevice } from '../src/config.js'
import type { EvilServer } from './evil-server.js'

/**
 * What the evil-server tests share: accounts and devices made with the real CLI through the
 * proxy, the keys a test needs to play a compromised co-recipient, and the "nothing was written"
 * check.
 */

/** Sets up an account on `home` with a setup or invite code; returns its ids. */
export async function setupAccount(
  evil: EvilServer,
  home: string,
  username: string,
  code: string,
): Promise<{ accountId: string; deviceId: string }> {
  return cliJson(
    home,
    [
      'setup',
      evil.url,
      '--username',
      username,
      '--name',
      `${username}-laptop`,
      '--recovery-out',
      join(home, '..', `${username}-recovery.txt`),
    ],
    {
      env: { AIRLOCK_CODE: code },
    },
  )
}

/** Links `newHome` to the account of `existingHome` by short code; returns the new device id. */
export async function linkDevice(
  evil: EvilServer,
  existingHome: string,
  newHome: string,
  name: string,
): Promise<{ deviceId: string; code: string }> {
  const link = new CliProcess(newHome, ['--json', 'link', evil.url, '--name', name])
  const code = (await link.waitFor(/"code":"(\d{4}-\d{4}-\d{4})"/))[1]!
  const approve = await cli(existingHome, ['--json', 'devices', 'approve'], { input: `${code}\ny\n` })
  expect(approve.code, approve.stderr).toBe(0)
  const linked = await link.exited
  expect(linked.code, linked.stderr).toBe(0)
  return { deviceId: link.events().find((e) => e.event === 'linked')!.deviceId as string, code }
}

/** An admin's one-time invite code. */
export async function invite(home: string): Promise<string> {
  return (await cliJson<{ code: string }>(home, ['invite'])).code
}

/** The device keys stored in a CLI home (a test playing that device after it was compromised). */
export function deviceSecrets(home: string): Promise<DeviceSecrets> {
  return loadDevice(homePaths(home))
}

/** The device log a home has pinned, verified again. */
export async function pinnedLog(home: string): Promise<VerifiedLog> {
  const file = JSON.parse(await readFile(homePaths(home).log, 'utf8')) as {
    accountId: string
    entries: unknown[]
  }
  return verifyLog(file.accountId, file.entries)
}

export async function pinnedLogText(home: string): Promise<string> {
  return readFile(homePaths(home).log, 'utf8')
}

/** Opens a sealed manifest with a recipient's keys: what a compromised co-recipient can read. */
export async function readManifest(
  sealed: Uint8Array,
  as: DeviceSecrets,
): Promise<{ manifest: Manifest; sig: string }> {
  return decodeSignedManifest(await decryptBytes([as.ageIdentity], sealed))
}

/** Signs `manifest` with `signer` (or leaves it unsigned) and seals it to `to`. */
export async function forgeManifest(
  manifest: Manifest,
  to: DeviceSecrets[],
  signer: DeviceSecrets | null,
): Promise<Uint8Array> {
  const m = manifest as unknown as Parameters<typeof canonicalJson>[0]
  const value: Parameters<typeof canonicalJson>[0] = signer
    ? { manifest: m, sig: signCanonical(signer, MANIFEST_CONTEXT, m) }
    : { manifest: m }
  return encryptBytes(
    to.map((d) => d.record.recipient),
    utf8(canonicalJson(value)),
  )
}

/** The typed error code of a `--json` run that failed (the last line of stderr). */
export function errorCode(r: Run): string | null {
  const last = r.stderr.trim().split('\n').at(-1) ?? ''
  try {
    return (JSON.parse(last) as { error?: { code?: string } }).error?.code ?? null
  } catch {
    return null
  }
}

/** The refusal every tampering must produce: the typed error and the exit code (6: did not verify). */
export function expectRefused(r: Run, code: string, exit = 6): void {
  expect(errorCode(r), r.stderr).toBe(code)
  expect(r.code, r.stderr).toBe(exit)
}

/** Nothing was written: no file in `out` and no partial download left in the home. */
export async function expectNothingWritten(home: string, out: string): Promise<void> {
  expect(await readdir(out).catch(() => [])).toEqual([])
  expect(await readdir(homePaths(home).downloads).catch(() => [])).toEqual([])
}

const CHUNK = 64 * 1024
const SEALED_CHUNK = CHUNK + 16

/** Splits an age file into its header and payload nonce, and its sealed payload chunks. */
export function payloadChunks(blob: Uint8Array): { prefix: Buffer; chunks: Buffer[] } {
  const b = Buffer.from(blob)
  const mac = b.indexOf('\n---')
  const start = b.indexOf(0x0a, mac + 1) + 1 + 16
  const chunks: Buffer[] = []
  for (let i = start; i < b.length; i += SEALED_CHUNK) chunks.push(b.subarray(i, i + SEALED_CHUNK))
  return { prefix: b.subarray(0, start), chunks }
}

/**
 * What a malicious co-recipient can do: keep the sender's header (and so its file key, which
 * it can unwrap) and encrypt another payload under it (age STREAM, written out here).
 */
export async function forgeSameHeader(
  blob: Uint8Array,
  identity: string,
  padded: Uint8Array,
): Promise<Uint8Array> {
  const { prefix } = payloadChunks(blob)
  const header = prefix.subarray(0, prefix.length - 16)
  const nonce = prefix.subarray(prefix.length - 16)
  const d = new Decrypter()
  d.addIdentity(identity)
  const key = hkdf(sha256, await d.decryptHeader(header), nonce, utf8('payload'), 32)
  const parts: Uint8Array[] = [prefix]
  const count = Math.max(1, Math.ceil(padded.length / CHUNK))
  for (let i = 0; i < count; i++) {
    const n = new Uint8Array(12)
    new DataView(n.buffer).setUint32(7, i)
    if (i === count - 1) n[11] = 1
    parts.push(chacha20poly1305(key, n).encrypt(padded.subarray(i * CHUNK, (i + 1) * CHUNK)))
  }
  return Buffer.concat(parts)
}
