import { mkdir, open } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import {
  type CommittedItem,
  encryptStream,
  encryptStreamWithPassphrase,
  exportAgeIdentity,
  printable,
} from '@airlock/core'
import { nodeAead } from '@airlock/core/node'
import type { Context } from '../context.js'
import { openReceived } from '../download.js'
import { CliError, describeError } from '../errors.js'
import { itemFileName, listItems } from '../items.js'
import { receivedMode, saveStream } from '../placement.js'
import { readLine, readSecret } from '../prompt.js'
import { checkRisk, reportRisk, type riskJson } from '../risky.js'
import { Session } from '../session.js'

export interface ExportOptions {
  decrypted?: boolean
  /** Permissions of the written files (`--mode`, default 600). */
  mode?: string
  passphrase?: boolean
  passphraseFile?: string
}

const IDENTITY_FILE = 'airlock-identity.txt'

/**
 * `airlock export <dir>`: every item, verified first, written as
 *  - (default) `<name>.age` files encrypted to this device's X25519 age recipient, plus
 *    `airlock-identity.txt`, so the standard `age` tool (also Debian's 1.1.1, which predates
 *    post-quantum keys) decrypts them: `age -d -i airlock-identity.txt file.age > file`.
 *    Items are stored encrypted to post-quantum hybrid recipients, which such `age` versions
 *    cannot read, so each verified item is re-encrypted rather than copied;
 *  - `--passphrase`: `.age` files encrypted to a passphrase (age scrypt), no identity file;
 *  - `--decrypted`: the plain files.
 */
export async function exportItems(ctx: Context, dir: string, opts: ExportOptions): Promise<void> {
  const { out } = ctx
  if (opts.decrypted && opts.passphrase)
    throw new CliError('USAGE', 'choose --decrypted or --passphrase, not both')
  const mode = receivedMode(opts.mode)
  const dest = resolve(dir)
  const s = await Session.open(ctx.home, out)
  const passphrase = opts.passphrase ? await askPassphrase(opts.passphraseFile) : null
  await mkdir(dest, { recursive: true, mode: 0o700 })

  let identityPath: string | null = null
  if (!opts.decrypted && !opts.passphrase) {
    identityPath = join(dest, IDENTITY_FILE)
    const fh = await open(identityPath, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST')
        throw new CliError('USAGE', `${identityPath} exists; export into a new directory`)
      throw e
    })
    await fh.writeFile(exportAgeIdentity(s.device))
    await fh.close()
  }

  const items = (await listItems(s)).filter((i): i is CommittedItem => !i.deleted)
  const exported: { itemId: string; path: string; risk?: ReturnType<typeof riskJson> }[] = []
  const failed: { itemId: string; code: string; message: string }[] = []
  for (const item of items) {
    try {
      const { manifest, plaintext, done } = await openReceived(s, item, out)
      const name = itemFileName(manifest)
      if (opts.decrypted) {
        const path = await saveStream(dest, name, plaintext, mode)
        await done()
        // Plain files are checked as `get` checks them; .age files cannot run as they are.
        const risk = manifest.kind === 'file' ? reportRisk(out, path, await checkRisk(path, name)) : null
        exported.push({ itemId: item.itemId, path, risk })
      } else {
        const encrypted = passphrase
          ? await encryptStreamWithPassphrase(passphrase, plaintext, { aead: nodeAead })
          : await encryptStream([s.device.record.x25519Recipient], plaintext, { aead: nodeAead })
        const path = await saveStream(dest, `${name}.age`, encrypted, mode)
        await done()
        exported.push({ itemId: item.itemId, path })
      }
      out.info(`exported ${printable(exported.at(-1)!.path)}`)
    } catch (e) {
      const d = describeError(e)
      failed.push({ itemId: item.itemId, code: d.code, message: d.message })
      out.warn(`could not export ${item.itemId}: ${d.message}`)
    }
  }
  out.result({ dir: dest, identity: identityPath, exported, failed }, [
    `${exported.length} item(s) exported to ${dest}${failed.length ? `, ${failed.length} failed` : ''}.`,
    ...(identityPath
      ? [
          `Decrypt with the standard age tool: age -d -i ${identityPath} FILE.age > FILE`,
          `${IDENTITY_FILE} is this device's private key: keep it as safe as the files themselves.`,
        ]
      : opts.passphrase
        ? ['Decrypt with the standard age tool: age -d FILE.age > FILE (it asks for the passphrase)']
        : []),
  ])
  if (failed.length > 0) throw new CliError('IO', `${failed.length} item(s) could not be exported`)
}

async function askPassphrase(file: string | undefined): Promise<string> {
  const p = await readSecret({ env: 'AIRLOCK_PASSPHRASE', file, question: 'Passphrase for the export: ' })
  if (process.stdin.isTTY && !process.env.AIRLOCK_PASSPHRASE && file === undefined) {
    if ((await readLine('Repeat the passphrase: ', { hidden: true })) !== p) {
      throw new CliError('USAGE', 'the passphrases differ')
    }
  }
  if (p.length < 8) throw new CliError('USAGE', 'use a passphrase of at least 8 characters')
  return p
}
