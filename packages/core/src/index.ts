/**
 * @airlock/core — everything that decides whether an Airlock item is safe. Web-platform APIs
 * only; the Node fast path is `@airlock/core/node`.
 */
export * from './access-log.js'
export * from './addressing.js'
export * from './age.js'
export * from './api.js'
export * from './api-doc.js'
export { bytesStream, readAll, readerSource } from './byte-streams.js'
export * from './bytes.js'
export * from './call-endpoint.js'
export * from './canonical.js'
export * from './conversations.js'
export * from './device-log.js'
export * from './directory.js'
export * from './endpoints.js'
export * from './enrollment.js'
export * from './error-kinds.js'
export * from './errors.js'
export * from './filename.js'
export * from './group-log.js'
export * from './identity.js'
export * from './item.js'
export {
  acceptLinkOffer,
  completeLinkOffer,
  createLinkOffer,
  encodeLinkPayload,
  formatLinkCode,
  generateLinkCode,
  type LinkOffer,
  type LinkPayload,
  MAX_LINK_LIFETIME_MS,
  parseLinkCode,
  parseLinkPayload,
} from './link.js'
export * from './link-session.js'
export * from './log-sync.js'
export * from './manifest.js'
export * from './own-log.js'
export * from './padding.js'
export {
  type LinkCode,
  type LinkSecrets,
  openLinkMessage,
  type PakeRole,
  PakeSession,
  sealLinkMessage,
} from './pake.js'
export * from './policy.js'
export * from './retry.js'
export * from './risk.js'
export * from './sending.js'
export * from './session.js'
export * from './share.js'
export * from './share-flow.js'
export { CHUNK_SIZE, type ChunkAead, nobleAead, streamCiphertextSize, TAG_SIZE } from './stream.js'
export * from './transport.js'
export * from './tus.js'
export * from './verified-accesses.js'
export * from './verified-items.js'
