import type { Generated } from 'kysely'

/** Kysely's view of the metadata tables (see `migrations.ts`). Booleans are 0/1 integers. */
export interface Database {
  accounts: AccountsTable
  codes: CodesTable
  device_log: DeviceLogTable
  devices: DevicesTable
  challenges: ChallengesTable
  sessions: SessionsTable
  conversations: ConversationsTable
  conversation_members: ConversationMembersTable
  group_log: GroupLogTable
  items: ItemsTable
  link_mailboxes: LinkMailboxesTable
  link_messages: LinkMessagesTable
  access_log: AccessLogTable
  access_log_head: AccessLogHeadTable
  policy: PolicyTable
  shares: SharesTable
  share_blobs: ShareBlobsTable
  share_sessions: ShareSessionsTable
}

export interface AccountsTable {
  id: string
  username: string
  admin: number
  created_at: number
  quota_bytes: number | null
  self_conversation_id: string
  disabled: Generated<number>
}

export interface CodesTable {
  id: string
  kind: 'setup' | 'invite'
  code_hash: string
  created_by: string | null
  created_at: number
  expires_at: number | null
  used_at: number | null
  used_by: string | null
}

export interface DeviceLogTable {
  account_id: string
  seq: number
  prev: string | null
  hash: string
  entry: string
  created_at: number
}

export interface DevicesTable {
  id: string
  account_id: string
  sign_key: string
  active: number
  added_seq: number
  removed_seq: number | null
}

export interface ChallengesTable {
  challenge: string
  device_id: string
  expires_at: number
}

export interface SessionsTable {
  token_hash: string
  device_id: string
  account_id: string
  expires_at: number
}

export interface ConversationsTable {
  id: string
  kind: 'self' | 'direct' | 'group'
  created_at: number
  last_seq: number
  direct_key: string | null
  name: string | null
  log_seq: number | null
  retention_ms: number | null
}

export interface ConversationMembersTable {
  conversation_id: string
  account_id: string
  role: string | null
}

export interface GroupLogTable {
  conversation_id: string
  seq: number
  hash: string
  entry: string
  created_at: number
}

export interface ItemsTable {
  id: string
  conversation_id: string
  sender_account_id: string
  sender_device_id: string
  ciphertext_size: number
  manifest_size: number
  idempotency_key: string | null
  state: 'reserved' | 'committed' | 'deleted'
  seq: number | null
  manifest: Uint8Array | null
  created_at: number
  expires_at: number
  committed_at: number | null
  sensitivity: string | null
  retain_ms: number | null
  retain_until: number | null
}

export interface LinkMailboxesTable {
  id: string
  nameplate: string | null
  secret_hash: string
  state: 'open' | 'joined' | 'closed' | 'burnt'
  created_at: number
  expires_at: number
  joined_account_id: string | null
  joined_device_id: string | null
  failures: Generated<number>
}

export interface LinkMessagesTable {
  mailbox_id: string
  idx: number
  side: 'new' | 'existing'
  body: string
}

export interface AccessLogTable {
  seq: number
  prev: string
  hash: string
  item_id: string
  item_seq: number
  item_prev: string
  item_hash: string
  at: number
  account_id: string | null
  device_id: string | null
  share_id: string | null
  address: string
}

export interface AccessLogHeadTable {
  id: string
  seq: number
  hash: string
}

export interface PolicyTable {
  id: string
  document: string
  updated_at: number
  updated_by: string | null
}

export interface SharesTable {
  id: string
  account_id: string
  device_id: string
  state: 'uploading' | 'active' | 'revoked' | 'expired' | 'exhausted'
  /** JSON array of the source item ids. */
  item_ids: string
  created_at: number
  expires_at: number
  upload_expires_at: number
  max_downloads: number | null
  downloads: number
  manifest: Uint8Array | null
  blobs_deleted: number
}

export interface ShareBlobsTable {
  id: string
  share_id: string
  idx: number
  size: number
}

export interface ShareSessionsTable {
  token_hash: string
  share_id: string
  expires_at: number
}
