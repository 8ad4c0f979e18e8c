// One measured operation in its own process, so its peak RSS is its own.
// usage: node age-op.mjs encrypt|decrypt <in> <out> <recipient|identity> [portable]
import { decryptStream, encryptStream } from '@airlock/core'
import { fileSink, fileSource, nodeAead } from '@airlock/core/node'

const [op, input, output, key, portable] = process.argv.slice(2)
const opts = portable === 'portable' ? {} : { aead: nodeAead }
const start = performance.now()
const src = fileSource(input)
const out = op === 'encrypt' ? await encryptStream([key], src, opts) : await decryptStream([key], src, opts)
await out.pipeTo(fileSink(output))
const seconds = (performance.now() - start) / 1000
console.log(JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 }))
