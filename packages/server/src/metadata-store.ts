import type { ConversationKind } from '@airlock/core'

/**
 * Everything the server remembers except blobs: accounts, the device logs and the devices derived
 * from them, sessions, challenges, setup and invite codes, conversations, items and linking
 * mailboxes. Adapters: SQLite (`sqlite-store.ts`), PostgreSQL (`pg-store.ts`). Every adapter must pass the
 * conformance suite in `test/metadata-store.conformance.ts`.
 *
 * Secrets (session tokens, setup/invite codes, mailbox secrets) are stored only as SHA-256 hashes.
 * Methods that change several rows are atomic. Failures are `ServerError`s with a code
 * (`STALE_HEAD`, `QUOTA_EXCEEDED`, …), so routes pass them through unchanged.
 */
export interface MetadataStore {
  // accounts, setup and invite codes
  countAccounts(): Promise<number>
  /** Replaces any unused setup code by this one (the first start, or a restart before setup). */
  replaceSetupCode(code: NewCode): Promise<void>
  createInvite(code: NewCode & { createdBy: string }): Promise<void>
  listInvites(createdBy: string): Promise<CodeRecord[]>
  /**
   * Consumes a setup or invite code and creates the account, its genesis log entry, its first
   * device and its self conversation, all at once. Throws `FORBIDDEN` for an unknown, used or
   * expired code, `USERNAME_TAKEN`, or `CONFLICT` if the device id already exists.
   */
  createAccount(input: NewAccount): Promise<AccountRecord>
  getAccount(id: string): Promise<AccountRecord | null>
  /** Bytes the account holds or has reserved: ciphertext plus manifest sizes of live items. */
  accountUsage(accountId: string): Promise<number>

  // device log and devices
  getLogHead(accountId: string): Promise<LogHead | null>
  /** Entries with `seq > since`, ascending, at most `limit`. */
  getLog(accountId: string, since: number, limit: number): Promise<LogEntryRecord[]>
  /**
   * Appends `entry` if it extends the head (`entry.seq === head.seq + 1` and `entry.prev ===
   * head.hash`), else throws `STALE_HEAD`; applies `change` to the devices. Removing a device
   * deletes its sessions and challenges in the same transaction.
   */
  appendLogEntry(accountId: string, entry: NewLogEntry, change: DeviceChange): Promise<void>
  getDevice(deviceId: string): Promise<DeviceRecord | null>
  listDevices(accountId: string): Promise<DeviceRecord[]>

  // challenges and sessions
  putChallenge(c: ChallengeRecord): Promise<void>
  /** Deletes and returns the challenge (single use), or null if unknown. */
  takeChallenge(challenge: string): Promise<ChallengeRecord | null>
  createSession(s: SessionRecord): Promise<void>
  getSession(tokenHash: string): Promise<SessionRecord | null>
  deleteSession(tokenHash: string): Promise<void>

  // conversations
  createConversation(c: NewConversation): Promise<void>
  getConversation(id: string): Promise<ConversationRecord | null>
  listConversations(accountId: string): Promise<ConversationRecord[]>
  /** True if both accounts are members of at least one common conversation. */
  shareConversation(accountA: string, accountB: string): Promise<boolean>
  /** The direct conversation with this `directKey` (the two account ids, sorted, space-separated). */
  findDirectConversation(directKey: string): Promise<ConversationRecord | null>
  findAccountByUsername(username: string): Promise<AccountRecord | null>
  /** Group log entries with `seq > since`, ascending, at most `limit`. */
  getGroupLog(conversationId: string, since: number, limit: number): Promise<GroupLogRecord[]>
  /**
   * Appends the next group log entry and sets the members (and name) it results in, atomically.
   * Throws `STALE_HEAD` if an entry with this seq exists already.
   */
  appendGroupEntry(conversationId: string, entry: GroupLogRecord, state: GroupState): Promise<void>

