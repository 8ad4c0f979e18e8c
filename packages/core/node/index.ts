export { nodeAead } from './aead.js'
export { fileSink, fileSource } from './files.js'
