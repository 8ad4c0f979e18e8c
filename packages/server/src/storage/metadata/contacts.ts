import type { Db } from './rows.js'

/** An account's answer to another account; no answer (no row) makes a first contact a request. */
export type ContactAnswer = 'accepted' | 'declined' | 'blocked'

export interface ContactRecord {
  accountId: string
  peerId: string
  consent: ContactAnswer
  updatedAt: number
}

/**
 * Consent between accounts (core's `consent.ts`): what each account answered to another, one
 * row per (account, peer) and direction. The domain decides what an answer permits.
 */
export interface ContactStore {
  /** `accountId`'s answer to `peerId`, or null if it never answered. */
  getContact(accountId: string, peerId: string): Promise<ContactRecord | null>
  /** Sets (or replaces) `accountId`'s answer to `peerId`. */
  setContact(c: ContactRecord): Promise<void>
  /** Removes `accountId`'s answer to `peerId` (back to no answer); none is fine. */
  clearContact(accountId: string, peerId: string): Promise<void>
  /** Every answer `accountId` gave, by peer id. */
  listContacts(accountId: string): Promise<ContactRecord[]>
}

export class SqlContactStore implements ContactStore {
  constructor(private readonly db: Db) {}

  async getContact(accountId: string, peerId: string): Promise<ContactRecord | null> {
    const r = await this.db
      .selectFrom('contacts')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('peer_id', '=', peerId)
      .executeTakeFirst()
    return r ? toRecord(r) : null
  }

  async setContact(c: ContactRecord): Promise<void> {
    const row = { consent: c.consent, updated_at: c.updatedAt }
    await this.db
      .insertInto('contacts')
      .values({ account_id: c.accountId, peer_id: c.peerId, ...row })
      .onConflict((oc) => oc.columns(['account_id', 'peer_id']).doUpdateSet(row))
      .execute()
  }

  async clearContact(accountId: string, peerId: string): Promise<void> {
    await this.db
      .deleteFrom('contacts')
      .where('account_id', '=', accountId)
      .where('peer_id', '=', peerId)
      .execute()
  }

  async listContacts(accountId: string): Promise<ContactRecord[]> {
    const rows = await this.db
      .selectFrom('contacts')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('peer_id')
      .execute()
    return rows.map(toRecord)
  }
}

function toRecord(r: {
  account_id: string
  peer_id: string
  consent: ContactAnswer
  updated_at: number
}): ContactRecord {
  return {
    accountId: r.account_id,
    peerId: r.peer_id,
    consent: r.consent,
    updatedAt: Number(r.updated_at),
  }
}
