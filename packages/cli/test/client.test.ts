import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiClient } from '../src/client.js'

describe('streamed requests on a kept-alive connection', () => {
  let server: Server
  let origin: string
  let connections = 0
  beforeAll(async () => {
    server = createServer((_req, res) => res.end('x'.repeat(1000)))
    server.on('connection', () => connections++)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  it('add no listener per request to the shared socket', async () => {
    const client = new ApiClient(origin)
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const sockets = new Set<Socket>()
      const errorListeners: number[] = []
      for (let i = 0; i < 30; i++) {
        const res = await client.stream('GET', '/file')
        const socket = (res.body as IncomingMessage).socket as Socket
        sockets.add(socket)
        let n = 0
        for await (const chunk of res.body) n += chunk.length
        expect(n).toBe(1000)
        errorListeners.push(socket.listenerCount('error'))
      }
      // One connection carried every request, and it holds as many error listeners after the
      // thirtieth as after the second.
      expect(sockets.size).toBe(1)
      expect(connections).toBe(1)
      expect(errorListeners.at(-1)).toBe(errorListeners[1])
      await new Promise((r) => setImmediate(r))
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
    } finally {
      process.off('warning', onWarning)
    }
  })
})
