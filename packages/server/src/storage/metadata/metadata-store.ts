import { type AccessLogStore, SqlAccessLogStore } from './access-log.js'
import { type AccountStore, SqlAccountStore } from './accounts.js'
import { type ContactStore, SqlContactStore } from './contacts.js'
import { type ConversationStore, SqlConversationStore } from './conversations.js'
import { type DeviceLogStore, SqlDeviceLogStore } from './device-logs.js'
import type { SqlDialect } from './dialect.js'
import { type ItemStore, SqlItemStore } from './items.js'
import { type MailboxStore, SqlMailboxStore } from './mailboxes.js'
import { type PolicyStore, SqlPolicyStore } from './policy.js'
import type { Db } from './rows.js'
import { type SessionStore, SqlSessionStore } from './sessions.js'
import { type ShareStore, SqlShareStore } from './shares.js'

/**
 * Everything the server remembers except blobs, one store per area. Adapters: SQLite
 * (`sqlite.ts`) and PostgreSQL (`postgres.ts`), both the same SQL code (each area's `Sql*Store`)
 * with a small dialect (`dialect.ts`); every adapter passes the conformance suites in
 * `test/metadata-store.*.ts`.
 *
 * Secrets (session tokens, setup/invite codes, mailbox secrets) are stored only as SHA-256
 * hashes. Methods that change several rows are atomic. Failures are `ServerError`s with a code
 * (`STALE_HEAD`, `QUOTA_EXCEEDED`, …), so callers pass them through unchanged.
 */
export interface MetadataStore {
  accounts: AccountStore
  /** Device logs and the devices they derive. */
  logs: DeviceLogStore
  sessions: SessionStore
  conversations: ConversationStore
  /** Each account's answers to others (consent). */
  contacts: ContactStore
  items: ItemStore
  accessLog: AccessLogStore
  policy: PolicyStore
  shares: ShareStore
  mailboxes: MailboxStore
  close(): Promise<void>
}

/** The metadata store over SQL, with the database itself for whole-table work (`migrate-storage.ts`). */
export interface SqlMetadataStore extends MetadataStore {
  database: Db
}

/**
 * Composes the store areas over one migrated Kysely database; `onClose` runs after the
 * connection is destroyed.
 */
export function sqlMetadataStore(
  db: Db,
  dialect: SqlDialect,
  onClose: () => Promise<void> = async () => {},
): SqlMetadataStore {
  return {
    accounts: new SqlAccountStore(db, dialect),
    logs: new SqlDeviceLogStore(db, dialect),
    sessions: new SqlSessionStore(db),
    conversations: new SqlConversationStore(db, dialect),
    contacts: new SqlContactStore(db),
    items: new SqlItemStore(db, dialect),
    accessLog: new SqlAccessLogStore(db, dialect),
    policy: new SqlPolicyStore(db),
    shares: new SqlShareStore(db, dialect),
    mailboxes: new SqlMailboxStore(db, dialect),
    database: db,
    async close() {
      await db.destroy()
      await onClose()
    },
  }
}
