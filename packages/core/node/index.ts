export { nodeAead } from './aead.js'
export { BlockReader, SequentialWriter, writeAll } from './direct.js'
export { bootId, fileSink, fileSource } from './files.js'
export { nodeSha256 } from './hash.js'
