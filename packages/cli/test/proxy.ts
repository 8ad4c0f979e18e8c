import net from 'node:net'

/**
 * A TCP proxy on loopback standing in for a load balancer in front of server instances: new
 * connections go to the current target port, client-to-server bytes are throttled to
 * `bytesPerSecond` (so a test can act in the middle of an upload) and counted.
 */
export interface TcpProxy {
  port: number
  url: string
  /** Sends new connections to another port. */
  retarget(port: number): void
  /** Bytes relayed from clients to servers so far. */
  bytesUp(): number
  close(): Promise<void>
}

export async function freePort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as net.AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

export async function startProxy(target: number, bytesPerSecond: number): Promise<TcpProxy> {
  let current = target
  let up = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(current, '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    const end = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    upstream.pipe(client)
    // Throttle: pause the client for as long as its last chunk takes at the configured rate.
    client.on('data', (d: Buffer) => {
      up += d.length
      if (!upstream.write(d)) client.pause()
      const wait = (d.length / bytesPerSecond) * 1000
      if (wait >= 1) {
        client.pause()
        setTimeout(() => {
          if (upstream.writableNeedDrain) return
          client.resume()
        }, wait)
      }
    })
    upstream.on('drain', () => client.resume())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as net.AddressInfo
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    retarget(p) {
      current = p
    },
    bytesUp: () => up,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((r) => server.close(r))
    },
  }
}