  // items
  /** Inserts a reserved item unless it would take the sender past `quotaBytes` (`QUOTA_EXCEEDED`). */
  reserveItem(item: NewItem, quotaBytes: number | null): Promise<void>
  getItem(id: string): Promise<ItemRecord | null>
  /** The newest reserved or committed item this device created with this client label, if any. */
  findItemByLabel(deviceId: string, label: string): Promise<ItemRecord | null>
  /**
   * Stores the manifest and gives a reserved item the conversation's next seq, making it visible.
   * A manifest larger than the reservation declared is charged against `quotaBytes` again.
   * Throws `ALREADY_COMMITTED`, `NOT_FOUND` or `QUOTA_EXCEEDED`.
   */
  commitItem(id: string, manifest: Uint8Array, now: number, quotaBytes?: number | null): Promise<number>
  /** Committed items and tombstones with `seq > since`, ascending, at most `limit`. */
  listItems(conversationId: string, since: number, limit: number): Promise<ItemRecord[]>
  /**
   * Deletes an item. A committed item leaves a tombstone with a new seq (returned); a reserved one
   * disappears (returns null). Throws `NOT_FOUND` for an unknown or already deleted item.
   */
  deleteItem(id: string, now: number): Promise<number | null>
  /** Deletes the item only if it is still reserved (garbage collection). True if it was. */
  dropReservation(id: string): Promise<boolean>
  /** Ids of reserved items whose `expiresAt` has passed. */
  expiredReservations(now: number, limit: number): Promise<string[]>
  /** True if a reserved or committed item owns this blob id. */
  hasLiveItem(id: string): Promise<boolean>

  // linking mailboxes
  /** Throws `CONFLICT` if the nameplate is taken by a live mailbox. */
  createMailbox(m: NewMailbox): Promise<void>
  getMailbox(id: string): Promise<MailboxRecord | null>
  /** The open mailbox with this nameplate, if any. */
  findMailboxByNameplate(nameplate: string): Promise<MailboxRecord | null>
  /** open → joined by this device; false if it was not open. */
  joinMailbox(id: string, accountId: string, deviceId: string): Promise<boolean>
  /** Closes or burns a mailbox and frees its nameplate. */
  endMailbox(id: string, state: 'closed' | 'burnt'): Promise<void>
  /** Counts a failed attempt; burns the mailbox at `maxFailures`. Returns the new state. */
  recordMailboxFailure(id: string, maxFailures: number): Promise<MailboxState>
  /** Appends a message; throws `RATE_LIMITED` past `maxPerSide` messages from that side. */
  addLinkMessage(mailboxId: string, side: LinkSide, body: string, maxPerSide: number): Promise<number>
  /** Messages from `side` with `index > after`, ascending. */
  getLinkMessages(mailboxId: string, side: LinkSide, after: number): Promise<LinkMessageRecord[]>

