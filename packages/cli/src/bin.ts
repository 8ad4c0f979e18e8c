#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=33554432 node
// glibc keeps freed memory (up to 64 MiB) instead of returning it and faulting it in again for
// every next chunk of a large file: 5–10 % less CPU per GiB sent. See "Performance" in the README.
import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { accesses } from './commands/accesses.js'
import {
  invite,
  listAllShares,
  listUsers,
  POLICY_KEYS,
  revokeAnyShare,
  setDisabled,
  setPolicy,
  setQuota,
  showPolicy,
} from './commands/admin.js'
import {
  addColleague,
  changeGroup,
  createGroup,
  forgetColleague,
  groupInfo,
  listColleagues,
  listGroups,
  verifyColleague,
} from './commands/colleagues.js'
import { addRecovery, approveDevice, listDevices, removeDevice } from './commands/devices.js'
import { type ExportOptions, exportItems } from './commands/export.js'
import { get, inbox, rm } from './commands/inbox.js'
import { link } from './commands/link.js'
import { recover } from './commands/recover.js'
import { answerRequest, blockColleague, listRequests } from './commands/requests.js'
import { retention } from './commands/retention.js'
import { note, resume, send } from './commands/send.js'
import { setup } from './commands/setup.js'
import { listShares, openLink, revokeShare, share } from './commands/share.js'
import { verifyWeb } from './commands/verify-web.js'
import { type WatchOptions, watch } from './commands/watch.js'
import { resolveHome } from './config.js'
import type { Context } from './context.js'
import { describeError, EXIT } from './errors.js'
import { Output } from './output.js'
import { CLI_ROOT } from './paths.js'
import { closeInput } from './prompt.js'

const version = (JSON.parse(readFileSync(new URL('package.json', CLI_ROOT), 'utf8')) as { version: string })
  .version

const program = new Command('airlock')
  .description('Airlock: send files and notes end-to-end encrypted between your own devices.')
  .version(version)
  .option('--home <dir>', 'configuration directory (default: $AIRLOCK_HOME or ~/.config/airlock)')
  .option('--json', 'machine-readable output on stdout (one JSON document, or one per line for streams)')
  .showHelpAfterError()
  .exitOverride()
  .addHelpText(
    'after',
    `
Secrets are never read from the command line. They come from, in order:
  AIRLOCK_CODE          invite or setup code (setup), or --code-file FILE
  AIRLOCK_LINK_CODE     linking code or link (devices approve), or --code-file FILE
  AIRLOCK_PASSPHRASE    export or share-link passphrase, or --passphrase-file FILE
  otherwise a prompt on the terminal, or one line of standard input.

Exit codes: 0 ok, 1 failure, 2 usage or malformed input (a key, a link), 3 not set up /
configuration, 4 server unreachable, 5 login refused (device removed?) or wrong passphrase,
6 verification failed (nothing was written), 7 not found (or expired, used up or revoked: a
share link, a linking code), 8 upload interrupted (run \`airlock resume\`), 9 an access log
does not verify (tampered), 10 not an administrator, 11 refused by the organisation's policy,
130 cancelled.`,
  )

