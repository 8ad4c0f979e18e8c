// Items per second and push latency against running servers: every device of every seeded
// account holds a push WebSocket; `senders` concurrent loops store 1 KiB items (reserve, tus
// PATCH, commit) for `seconds`. Latency runs from the end of the upload (the start of the commit
// request) to the item event on each socket of the account.
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { percentile } from './report.mjs'
import { call } from './seed.mjs'

const ITEM = 1024

export async function measurePush(servers, accounts, { seconds, senders, log = () => {} }) {
  const devices = await connectDevices(servers, accounts, log)
  try {
    return await devices.run({ seconds, senders, log })
  } finally {
    devices.close()
  }
}

/**
 * Connects a push socket for every device of `accounts` (spread over `servers`); `run` then
 * measures one load level and can be called again on the same sockets.
 */
export async function connectDevices(servers, accounts, log = () => {}) {
  const perAccount = accounts[0].devices.length
  const devices = accounts.length * perAccount
  log(`connecting ${devices} devices to ${servers.length} instance(s)…`)
  let arrivals = []
  const sink = (key, at) => arrivals.push([key, at])
  const sockets = []
  let n = 0
  for (const acct of accounts) {
    for (const d of acct.devices) {
      const base = servers[n++ % servers.length].url.replace(/^http/, 'ws')
      sockets.push(await connect(`${base}/api/v1/push`, d.token, sink))
    }
  }
  const run = async ({ seconds, senders, log = () => {} }) => {
    arrivals = []
    log(`sending 1 KiB items for ${seconds} s with ${senders} sender(s), ${devices} devices connected…`)
    const started = new Map()
    const body = randomBytes(ITEM)
    const manifest = randomBytes(300)
    const end = performance.now() + seconds * 1000
    let items = 0
    const phases = { reserve: 0, upload: 0, commit: 0 }
    const sender = async (k) => {
      while (performance.now() < end) {
        const acct = accounts[(k + items) % accounts.length]
        const device = acct.devices[items % perAccount]
        const base = servers[items % servers.length].url
        const auth = { authorization: `Bearer ${device.token}` }
        const t1 = performance.now()
        const r = await call(base, 'POST', `/api/v1/conversations/${acct.conversationId}/items`, auth, {
          json: { ciphertextSize: ITEM },
        })
        const t2 = performance.now()
        await call(
          base,
          'PATCH',
          r.uploadUrl,
          {
            ...auth,
            'tus-resumable': '1.0.0',
            'upload-offset': '0',
            'content-type': 'application/offset+octet-stream',
          },
          { body },
        )
        const t0 = performance.now()
        phases.reserve += t2 - t1
        phases.upload += t0 - t2
        const c = await call(
          base,
          'PUT',
          `/api/v1/items/${r.itemId}/manifest`,
          { ...auth, 'content-type': 'application/octet-stream' },
          { body: manifest },
        )
        phases.commit += performance.now() - t0
        started.set(`${acct.conversationId}:${c.seq}`, t0)
        items++
      }
    }
    const t = performance.now()
    await Promise.all(Array.from({ length: senders }, (_, k) => sender(k)))
    const elapsed = (performance.now() - t) / 1000
    await new Promise((r) => setTimeout(r, 2000))
    const latencies = arrivals
      .map(([key, at]) => at - (started.get(key) ?? Number.NaN))
      .filter((x) => Number.isFinite(x))
      .sort((a, b) => a - b)
    return {
      instances: servers.length,
      devices,
      senders,
      seconds,
      items,
      itemsPerSecond: items / elapsed,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      expected: items * perAccount,
      delivered: latencies.length,
      /** Mean milliseconds per request of each step, as the senders saw them. */
      meanMs: Object.fromEntries(
        Object.entries(phases).map(([k, v]) => [k, Math.round(v / Math.max(1, items))]),
      ),
    }
  }
  return {
    run,
    close: () => {
      for (const s of sockets) s.terminate()
    },
  }
}

function connect(url, token, onItem) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })))
    ws.on('error', reject)
    ws.on('message', (data) => {
      const m = JSON.parse(String(data))
      if (m.type === 'ready') resolve(ws)
      else if (m.type === 'item') onItem(`${m.conversationId}:${m.seq}`, performance.now())
    })
  })
}