  // access log (every blob download; hash-chained per item and server-wide; see sql-access-log.ts)
  /**
   * Appends one access of `access.itemId` to both chains at once, serialised with every other
   * append (on any instance), and returns the stored row. Rows are never changed or deleted.
   */
  appendAccess(access: NewAccess): Promise<AccessRecord>
  /** True if this device (or share link) has an access of the item recorded already. */
  hasAccessBy(itemId: string, by: { deviceId: string } | { shareId: string }): Promise<boolean>
  /** Accesses of one item with `itemSeq > since`, ascending, at most `limit`. */
  listAccesses(itemId: string, since: number, limit: number): Promise<AccessRecord[]>
  /** Every access with server-wide `seq > since`, ascending, at most `limit` (for verification). */
  scanAccessLog(since: number, limit: number): Promise<AccessRecord[]>
  /** The server-wide chain's head as recorded beside it (`{seq: 0, hash: ''}` when empty). */
  accessLogHead(): Promise<LogHead>
  // ------------------------------------------------------------ policy and administration
  // (sql-policy.ts)
  /** The stored policy document (core's `policySchema` as JSON), or null before an admin sets one. */
  getPolicy(): Promise<PolicyRecord | null>
  putPolicy(p: PolicyRecord): Promise<void>
  /** Every account with its active devices and usage, ordered by username. */
  listAccountsForAdmin(): Promise<AdminAccountRecord[]>
  /**
   * Disables or enables an account. Disabling deletes its sessions and challenges in the same
   * transaction. Throws `NOT_FOUND` for an unknown account.
   */
  setAccountDisabled(accountId: string, disabled: boolean): Promise<void>
  isAccountDisabled(accountId: string): Promise<boolean>
  /** Sets the account's own quota (null: the server's default). Throws `NOT_FOUND`. */
  setAccountQuota(accountId: string, quotaBytes: number | null): Promise<void>
  /** A conversation's own retention (null: none). Throws `NOT_FOUND`. */
  setConversationRetention(conversationId: string, retentionMs: number | null): Promise<void>
  getConversationRetention(conversationId: string): Promise<number | null>
  /**
   * Turns committed items whose retention has passed into tombstones (new seq, manifest dropped),
   * at most `limit`; returns them so the caller deletes their blobs and tells the members.
   */
  expireRetainedItems(now: number, limit: number): Promise<ExpiredItem[]>
  // ---------------------------------------------------------------- share links (sql-shares.ts)
  /**
   * Inserts an `uploading` share with its blob rows unless the blobs would take the account past
   * `quotaBytes` (`QUOTA_EXCEEDED`). Share blobs count against the quota until they are deleted.
   */
  createShare(share: NewShare, quotaBytes: number | null): Promise<void>
  getShare(id: string): Promise<ShareRecord | null>
  /** Uploading or active shares made from this item (revoked with it when it is deleted or expires). */
  liveSharesOfItem(itemId: string): Promise<string[]>
  /** The share owning this blob id, if any. */
  getShareByBlob(blobId: string): Promise<ShareRecord | null>
  /** The account's shares, newest first, at most `limit`. */
  listShares(accountId: string, limit: number): Promise<ShareRecord[]>
  /**
   * `uploading` → `active` with its sealed manifest. Throws `NOT_FOUND`, `ALREADY_COMMITTED`, or
   * `GONE` if the share is no longer uploading (revoked, or its upload expired).
   */
  commitShare(id: string, manifest: Uint8Array): Promise<ShareRecord>
  /**
   * `uploading` or `active` → `revoked`, ending its download sessions; any other state is left
   * as it is. Returns the record; `NOT_FOUND` for an unknown share.
   */
  revokeShare(id: string): Promise<ShareRecord>
  /**
   * Takes one download of an `active`, unexpired share and starts a download session: counts
   * the download, and an `active` share that reaches `maxDownloads` becomes `exhausted`. Throws
   * `NOT_FOUND` (unknown or still uploading) or `GONE` (revoked, exhausted or expired).
   */
  openShare(id: string, session: NewShareSession, now: number): Promise<ShareRecord>
  /**
   * True if the session exists for this share, has not expired, and its share is `active` or
   * `exhausted` (downloads in flight finish) and unexpired; then renews it to `renewTo`.
   */
  touchShareSession(tokenHash: string, shareId: string, now: number, renewTo: number): Promise<boolean>
  endShareSession(tokenHash: string): Promise<void>
  /**
   * Shares whose blobs are due for deletion and not yet deleted: revoked; exhausted without a
   * live session; active past expiry and uploading past the upload deadline (both are marked
   * `expired` here).
   */
  sharesToRetire(now: number, limit: number): Promise<ShareRecord[]>
  /** Records that the share's blobs are deleted (they stop counting against the quota). */
  markShareBlobsDeleted(id: string): Promise<void>
  /** True if a share whose blobs are not deleted owns this blob id (garbage collection). */
  hasLiveShareBlob(blobId: string): Promise<boolean>

  /** Deletes expired challenges, sessions, unused invites and mailboxes. Returns rows removed. */
  deleteExpired(now: number): Promise<number>
  close(): Promise<void>
}

export interface NewCode {
  id: string
  codeHash: string
  createdAt: number
  expiresAt: number | null
}

export interface CodeRecord extends NewCode {
  kind: 'setup' | 'invite'
  createdBy: string | null
  usedAt: number | null
}

export interface NewAccount {
  id: string
  username: string
  codeHash: string
  now: number
  quotaBytes: number | null
  genesis: NewLogEntry
  device: { id: string; signKey: string }
  selfConversationId: string
}

export interface AccountRecord {
  id: string
  username: string
  admin: boolean
  createdAt: number
  quotaBytes: number | null
  selfConversationId: string
}

export interface LogHead {
  seq: number
  hash: string
}

export interface NewLogEntry {
  seq: number
  /** The previous entry's hash, or null for the genesis entry. */
  prev: string | null
  hash: string
  /** The entry as received, serialized JSON. */
  entry: string
  createdAt: number
}

export interface LogEntryRecord extends NewLogEntry {
  accountId: string
}

export type DeviceChange =
  | { op: 'add'; deviceId: string; signKey: string }
  | { op: 'remove'; deviceId: string }

