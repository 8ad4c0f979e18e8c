import type { Db } from './rows.js'

/** The policy table has one row, under this key. */
const POLICY_ROW = 'org'

/** The organisation's policy document, one per server, set by an administrator. */
export interface PolicyStore {
  /** The stored policy document (core's `policySchema` as JSON), or null before an admin sets one. */
  getPolicy(): Promise<PolicyRecord | null>
  putPolicy(p: PolicyRecord): Promise<void>
}

export interface PolicyRecord {
  /** JSON of core's `Policy`. */
  document: string
  updatedAt: number
  updatedBy: string | null
}

export class SqlPolicyStore implements PolicyStore {
  constructor(private readonly db: Db) {}

  async getPolicy(): Promise<PolicyRecord | null> {
    const r = await this.db.selectFrom('policy').selectAll().where('id', '=', POLICY_ROW).executeTakeFirst()
    return r ? { document: r.document, updatedAt: Number(r.updated_at), updatedBy: r.updated_by } : null
  }

  async putPolicy(p: PolicyRecord): Promise<void> {
    const row = { document: p.document, updated_at: p.updatedAt, updated_by: p.updatedBy }
    await this.db
      .insertInto('policy')
      .values({ id: POLICY_ROW, ...row })
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute()
  }
}
