import {
  type AdminAccount,
  type AdminUpdateAccountRequest,
  type CreateAccountRequest,
  type CreateAccountResponse,
  type CreateInviteResponse,
  decodeLogEntry,
  encodeLogEntry,
  entryHash,
  type ListInvitesResponse,
  type LookupResponse,
  type MeResponse,
  verifyLog,
} from '@airlock/core'
import type { AppContext } from '../context.js'
import { ConflictError, ForbiddenError, NotFoundError, ServerError } from '../errors.js'
import type { AccountRecord, AdminAccountRecord } from '../storage/metadata/accounts.js'
import { hashCode, newCode, randomId } from '../tokens.js'
import { currentPolicy } from './policy.js'
import type { Auth } from './sessions.js'

const DEFAULT_INVITE_HOURS = 72

/**
 * Creates an account from a setup or invite code and the genesis entry of its device log, which
 * must verify (it names the account id and the first device). The setup code makes an admin.
 */
export async function createAccount(
  ctx: AppContext,
  body: CreateAccountRequest,
): Promise<CreateAccountResponse> {
  const accountId = body.genesis.account
  let genesis: ReturnType<typeof decodeLogEntry>
  try {
    genesis = decodeLogEntry(body.genesis)
    verifyLog(accountId, [genesis])
  } catch {
    throw new ServerError('INVALID_LOG_ENTRY', 'the genesis entry does not verify')
  }
  const now = ctx.now()
  const account = await ctx.store.accounts.createAccount({
    id: accountId,
    username: body.username,
    codeHash: hashCode(body.code),
    now,
    quotaBytes: null,
    genesis: { seq: 0, prev: null, hash: entryHash(genesis), entry: encodeLogEntry(genesis), createdAt: now },
    device: { id: genesis.device.id, signKey: genesis.device.signKey },
    selfConversationId: randomId(),
  })
  return {
    accountId: account.id,
    deviceId: genesis.device.id,
    selfConversationId: account.selfConversationId,
    admin: account.admin,
  }
}

/** The caller's own account, with its quota (the server's default if it has none) and usage. */
export async function me(ctx: AppContext, auth: Auth): Promise<MeResponse> {
  const account = await ownAccount(ctx, auth)
  return {
    accountId: account.id,
    username: account.username,
    admin: account.admin,
    deviceId: auth.deviceId,
    selfConversationId: account.selfConversationId,
    quotaBytes: account.quotaBytes ?? ctx.config.quota,
    usedBytes: await ctx.store.accounts.accountUsage(account.id),
  }
}

/** An account by username or id (for starting a conversation); `NOT_FOUND` if there is none. */
export async function lookupAccount(
  ctx: AppContext,
  query: { username: string } | { accountId: string },
): Promise<LookupResponse> {
  const account =
    'username' in query
      ? await ctx.store.accounts.findAccountByUsername(query.username)
      : await ctx.store.accounts.getAccount(query.accountId)
  if (!account) throw new NotFoundError('no such account')
  return { accountId: account.id, username: account.username }
}

/**
 * Administrators may always invite; other accounts only if the organisation's policy lets
 * everyone invite. Else `FORBIDDEN` with `refusal`.
 */
export async function requireInviter(ctx: AppContext, auth: Auth, refusal: string): Promise<void> {
  const account = await ownAccount(ctx, auth)
  if (!account.admin && (await currentPolicy(ctx)).invitations !== 'everyone')
    throw new ForbiddenError(refusal)
}

/** A new single-use invite code; only its hash is stored. */
export async function createInvite(
  ctx: AppContext,
  auth: Auth,
  expiresInHours: number | undefined,
): Promise<CreateInviteResponse> {
  const code = newCode()
  const now = ctx.now()
  const inviteId = randomId()
  const expiresAt = now + (expiresInHours ?? DEFAULT_INVITE_HOURS) * 3600_000
  await ctx.store.accounts.createInvite({
    id: inviteId,
    codeHash: hashCode(code),
    createdAt: now,
    expiresAt,
    createdBy: auth.accountId,
  })
  return { inviteId, code, expiresAt }
}

/** The invites the caller's account made. */
export async function listInvites(ctx: AppContext, auth: Auth): Promise<ListInvitesResponse> {
  const invites = await ctx.store.accounts.listInvites(auth.accountId)
  return {
    invites: invites.map((i) => ({
      inviteId: i.id,
      createdAt: i.createdAt,
      expiresAt: i.expiresAt ?? 0,
      used: i.usedAt !== null,
    })),
  }
}

/** The caller's account must be an administrator; else `FORBIDDEN`. */
export async function requireAdminAccount(ctx: AppContext, auth: Auth): Promise<void> {
  const account = await ctx.store.accounts.getAccount(auth.accountId)
  if (!account?.admin) throw new ForbiddenError('only administrators can do this')
}

/** Every account, for administrators: names, devices and byte counts, never content. */
export async function listAccountsForAdmin(ctx: AppContext): Promise<AdminAccount[]> {
  return (await ctx.store.accounts.listAccountsForAdmin()).map(toAdminWire)
}

/**
 * An administrator sets an account's quota or disables (or enables) it. Disabling ends its
 * sessions and closes its push sockets at once; an administrator cannot disable themself.
 */
export async function updateAccount(
  ctx: AppContext,
  admin: Auth,
  accountId: string,
  change: AdminUpdateAccountRequest,
): Promise<AdminAccount> {
  if (change.disabled === true && accountId === admin.accountId) {
    throw new ConflictError('an administrator cannot disable their own account')
  }
  if (!(await ctx.store.accounts.getAccount(accountId))) throw new NotFoundError('no such account')
  if (change.quotaBytes !== undefined) await ctx.store.accounts.setAccountQuota(accountId, change.quotaBytes)
  if (change.disabled !== undefined) {
    await ctx.store.accounts.setAccountDisabled(accountId, change.disabled)
    if (change.disabled) {
      // Its sessions are gone; its push sockets close now rather than at their next check.
      const devices = await ctx.store.logs.listDevices(accountId)
      await ctx.hub.revoke(devices.map((d) => d.id))
    }
  }
  const account = (await ctx.store.accounts.listAccountsForAdmin()).find((a) => a.id === accountId)
  if (!account) throw new NotFoundError('no such account')
  return toAdminWire(account)
}

async function ownAccount(ctx: AppContext, auth: Auth): Promise<AccountRecord> {
  const account = await ctx.store.accounts.getAccount(auth.accountId)
  if (!account) throw new NotFoundError()
  return account
}

function toAdminWire(a: AdminAccountRecord): AdminAccount {
  return {
    accountId: a.id,
    username: a.username,
    admin: a.admin,
    disabled: a.disabled,
    createdAt: a.createdAt,
    devices: a.devices,
    usedBytes: a.usedBytes,
    quotaBytes: a.quotaBytes,
  }
}