export interface DeviceRecord {
  id: string
  accountId: string
  signKey: string
  active: boolean
  addedSeq: number
  removedSeq: number | null
}

export interface ChallengeRecord {
  challenge: string
  deviceId: string
  expiresAt: number
}

export interface SessionRecord {
  tokenHash: string
  deviceId: string
  accountId: string
  expiresAt: number
}

export interface NewConversation {
  id: string
  kind: ConversationKind
  createdAt: number
  members: string[]
  /** Direct conversations: the two account ids, sorted, space-separated (unique). */
  directKey?: string
  /** Groups: the first group log entry and the state it creates. */
  group?: { entry: GroupLogRecord; state: GroupState }
}

export interface ConversationRecord extends NewConversation {
  lastSeq: number
  /** Groups: the seq of the last group log entry. */
  logSeq?: number
}

export interface GroupLogRecord {
  seq: number
  hash: string
  /** The entry's canonical JSON, as the client signed it. */
  entry: string
  createdAt: number
}

/** Members and their roles, and the name, after a group log entry (as the server verified it). */
export interface GroupState {
  name: string
  members: [account: string, role: string][]
}

export interface NewItem {
  id: string
  conversationId: string
  senderAccountId: string
  senderDeviceId: string
  ciphertextSize: number
  /** Declared manifest size, counted against the quota until the manifest arrives. */
  manifestSize: number
  label: string | null
  createdAt: number
  expiresAt: number
  /** The sensitivity label (policy binds it); null or absent for none. */
  sensitivity?: string | null
  /** Retention: the committed item is deleted this long after its commit; null or absent = kept. */
  retainMs?: number | null
}

export type ItemState = 'reserved' | 'committed' | 'deleted'

export interface ItemRecord extends NewItem {
  state: ItemState
  seq: number | null
  manifest: Uint8Array | null
  committedAt: number | null
  sensitivity: string | null
  retainMs: number | null
  /** When retention deletes the committed item (set at commit), or null. */
  retainUntil: number | null
}

export type MailboxState = 'open' | 'joined' | 'closed' | 'burnt'
export type LinkSide = 'new' | 'existing'

export interface NewMailbox {
  id: string
  nameplate: string
  secretHash: string
  createdAt: number
  expiresAt: number
}

export interface MailboxRecord {
  id: string
  nameplate: string | null
  secretHash: string
  state: MailboxState
  createdAt: number
  expiresAt: number
  joinedAccountId: string | null
  joinedDeviceId: string | null
  failures: number
}

export interface LinkMessageRecord {
  index: number
  side: LinkSide
  body: string
}

export interface NewAccess {
  itemId: string
  at: number
  /** The downloading account and device, or null for a share-link download. */
  accountId: string | null
  deviceId: string | null
  shareId: string | null
  address: string
}

export interface AccessRecord extends NewAccess {
  /** Server-wide chain: position from 1, previous row's hash, this row's hash. */
  seq: number
  prev: string
  hash: string
  /** The item's own chain (core's `AccessEntry`): position from 1, previous hash, hash. */
  itemSeq: number
  itemPrev: string
  itemHash: string
}

export interface PolicyRecord {
  /** JSON of core's `Policy`. */
  document: string
  updatedAt: number
  updatedBy: string | null
}

export interface AdminAccountRecord {
  id: string
  username: string
  admin: boolean
  disabled: boolean
  createdAt: number
  quotaBytes: number | null
  devices: number
  usedBytes: number
}

export interface ExpiredItem {
  id: string
  conversationId: string
  seq: number
}

export type ShareRecordState = 'uploading' | 'active' | 'revoked' | 'expired' | 'exhausted'

export interface NewShare {
  id: string
  accountId: string
  deviceId: string
  /** The items the link was made from, which the creator could read. */
  itemIds: string[]
  /** One blob per file, in order. */
  blobs: { id: string; size: number }[]
  createdAt: number
  expiresAt: number
  /** Uploads not committed by then are abandoned. */
  uploadExpiresAt: number
  /** null: unlimited. */
  maxDownloads: number | null
}

export interface ShareRecord extends NewShare {
  state: ShareRecordState
  downloads: number
  manifest: Uint8Array | null
  blobsDeleted: boolean
}

export interface NewShareSession {
  tokenHash: string
  expiresAt: number
}
