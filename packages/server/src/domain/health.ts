import type { AppContext } from '../context.js'

/** A valid blob id no item ever gets (ids are random), so asking for it only exercises storage. */
const PROBE_ID = 'airlock-readiness-probe'

/** Resolves once the metadata store (and, with `blobs`, the blob store) answers; else throws. */
export async function probeStorage(ctx: AppContext, opts: { blobs: boolean }): Promise<void> {
  await ctx.store.accounts.countAccounts()
  if (opts.blobs) await ctx.blobs.status(PROBE_ID)
}
