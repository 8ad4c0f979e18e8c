import { beforeAll, describe, expect, it } from 'vitest'
import type { LogResponse } from '../src/api.js'
import {
  appendEntry,
  createGenesis,
  type DeviceLogEntry,
  entryHash,
  entryValue,
  extendVerified,
  type VerifiedLog,
  verifyLog,
} from '../src/device-log.js'
import { DeviceLogError, ForkError, RollbackError } from '../src/errors.js'
import { type DeviceSecrets, generateDevice } from '../src/identity.js'
import { type FetchLogPage, fetchVerifiedLog, syncVerifiedLog } from '../src/log-sync.js'

const ACCOUNT = 'acct-sync'
let a: DeviceSecrets
let entries: DeviceLogEntry[]

beforeAll(async () => {
  const [x, ...others] = await Promise.all(
    ['A', 'B', 'C', 'D', 'E'].map((name, i) => generateDevice({ name, kind: 'cli', now: i })),
  )
  a = x!
  entries = [createGenesis(ACCOUNT, a)]
  let v = verifyLog(ACCOUNT, entries.map(entryValue))
  for (const d of others) {
    const e = appendEntry(v, a, 'add', d.record)
    entries.push(e)
    v = extendVerified(v, [entryValue(e)])
  }
})

/** An honest server that answers `pageSize` entries at a time from `log`. */
function server(log: DeviceLogEntry[], pageSize = 2): FetchLogPage & { calls: (number | undefined)[] } {
  const calls: (number | undefined)[] = []
  const f = async (since: number | undefined): Promise<LogResponse> => {
    calls.push(since)
    const rest = log.filter((e) => since === undefined || e.seq > since)
    const page = rest.slice(0, pageSize)
    const last = log[log.length - 1]!
    return {
      entries: page.map(entryValue) as never,
      head: { seq: last.seq, hash: entryHash(last) },
      more: rest.length > pageSize,
    }
  }
  return Object.assign(f, { calls })
}

const prefix = (n: number): VerifiedLog => verifyLog(ACCOUNT, entries.slice(0, n).map(entryValue))

describe('reading a device log from an untrusted server', () => {
  it('fetches every page and verifies from genesis against the pin', async () => {
    const s = server(entries)
    const v = await fetchVerifiedLog(s, ACCOUNT, { seq: 2, head: entryHash(entries[2]!) })
    expect(v.seq).toBe(4)
    expect(s.calls).toEqual([undefined, 1, 3])
  })

  it('syncs forward from a pinned prefix', async () => {
    const v = await syncVerifiedLog(server(entries), prefix(2))
    expect(v.seq).toBe(4)
    expect(v.head).toBe(entryHash(entries[4]!))
  })

  it('a shorter log than the pin is a rollback', async () => {
    await expect(syncVerifiedLog(server(entries.slice(0, 2)), prefix(4))).rejects.toBeInstanceOf(
      RollbackError,
    )
  })

  it('a head that differs at the same seq is a fork', async () => {
    const honest = server(entries)
    const lying: FetchLogPage = async (since) => ({
      ...(await honest(since)),
      head: { seq: 4, hash: 'x'.repeat(43) },
    })
    await expect(syncVerifiedLog(lying, prefix(5))).rejects.toBeInstanceOf(ForkError)
    await expect(fetchVerifiedLog(lying, ACCOUNT)).rejects.toBeInstanceOf(ForkError)
  })

  it('a head beyond the entries sent is an incomplete log', async () => {
    const hiding: FetchLogPage = async (since) => ({
      ...(await server(entries.slice(0, 3), 10)(since)),
      head: { seq: 4, hash: entryHash(entries[4]!) },
    })
    await expect(fetchVerifiedLog(hiding, ACCOUNT)).rejects.toBeInstanceOf(DeviceLogError)
    await expect(syncVerifiedLog(hiding, prefix(1))).rejects.toBeInstanceOf(DeviceLogError)
  })

  it('"more" without new entries ends instead of looping', async () => {
    const stuck: FetchLogPage = async () => ({
      entries: [],
      head: { seq: 4, hash: entryHash(entries[4]!) },
      more: true,
    })
    await expect(syncVerifiedLog(stuck, prefix(2))).rejects.toBeInstanceOf(DeviceLogError)
  })
})
