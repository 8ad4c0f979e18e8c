import { randomBytes } from 'node:crypto'
import { expect } from 'vitest'
import { isServerError } from '../src/errors.js'
import type { NewAccount } from '../src/storage/metadata/accounts.js'
import type { NewLogEntry } from '../src/storage/metadata/device-logs.js'
import type { NewItem } from '../src/storage/metadata/items.js'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'

/** Rows and helpers shared by the `MetadataStore` conformance suites. */

export const id = () => randomBytes(16).toString('base64url')
export const T0 = 1_700_000_000_000

export function entry(seq: number, prev: string | null): NewLogEntry {
  return { seq, prev, hash: `h${seq}-${id()}`, entry: JSON.stringify({ seq }), createdAt: T0 }
}

export function account(codeHash: string, over: Partial<NewAccount> = {}): NewAccount {
  return {
    id: id(),
    username: `user-${randomBytes(4).toString('hex')}`,
    codeHash,
    now: T0,
    quotaBytes: null,
    genesis: entry(0, null),
    device: { id: id(), signKey: id() },
    selfConversationId: id(),
    ...over,
  }
}

export async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  )
  expect(isServerError(e) ? e.code : e).toBe(code)
}

export async function setup(
  store: MetadataStore,
): Promise<{ accountId: string; deviceId: string; conversationId: string }> {
  const codeHash = id()
  await store.accounts.replaceSetupCode({ id: id(), codeHash, createdAt: T0, expiresAt: null })
  const a = account(codeHash)
  await store.accounts.createAccount(a)
  return { accountId: a.id, deviceId: a.device.id, conversationId: a.selfConversationId }
}

export function item(
  a: { accountId: string; deviceId: string; conversationId: string },
  size: number,
  over: Partial<NewItem> = {},
): NewItem {
  return {
    id: id(),
    conversationId: a.conversationId,
    senderAccountId: a.accountId,
    senderDeviceId: a.deviceId,
    ciphertextSize: size,
    manifestSize: 0,
    idempotencyKey: null,
    createdAt: T0,
    expiresAt: T0 + 1000,
    ...over,
  }
}
