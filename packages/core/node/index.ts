export { nodeAead } from './aead.js'
export { fileSink, fileSource } from './files.js'
export { nodeSha256 } from './hash.js'
