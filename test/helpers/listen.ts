import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Gateway } from '../conformance/harness.js'

/** Listens on 127.0.0.1:0 with a server or a request listener (an Express app). */
export async function listen (handler: Server | RequestListener): Promise<Server> {
  const server = typeof handler === 'function' ? createServer(handler) : handler
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  return server
}

/** Closes a server and the connections it still holds. */
export async function closeServer (server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
}

/** Listens on 127.0.0.1:0 and hands back the origin and a close function. */
export async function serveGateway (handler: Server | RequestListener): Promise<Gateway> {
  const server = await listen(handler)
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: async () => { await closeServer(server) } }
}
