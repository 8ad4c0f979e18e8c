// Helpers shared by the scale and soak benchmarks: seeding accounts, devices and sessions straight
// into a store (the rate limits and the per-entry log verification of the API would otherwise take
// minutes), and one JSON call against a running server.
import { hashSecret, randomId, randomSecret } from '../../packages/server/dist/tokens.js'

/**
 * `accounts` accounts of `perAccount` devices each, every device with a session token valid for
 * `sessionMs`. Returns `[{ id, conversationId, devices: [{ id, token }] }]`.
 */
export async function seed(store, { accounts: count, perAccount, sessionMs = 3_600_000 }) {
  const now = Date.now()
  const accounts = []
  for (let a = 0; a < count; a++) {
    const code = randomId()
    await store.accounts.createInvite({
      id: randomId(),
      codeHash: code,
      createdAt: now,
      expiresAt: null,
      createdBy: 'bench',
    })
    const id = randomId()
    const conversationId = randomId()
    const devices = [{ id: randomId(), token: randomSecret() }]
    let prev = randomId()
    await store.accounts.createAccount({
      id,
      username: `bench-${a}`,
      codeHash: code,
      now,
      quotaBytes: null,
      genesis: { seq: 0, prev: null, hash: prev, entry: '{}', createdAt: now },
      device: { id: devices[0].id, signKey: randomId() },
      selfConversationId: conversationId,
    })
    for (let d = 1; d < perAccount; d++) {
      const device = { id: randomId(), token: randomSecret() }
      const hash = randomId()
      await store.logs.appendLogEntry(
        id,
        { seq: d, prev, hash, entry: '{}', createdAt: now },
        { op: 'add', deviceId: device.id, signKey: randomId() },
      )
      prev = hash
      devices.push(device)
    }
    for (const d of devices) {
      await store.sessions.createSession({
        tokenHash: hashSecret(d.token),
        deviceId: d.id,
        accountId: id,
        expiresAt: now + sessionMs,
      })
    }
    accounts.push({ id, conversationId, devices })
  }
  return accounts
}

/** One request; throws on a status of 300 or more; returns the parsed JSON body or null. */
export async function call(base, method, path, headers, { json, body, signal } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: json ? { ...headers, 'content-type': 'application/json' } : headers,
    body: json ? JSON.stringify(json) : body,
    signal,
  })
  const text = await res.text()
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return text ? JSON.parse(text) : null
}
