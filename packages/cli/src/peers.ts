import {
  apiAccountIdSchema,
  conversationIdSchema,
  type DirectoryStore,
  type PinnedColleague,
  type PinnedGroup,
} from '@airlock/core'
import { z } from 'zod'
import { type HomePaths, readJson, writeFileAtomic } from './config.js'
import { withLock } from './lock-file.js'

/**
 * `peers.json`: what this device pinned about other accounts — colleagues' verified device logs
 * (trust on first use, then only chain-valid extensions), group membership logs, and the other
 * account of each direct conversation. Core's `Directory` decides; this file only keeps it.
 * Every change re-reads the file under the same lock as the own log, so parallel `airlock`
 * processes never lose a pin.
 */

const pinSchema = z.strictObject({ seq: z.number().int().nonnegative(), head: z.string() })
const peersFileSchema = z.strictObject({
  v: z.literal(1),
  colleagues: z.record(
    apiAccountIdSchema,
    z.strictObject({
      accountId: apiAccountIdSchema,
      username: z.string(),
      pin: pinSchema,
      entries: z.array(z.unknown()),
      verified: z.boolean(),
    }),
  ),
  groups: z.record(
    conversationIdSchema,
    z.strictObject({ conversationId: conversationIdSchema, pin: pinSchema, entries: z.array(z.unknown()) }),
  ),
  direct: z.record(conversationIdSchema, apiAccountIdSchema),
})
type PeersData = z.infer<typeof peersFileSchema>

export class PeersFile implements DirectoryStore {
  constructor(private readonly home: HomePaths) {}

  private async read(): Promise<PeersData> {
    return (
      (await readJson(this.home.peers, peersFileSchema)) ?? { v: 1, colleagues: {}, groups: {}, direct: {} }
    )
  }

  private update(f: (p: PeersData) => void): Promise<void> {
    return withLock(`${this.home.peers}.lock`, async () => {
      const p = await this.read()
      f(p)
      await writeFileAtomic(this.home.peers, `${JSON.stringify(p)}\n`, 0o600)
    })
  }

  async getColleague(accountId: string): Promise<PinnedColleague | null> {
    return (await this.read()).colleagues[accountId] ?? null
  }

  async putColleague(c: PinnedColleague): Promise<void> {
    await this.update((p) => {
      const old = p.colleagues[c.accountId]
      // Never lower a pin another process raised meanwhile (the Directory re-verifies on load).
      // A comparison in person stays valid while the log only grows by the colleague's own entries.
      const verified = c.verified || old?.verified === true
      if (old && old.pin.seq > c.pin.seq) old.verified = verified
      else p.colleagues[c.accountId] = { ...c, verified }
    })
  }

  async deleteColleague(accountId: string): Promise<void> {
    await this.update((p) => {
      delete p.colleagues[accountId]
    })
  }

  async listColleagues(): Promise<PinnedColleague[]> {
    return Object.values((await this.read()).colleagues)
  }

  async getGroup(conversationId: string): Promise<PinnedGroup | null> {
    return (await this.read()).groups[conversationId] ?? null
  }

  async putGroup(g: PinnedGroup): Promise<void> {
    await this.update((p) => {
      const old = p.groups[g.conversationId]
      if (!old || old.pin.seq <= g.pin.seq) p.groups[g.conversationId] = g
    })
  }

  async getDirectPeer(conversationId: string): Promise<string | null> {
    return (await this.read()).direct[conversationId] ?? null
  }

  async putDirectPeer(conversationId: string, accountId: string): Promise<void> {
    await this.update((p) => {
      p.direct[conversationId] ??= accountId
    })
  }
}
