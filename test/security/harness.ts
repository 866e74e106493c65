/**
 * What the security tests share: the three gateways (the Fastify plugin, the Express middleware,
 * the core on plain node:http), and an "attacker" server that counts every TCP connection it
 * receives, so a test can prove that no request made the gateway connect anywhere but a member.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { AdapterHarness } from '../conformance/harness.js'
import { createCustomGateway } from '../../examples/custom-gateway/proxy.js'
import { startExpress, startFastify } from '../helpers/gateways.js'
import { serveGateway } from '../helpers/listen.js'

export const GATEWAYS: readonly AdapterHarness[] = [
  { name: 'fastify', start: startFastify },
  { name: 'express', start: startExpress },
  { name: 'custom-gateway', start: async (options, { prefix }) => await serveGateway(createCustomGateway({ ...options, prefix })) }
]

/** A TCP server on 127.0.0.1:0 that stands for any address outside the cluster: it counts connections and answers a bare HTTP 200 "attacker". */
export interface Attacker {
  /** `127.0.0.1:<port>`: the authority every hostile target names. */
  readonly host: string
  readonly port: number
  /** Connections received so far. */
  readonly connections: number
  close: () => Promise<void>
}

export async function startAttacker (): Promise<Attacker> {
  let connections = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer(socket => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.end('HTTP/1.1 200 OK\r\nx-member: attacker\r\ncontent-length: 9\r\nconnection: close\r\n\r\nattacker\n')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    host: `127.0.0.1:${port}`,
    port,
    get connections () { return connections },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
