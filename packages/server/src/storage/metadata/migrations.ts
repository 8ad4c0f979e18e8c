import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely'

/**
 * The schema, as one ordered list of migrations written with Kysely's schema builder so the same
 * list runs on SQLite and PostgreSQL. Only the binary column type differs by dialect.
 * Never edit a released migration; append a new one.
 */
export function migrations(opts: { binaryType: 'blob' | 'bytea' }): Record<string, Migration> {
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('accounts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('username', 'text', (c) => c.notNull().unique())
          .addColumn('admin', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('quota_bytes', 'bigint')
          .addColumn('self_conversation_id', 'text', (c) => c.notNull())
          .execute()

        await db.schema
          .createTable('codes')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('code_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_by', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint')
          .addColumn('used_at', 'bigint')
          .addColumn('used_by', 'text')
          .execute()

        await db.schema
          .createTable('device_log')
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('prev', 'text')
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('entry', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('device_log_pk', ['account_id', 'seq'])
          .execute()

        await db.schema
          .createTable('devices')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('sign_key', 'text', (c) => c.notNull())
          .addColumn('active', 'integer', (c) => c.notNull())
          .addColumn('added_seq', 'bigint', (c) => c.notNull())
          .addColumn('removed_seq', 'bigint')
          .execute()
        await db.schema.createIndex('devices_account').on('devices').column('account_id').execute()

        await db.schema
          .createTable('challenges')
          .addColumn('challenge', 'text', (c) => c.primaryKey())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute()

        await db.schema
          .createTable('sessions')
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute()
        await db.schema.createIndex('sessions_device').on('sessions').column('device_id').execute()

        await db.schema
          .createTable('conversations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_seq', 'bigint', (c) => c.notNull())
          .execute()

        await db.schema
          .createTable('conversation_members')
          .addColumn('conversation_id', 'text', (c) => c.notNull())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('conversation_members_pk', ['conversation_id', 'account_id'])
          .execute()
        await db.schema
          .createIndex('conversation_members_account')
          .on('conversation_members')
          .column('account_id')
          .execute()

        await db.schema
          .createTable('items')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('conversation_id', 'text', (c) => c.notNull())
          .addColumn('sender_account_id', 'text', (c) => c.notNull())
          .addColumn('sender_device_id', 'text', (c) => c.notNull())
          .addColumn('ciphertext_size', 'bigint', (c) => c.notNull())
          .addColumn('manifest_size', 'bigint', (c) => c.notNull())
          .addColumn('label', 'text')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint')
          .addColumn('manifest', opts.binaryType)
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('committed_at', 'bigint')
          .execute()
        await db.schema
          .createIndex('items_conversation_seq')
          .on('items')
          .columns(['conversation_id', 'seq'])
          .unique()
          .execute()
        await db.schema
          .createIndex('items_state_expiry')
          .on('items')
          .columns(['state', 'expires_at'])
          .execute()
        await db.schema
          .createIndex('items_sender')
          .on('items')
          .columns(['sender_account_id', 'state'])
          .execute()

        await db.schema
          .createTable('link_mailboxes')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('nameplate', 'text', (c) => c.unique())
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('joined_account_id', 'text')
          .addColumn('joined_device_id', 'text')
          .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
          .execute()

        await db.schema
          .createTable('link_messages')
          .addColumn('mailbox_id', 'text', (c) => c.notNull())
          .addColumn('idx', 'integer', (c) => c.notNull())
          .addColumn('side', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('link_messages_pk', ['mailbox_id', 'idx'])
          .execute()
      },
    },
    '0002_groups': {
      async up(db: Kysely<unknown>) {
        // A direct conversation is unique per pair of accounts: `direct_key` is "a b", sorted.
        await db.schema.alterTable('conversations').addColumn('direct_key', 'text').execute()
        await db.schema.alterTable('conversations').addColumn('name', 'text').execute()
        await db.schema.alterTable('conversations').addColumn('log_seq', 'bigint').execute()
        await db.schema
          .createIndex('conversations_direct_key')
          .on('conversations')
          .column('direct_key')
          .unique()
          .execute()
        await db.schema.alterTable('conversation_members').addColumn('role', 'text').execute()
        await db.schema
          .createTable('group_log')
          .addColumn('conversation_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('entry', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('group_log_pk', ['conversation_id', 'seq'])
          .execute()
      },
    },
    '0005_access_log': {
      async up(db: Kysely<unknown>) {
        // Every download of a blob, chained twice: per item (`item_*`, what the owner verifies) and
        // server-wide (`seq`, `prev`, `hash`, what `airlock-server verify-access-log` checks).
        // Rows are never updated or deleted, also not when their item is recalled.
        await db.schema
          .createTable('access_log')
          .addColumn('seq', 'bigint', (c) => c.primaryKey())
          .addColumn('prev', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('item_id', 'text', (c) => c.notNull())
          .addColumn('item_seq', 'bigint', (c) => c.notNull())
          .addColumn('item_prev', 'text', (c) => c.notNull())
          .addColumn('item_hash', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('account_id', 'text')
          .addColumn('device_id', 'text')
          .addColumn('share_id', 'text')
          .addColumn('address', 'text', (c) => c.notNull())
          .execute()
        await db.schema
          .createIndex('access_log_item_seq')
          .on('access_log')
          .columns(['item_id', 'item_seq'])
          .unique()
          .execute()
        // One row, locked by every append, so concurrent downloads (on any instance) never fork.
        await db.schema
          .createTable('access_log_head')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute()
        await sql`insert into access_log_head (id, seq, hash) values ('server', 0, '')`.execute(db)
      },
    },
    '0004_policy': {
      async up(db: Kysely<unknown>) {
        // The organisation's policy: one JSON document (core's `policySchema`), one row.
        await db.schema
          .createTable('policy')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('document', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_by', 'text')
          .execute()
        await db.schema
          .alterTable('accounts')
          .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
          .execute()
        await db.schema.alterTable('conversations').addColumn('retention_ms', 'bigint').execute()
        // The sensitivity label (the idempotency key, once called `label`, is unrelated), the retention the
        // item was reserved under, and the time retention deletes it (set at commit).
        await db.schema.alterTable('items').addColumn('sensitivity', 'text').execute()
        await db.schema.alterTable('items').addColumn('retain_ms', 'bigint').execute()
        await db.schema.alterTable('items').addColumn('retain_until', 'bigint').execute()
        await db.schema
          .createIndex('items_retention')
          .on('items')
          .columns(['state', 'retain_until'])
          .execute()
      },
    },
    '0006_idempotency_key': {
      // The reserve body's client tag was called `label`, which read as the sensitivity label.
      async up(db) {
        await db.schema.alterTable('items').renameColumn('label', 'idempotency_key').execute()
      },
    },
    '0003_shares': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('shares')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('item_ids', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('upload_expires_at', 'bigint', (c) => c.notNull())
          .addColumn('max_downloads', 'bigint')
          .addColumn('downloads', 'bigint', (c) => c.notNull())
          .addColumn('manifest', opts.binaryType)
          .addColumn('blobs_deleted', 'integer', (c) => c.notNull())
          .execute()
        await db.schema
          .createIndex('shares_account')
          .on('shares')
          .columns(['account_id', 'created_at'])
          .execute()
        await db.schema.createIndex('shares_live').on('shares').columns(['blobs_deleted', 'state']).execute()

        await db.schema
          .createTable('share_blobs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('share_id', 'text', (c) => c.notNull())
          .addColumn('idx', 'integer', (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .execute()
        await db.schema
          .createIndex('share_blobs_share')
          .on('share_blobs')
          .columns(['share_id', 'idx'])
          .unique()
          .execute()

        await db.schema
          .createTable('share_sessions')
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('share_id', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute()
        await db.schema.createIndex('share_sessions_share').on('share_sessions').column('share_id').execute()
      },
    },
  }
}

/** Brings the database up to the latest migration; throws if any migration fails. */
export async function migrateToLatest(
  db: Kysely<unknown>,
  opts: { binaryType: 'blob' | 'bytea' },
): Promise<void> {
  const list = migrations(opts)
  const provider: MigrationProvider = { getMigrations: async () => list }
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest()
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown'
    throw new Error(`database migration ${failed} failed`, { cause: error })
  }
}
