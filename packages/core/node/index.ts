export { nodeAead } from './aead.js'
export { fileSink, fileSource, writeAll } from './files.js'
export { nodeSha256 } from './hash.js'
