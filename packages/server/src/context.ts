import type { FastifyBaseLogger } from 'fastify'
import type { ServerConfig } from './config.js'
import type { RateLimiter } from './rate-limit.js'
import type { BlobStore } from './storage/blob/blob-store.js'
import type { MetadataStore } from './storage/metadata/metadata-store.js'
import type { PushHub } from './storage/push/push-hub.js'

/** What every route handler works with: configuration, the three stores, and the clock. */
export interface AppContext {
  config: ServerConfig
  store: MetadataStore
  blobs: BlobStore
  hub: PushHub
  limiter: RateLimiter
  /** Origins a login signature may name (fixed once the port is known). */
  origins: () => ReadonlySet<string>
  now: () => number
  log: FastifyBaseLogger
  version: string
}
