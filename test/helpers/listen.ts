import { createServer, type RequestListener, type Server } from 'node:http'

/** Listens on 127.0.0.1:0 with a server or a request listener (an Express app). */
export async function listen (handler: Server | RequestListener): Promise<Server> {
  const server = typeof handler === 'function' ? createServer(handler) : handler
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  return server
}
