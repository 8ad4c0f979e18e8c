import { count, type Db } from './rows.js'

/**
 * Login challenges (single use) and sessions. Session tokens are stored only as SHA-256
 * hashes; removing a device or disabling an account deletes its sessions elsewhere
 * (`device-logs.ts`, `accounts.ts`), in the same transaction as the change.
 */
export interface SessionStore {
  putChallenge(c: ChallengeRecord): Promise<void>
  /** Deletes and returns the challenge (single use), or null if unknown. */
  takeChallenge(challenge: string): Promise<ChallengeRecord | null>
  createSession(s: SessionRecord): Promise<void>
  getSession(tokenHash: string): Promise<SessionRecord | null>
  deleteSession(tokenHash: string): Promise<void>
  /** Deletes expired challenges and sessions; returns how many. */
  deleteExpired(now: number): Promise<number>
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

export class SqlSessionStore implements SessionStore {
  constructor(private readonly db: Db) {}

  async putChallenge(c: ChallengeRecord): Promise<void> {
    await this.db
      .insertInto('challenges')
      .values({ challenge: c.challenge, device_id: c.deviceId, expires_at: c.expiresAt })
      .execute()
  }

  async takeChallenge(challenge: string): Promise<ChallengeRecord | null> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .selectFrom('challenges')
        .selectAll()
        .where('challenge', '=', challenge)
        .executeTakeFirst()
      if (!r) return null
      await trx.deleteFrom('challenges').where('challenge', '=', challenge).execute()
      return { challenge: r.challenge, deviceId: r.device_id, expiresAt: Number(r.expires_at) }
    })
  }

  async createSession(s: SessionRecord): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        token_hash: s.tokenHash,
        device_id: s.deviceId,
        account_id: s.accountId,
        expires_at: s.expiresAt,
      })
      .execute()
  }

  async getSession(tokenHash: string): Promise<SessionRecord | null> {
    const r = await this.db
      .selectFrom('sessions')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst()
    if (!r) return null
    return {
      tokenHash: r.token_hash,
      deviceId: r.device_id,
      accountId: r.account_id,
      expiresAt: Number(r.expires_at),
    }
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('token_hash', '=', tokenHash).execute()
  }

  async deleteExpired(now: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const challenges = count(
        await trx.deleteFrom('challenges').where('expires_at', '<=', now).executeTakeFirst(),
      )
      return (
        challenges + count(await trx.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst())
      )
    })
  }
}