/** Runs a command with its context; every failure becomes one line on stderr and an exit code. */
function action<A extends unknown[]>(f: (ctx: Context, ...args: A) => Promise<void>) {
  return async (...args: unknown[]) => {
    const cmd = args.at(-1) as Command
    const g = cmd.optsWithGlobals<{ home?: string; json?: boolean }>()
    const out = new Output({ json: Boolean(g.json) })
    const ctx: Context = { home: resolveHome(g.home), out }
    let code: number = EXIT.ok
    try {
      await f(ctx, ...(args.slice(0, -1).map(unprotect) as A))
    } catch (e) {
      const d = describeError(e)
      if (out.json)
        process.stderr.write(`${JSON.stringify({ error: { code: d.code, message: d.message } })}\n`)
      else process.stderr.write(`airlock: ${d.message}\n`)
      if (process.env.AIRLOCK_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`)
      code = d.exit
    } finally {
      closeInput()
    }
    // Into a pipe, output is written asynchronously: exiting before it is flushed would cut it off
    // (a `--json` line for thousands of files is far longer than a pipe holds).
    await flushed(process.stdout)
    await flushed(process.stderr)
    process.exit(code)
  }
}

// Ids are random base64url, so one in 64 starts with '-' and commander would read it as an
// option (`airlock get -Xb…` failed with "unknown option"). Before parsing, an argument shaped like
// an id (22 characters) that is no option of ours is marked, and the mark is removed again before
// the command sees it, in arguments and option values alike.
const ID_LIKE = /^-[A-Za-z0-9_-]{21}$/
const MARK = '\u{E000}'

function protectIds(argv: string[], root: Command): string[] {
  const flags = new Set(['-h', '--help', '-V', '--version'])
  const visit = (c: Command): void => {
    for (const o of c.options) for (const f of [o.long, o.short]) if (f) flags.add(f)
    c.commands.forEach(visit)
  }
  visit(root)
  return argv.map((a) => (ID_LIKE.test(a) && !flags.has(a) ? MARK + a : a))
}

function unprotect(v: unknown): unknown {
  if (typeof v === 'string') return v.startsWith(MARK) ? v.slice(MARK.length) : v
  if (Array.isArray(v)) return v.map(unprotect)
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unprotect(x)]))
  return v
}

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  // The callback runs once everything written before it is out (or the stream failed).
  return new Promise((resolve) => stream.write('', () => resolve()))
}

program
  .command('setup <server-url>')
  .description('create an account (with an invite or the admin setup code) and make this its first device')
  .option('--username <name>', 'account name (asked for if absent)')
  .option('--name <device-name>', 'name of this device (default: the host name)')
  .option('--code-file <file>', 'read the invite or setup code from this file (- for stdin)')
  .option(
    '--recovery-out <file>',
    'where to write the recovery key (default ./airlock-recovery-<user>.txt; - for stdout)',
  )
  .action(action((ctx, url: string, o: Record<string, string>) => setup(ctx, url, o)))

program
  .command('link <server-url>')
  .description('make this a new device of an existing account: shows a QR code and a short code to approve')
  .option('--name <device-name>', 'name of this device (default: the host name)')
  .action(action((ctx, url: string, o: { name?: string }) => link(ctx, url, o)))

program
  .command('recover <server-url> <recovery-file>')
  .description('make this a device of the account with the paper recovery key (- reads it from stdin)')
  .option('--name <device-name>', 'name of this device (default: the host name)')
  .action(action((ctx, url: string, file: string, o: { name?: string }) => recover(ctx, url, file, o)))

const devices = program
  .command('devices')
  .description('list the devices of the account (from the verified device log)')
  .option('--all', 'include removed devices')
  .action(action((ctx, o: { all?: boolean }) => listDevices(ctx, o)))
devices
  .command('approve')
  .description('add a new device that runs `airlock link`, after comparing its confirmation code')
  .option('--code-file <file>', 'read the code or link from this file (- for stdin)')
  .action(action((ctx, o: { codeFile?: string }) => approveDevice(ctx, o)))
devices
  .command('add-recovery')
  .description('make a new paper recovery key (remove a lost one with `devices remove`)')
  .option('--recovery-out <file>', 'where to write it (default ./airlock-recovery-<user>.txt; - for stdout)')
  .action(action((ctx, o: { recoveryOut?: string }) => addRecovery(ctx, o)))
devices
  .command('remove <device-id>')
  .description('remove a device: it can no longer log in or receive new items')
  .action(action((ctx, id: string) => removeDevice(ctx, id)))

program
  .command('send <paths...>')
  .description(
    'send files (a directory as its files, - for stdin) to all my devices, or --to a colleague or group',
  )
  .option('--name <name>', 'the name to give stdin (or a single file)')
  .option(
    '--to <who>',
    "a colleague's username (a bare name is never a group), a group ('#name') or a conversation id (default: my own devices)",
  )
  .option(
    '--label <label>',
    "a sensitivity label from the organisation's policy (see `airlock admin policy`)",
  )
  .action(
    action((ctx, paths: string[], o: { name?: string; to?: string; label?: string }) => send(ctx, paths, o)),
  )

program
  .command('note [text]')
  .description(
    'send a text note to all my devices, or --to a colleague or group (from stdin when no text or -)',
  )
  .option(
    '--to <who>',
    "a colleague's username (a bare name is never a group), a group ('#name') or a conversation id (default: my own devices)",
  )
  .option('--label <label>', "a sensitivity label from the organisation's policy")
  .action(action((ctx, text: string | undefined, o: { to?: string; label?: string }) => note(ctx, text, o)))

program
  .command('resume')
  .description('finish uploads an interrupted `airlock send` left behind')
  .action(action((ctx) => resume(ctx)))

program
  .command('inbox')
  .description('list the items of all my conversations (only what verifies is shown)')
  .option('--in <who>', "only this conversation: me, a colleague's username, '#group' or a conversation id")
  .action(action((ctx, o: { in?: string }) => inbox(ctx, o)))

const MODE_HELP = 'permissions of saved files, octal (default 600: only you can read them; never executable)'

program
  .command('get <item-id>')
  .description('download, verify and save an item (never overwrites)')
  .option('--out <dir>', 'where to save it (default: the current directory)')
  .option('--mode <octal>', MODE_HELP)
  .action(action((ctx, id: string, o: { out?: string; mode?: string }) => get(ctx, id, o)))

program
  .command('watch')
  .description(
    'stay connected and save the items my other devices send me; items from colleagues and groups only with --from or --all-accepted',
  )
  .option('--dir <dir>', 'where to save items (default: the current directory)')
  .option(
    '--from <who>',
    "also save what arrives from a colleague (bob), a group ('#team') or a conversation id; repeatable",
    (v: string, prev: string[]) => [...prev, v],
    [] as string[],
  )
  .option('--all-accepted', 'also save what arrives in every conversation I am in')
  .option('--mode <octal>', MODE_HELP)
  .action(action((ctx, o: WatchOptions) => watch(ctx, o)))

program
  .command('retention [duration]')
  .description(
    "show or set how long my items are kept (e.g. 30d, 12h, or 'none'); applies to items sent from now on",
  )
  .action(action((ctx, value: string | undefined) => retention(ctx, value)))

program
  .command('rm <item-id>')
  .description('delete an item from the server')
  .action(action((ctx, id: string) => rm(ctx, id)))

program
  .command('accesses <item-id>')
  .description(
    'who downloaded an item I sent (device or link), when and from where; verifies the hash-chained log (exit 9 if it was tampered with)',
  )
  .action(action((ctx, id: string) => accesses(ctx, id)))

program
  .command('export <dir>')
  .description(
    "export every item for the standard age tool: .age files re-encrypted to this device's X25519 key plus its identity file (age 1.1 cannot read post-quantum items), or --passphrase, or --decrypted",
  )
  .option('--decrypted', 'write the plain files instead')
  .option('--passphrase', 'encrypt to a passphrase (age scrypt) instead of the identity')
  .option('--passphrase-file <file>', 'read the passphrase from this file (- for stdin)')
  .option('--mode <octal>', MODE_HELP)
  .action(action((ctx, dir: string, o: ExportOptions) => exportItems(ctx, dir, o)))

const colleagues = program
  .command('colleagues')
  .description('colleagues on this server: their devices are pinned on first contact and compared in person')
  .action(action((ctx) => listColleagues(ctx)))
colleagues
  .command('add <username>')
  .description('find a colleague, open our conversation and pin their devices (shows the safety fingerprint)')
  .action(action((ctx, username: string) => addColleague(ctx, username)))
colleagues
  .command('verify <username>')
  .description("compare a colleague's safety fingerprint with what their `airlock devices` shows")
  .option('--fingerprint <digits>', 'the fingerprint they read out (otherwise asked at the terminal)')
  .action(action((ctx, username: string, o: { fingerprint?: string }) => verifyColleague(ctx, username, o)))

colleagues
  .command('forget <username>')
  .description('drop a pinned colleague (an account that was re-created); the next contact pins them again')
  .action(action((ctx, username: string) => forgetColleague(ctx, username)))

program
  .command('requests')
  .description(
    'first contacts and group invitations waiting for my answer (nothing of them is downloaded until I accept)',
  )
  .action(action((ctx) => listRequests(ctx)))
program
  .command('accept <who>')
  .description("accept a request (a username) or a group invitation ('#team' or its id: my device joins)")
  .action(action((ctx, who: string) => answerRequest(ctx, who, 'accept')))
program
  .command('decline <who>')
  .description(
    "decline a request (a username: their items are refused) or a group invitation ('#team': I leave)",
  )
  .action(action((ctx, who: string) => answerRequest(ctx, who, 'decline')))
program
  .command('block <username>')
  .description('refuse every conversation, item and group invitation from this colleague')
  .action(action((ctx, username: string) => blockColleague(ctx, username, true)))
program
  .command('unblock <username>')
  .description('lift a block: their next item is a request again')
  .action(action((ctx, username: string) => blockColleague(ctx, username, false)))

const groups = program
  .command('groups')
  .description('groups (and invitations to groups): a signed membership log every member verifies')
  .action(action((ctx) => listGroups(ctx)))
groups
  .command('create <name> [usernames...]')
  .description('create a group (you are its owner) with these colleagues as members')
  .action(action((ctx, name: string, usernames: string[]) => createGroup(ctx, name, usernames)))
groups
  .command('show <group>')
  .description('members, roles and the group fingerprint (#name or id)')
  .action(action((ctx, group: string) => groupInfo(ctx, group)))
groups
  .command('add <group> <username>')
  .description('(owner, admins) add a member; they receive what is sent from now on')
  .option('--admin', 'as an admin (owner only)')
  .action(
    action((ctx, group: string, u: string, o: { admin?: boolean }) => changeGroup(ctx, group, 'add', u, o)),
  )
groups
  .command('remove <group> <username>')
  .description('(owner, admins) remove a member; nothing sent afterwards reaches them')
  .action(action((ctx, group: string, u: string) => changeGroup(ctx, group, 'remove', u)))
groups
  .command('leave <group>')
  .description('leave a group')
  .action(action((ctx, group: string) => changeGroup(ctx, group, 'leave', undefined)))
const admin = program
  .command('admin')
  .description("the organisation's policy, accounts and share links (administrators; never content)")
const policy = admin
  .command('policy')
  .description('show the policy in force (every account may read it)')
  .action(action((ctx) => showPolicy(ctx)))
policy
  .command('show')
  .description('show the policy in force')
  .action(action((ctx) => showPolicy(ctx)))
policy
  .command('set <key> <value>')
  .description('(administrators) change one setting')
  .addHelpText('after', `\nSettings:\n  ${POLICY_KEYS.join('\n  ')}`)
  .action(action((ctx, key: string, value: string) => setPolicy(ctx, key, value)))
admin
  .command('users')
  .description('(administrators) list accounts: devices, usage, quota, disabled')
  .action(action((ctx) => listUsers(ctx)))
admin
  .command('disable <username>')
  .description('(administrators) lock an account out: no login, its sessions and push connections end')
  .action(action((ctx, username: string) => setDisabled(ctx, username, true)))
admin
  .command('enable <username>')
  .description('(administrators) let a disabled account log in again')
  .action(action((ctx, username: string) => setDisabled(ctx, username, false)))
admin
  .command('quota <username> <size>')
  .description("(administrators) set an account's quota (e.g. 5G), or 'default'")
  .action(action((ctx, username: string, size: string) => setQuota(ctx, username, size)))
admin
  .command('shares')
  .description("(administrators) list every account's share links: owner, dates, downloads, state")
  .action(action((ctx) => listAllShares(ctx)))
admin
  .command('revoke-share <share-id>')
  .description("(administrators) revoke any account's share link at once (its files are deleted)")
  .action(action((ctx, id: string) => revokeAnyShare(ctx, id)))

program
  .command('share <item-ids...>')
  .description('make a link that downloads these items without an account (the key is in the link after #)')
  .option('--passphrase', 'also require a passphrase (asked for, or AIRLOCK_PASSPHRASE)')
  .option('--passphrase-file <file>', 'read the passphrase from this file (- for stdin)')
  .option('--expires <duration>', 'lifetime, e.g. 90m, 12h, 7d (default 7d, at most the server maximum)')
  .option('--max-downloads <n>', "number of downloads, or 'unlimited' (the default)")
  .action(action((ctx, ids: string[], o: Record<string, string | boolean>) => share(ctx, ids, o)))

const shares = program
  .command('shares')
  .description('list my share links')
  .action(action((ctx) => listShares(ctx)))
shares
  .command('revoke <share-id>')
  .description('stop a share link now and delete its files from the server')
  .action(action((ctx, id: string) => revokeShare(ctx, id)))

program
  .command('open-link [url]')
  .description(
    'download a share link (no account needed); files are verified, then saved under safe names. Without the link as an argument (which other users of this machine can see), it is read from AIRLOCK_SHARE_LINK, --link-file, a prompt or standard input',
  )
  .option('-o, --out <dir>', 'where to save the files (default: the current directory)')
  .option('--link-file <file>', 'read the link from this file (- for stdin)')
  .option('--passphrase-file <file>', 'read the passphrase from this file (- for stdin)')
  .option('--mode <octal>', MODE_HELP)
  .action(
    action(
      (
        ctx,
        url: string | undefined,
        o: { out?: string; linkFile?: string; passphraseFile?: string; mode?: string },
      ) => openLink(ctx, url, o),
    ),
  )

program
  .command('invite')
  .description(
    'make a one-time invite code for a new account (administrators, unless the policy lets everyone)',
  )
  .option('--hours <n>', 'how long the code is valid (default 72)')
  .action(action((ctx, o: { hours?: string }) => invite(ctx, o)))

program
  .command('verify-web <server-url>')
  .description("check that the server's web app is the reproducible build (hashes, CSP, SRI)")
  .option('--expect <hash>', 'the published bundle hash (default: the build next to this CLI)')
  .action(action((ctx, url: string, o: { expect?: string }) => verifyWeb(ctx, url, o)))

try {
  await program.parseAsync(protectIds(process.argv.slice(2), program), { from: 'user' })
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : EXIT.usage)
  throw e
}
