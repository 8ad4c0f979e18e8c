import { describe, expect, it } from 'vitest'
import type { MetadataStore } from '../src/storage/metadata/metadata-store.js'
import { account, expectCode, id, setup, T0 } from './metadata-fixtures.js'

/** Conformance of the conversations area: membership and each conversation's retention. */
export function shouldKeepConversations(s: () => MetadataStore): void {
  describe('conversations', () => {
    it('keeps conversation membership', async () => {
      const store = s()
      const a = await setup(store)
      const b = await setup2(store, a.accountId)
      expect(await store.conversations.shareConversation(a.accountId, b)).toBe(false)
      const cid = id()
      await store.conversations.createConversation({
        id: cid,
        kind: 'direct',
        createdAt: T0 + 1,
        members: [a.accountId, b, b],
      })
      expect(await store.conversations.shareConversation(a.accountId, b)).toBe(true)
      expect((await store.conversations.getConversation(cid))!.members).toEqual([a.accountId, b].sort())
      expect((await store.conversations.listConversations(b)).map((c) => c.kind)).toEqual(['self', 'direct'])
    })
    it("keeps which group members are invited (have not joined), through every change of the group's log", async () => {
      const store = s()
      const a = await setup(store)
      const b = await setup2(store, a.accountId)
      const cid = id()
      const log = (seq: number) => ({ seq, hash: id(), entry: `{"seq":${seq}}`, createdAt: T0 + seq })
      await store.conversations.createConversation({
        id: cid,
        kind: 'group',
        createdAt: T0,
        members: [a.accountId, b],
        group: {
          entry: log(0),
          state: {
            name: 'team',
            members: [
              [a.accountId, 'owner'],
              [b, 'member'],
            ],
            invited: [b],
          },
        },
      })
      expect((await store.conversations.getConversation(cid))!.invited).toEqual([b])
      await store.conversations.appendGroupEntry(cid, log(1), {
        name: 'team',
        members: [
          [a.accountId, 'owner'],
          [b, 'member'],
        ],
        invited: [],
      })
      const c = (await store.conversations.getConversation(cid))!
      expect(c.invited).toEqual([])
      expect(c.members).toEqual([a.accountId, b].sort())
      // Self and direct conversations have no invitations.
      expect((await store.conversations.getConversation(a.conversationId))!.invited).toBeUndefined()
    })
    it('keeps a conversation retention', async () => {
      const store = s()
      const a = await setup(store)
      expect(await store.conversations.getConversationRetention(a.conversationId)).toBeNull()
      await store.conversations.setConversationRetention(a.conversationId, 60_000)
      expect(await store.conversations.getConversationRetention(a.conversationId)).toBe(60_000)
      await store.conversations.setConversationRetention(a.conversationId, null)
      expect(await store.conversations.getConversationRetention(a.conversationId)).toBeNull()
      await expectCode(store.conversations.setConversationRetention(id(), 1), 'NOT_FOUND')
      await expectCode(store.conversations.getConversationRetention(id()), 'NOT_FOUND')
    })
  })
}

async function setup2(store: MetadataStore, admin: string): Promise<string> {
  const codeHash = id()
  await store.accounts.createInvite({ id: id(), codeHash, createdAt: T0, expiresAt: null, createdBy: admin })
  const b = account(codeHash)
  await store.accounts.createAccount(b)
  return b.id
}
