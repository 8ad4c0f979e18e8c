export { nodeAead } from './aead.js'
export { BlockReader, SequentialWriter } from './direct.js'
export { bootId, fileSink, fileSource, writeAll } from './files.js'
export { nodeSha256 } from './hash.js'
