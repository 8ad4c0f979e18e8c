import type { DirectoryStore, PinnedColleague, PinnedGroup } from '@airlock/core'
import * as store from './store.ts'

/**
 * Core's `DirectoryStore` in this browser's IndexedDB, next to the device's own keys and log:
 * colleagues' pinned device logs (`dir:colleague:<account>`), verified group logs
 * (`dir:group:<conversation>`) and the peer of each direct conversation (`dir:peer:<conversation>`).
 * Pins are only ever raised: a write older than what another tab already stored is dropped.
 */
export const directoryStore: DirectoryStore = {
  async getColleague(accountId) {
    return (await store.get<PinnedColleague>(`dir:colleague:${accountId}`)) ?? null
  },
  async putColleague(c) {
    const value = plain(c)
    await store.update<PinnedColleague>(`dir:colleague:${c.accountId}`, (old) =>
      old && old.pin.seq > c.pin.seq ? { ...old, verified: old.verified || c.verified } : value,
    )
  },
  async deleteColleague(accountId) {
    await store.del(`dir:colleague:${accountId}`)
  },
  async listColleagues() {
    return (await store.list<PinnedColleague>('dir:colleague:')).map((x) => x.value)
  },
  async getGroup(conversationId) {
    return (await store.get<PinnedGroup>(`dir:group:${conversationId}`)) ?? null
  },
  async putGroup(g) {
    const value = plain(g)
    await store.update<PinnedGroup>(`dir:group:${g.conversationId}`, (old) =>
      old && old.pin.seq > g.pin.seq ? old : value,
    )
  },
  async getDirectPeer(conversationId) {
    return (await store.get<string>(`dir:peer:${conversationId}`)) ?? null
  },
  async putDirectPeer(conversationId, accountId) {
    // The first peer seen stays: a later, different answer is the server's, not the pin's.
    await store.update<string>(`dir:peer:${conversationId}`, (old) => old ?? accountId)
  },
}

/** Usernames learnt from lookups, shown for accounts the server names only by id. */
export async function knownUsername(accountId: string): Promise<string | undefined> {
  return store.get<string>(`dir:username:${accountId}`)
}

export async function rememberUsername(accountId: string, username: string): Promise<void> {
  // A pinned colleague keeps the name it was pinned under: a server cannot relabel them.
  if (await directoryStore.getColleague(accountId)) return
  await store.put(`dir:username:${accountId}`, username)
}

/** Verified logs are frozen objects; IndexedDB stores a plain copy of their wire values. */
function plain<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T
}
