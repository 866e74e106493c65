/**
 * Socket.IO 4 servers as members, and Node socket.io-client clients that keep cookies, for the
 * end-to-end tests. A member answers the `whoami` event with its name and the transport the
 * client is on; a client records every `connect_error` and `disconnect`.
 */
import { createServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Server as IoServer } from 'socket.io'
import { io, type Socket as ClientSocket } from 'socket.io-client'

export interface IoMember {
  route: string
  url: string
  /** Clients connected to it now. */
  readonly connected: number
  close: () => Promise<void>
}

export interface WhoAmI { member: string, transport: string }

export async function startIoMember (route: string): Promise<IoMember> {
  const server: HttpServer = createServer()
  const ioServer = new IoServer(server)
  ioServer.on('connection', socket => {
    socket.on('whoami', (ack: (answer: WhoAmI) => void) => { ack({ member: route, transport: socket.conn.transport.name }) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    route,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connected () { return ioServer.engine.clientsCount },
    close: async () => {
      ioServer.disconnectSockets(true)
      await new Promise<void>(resolve => { ioServer.close(() => resolve()) })
    }
  }
}

/**
 * Ends a test's Socket.IO setup in the order that leaves no timer behind: the clients leave, the
 * members see them go (a closing handshake cut short would hold a 30 s timer), then the gateway
 * and the members close.
 */
export async function closeIo (clients: IoClient[], gateway: { close: () => Promise<void> }, members: IoMember[]): Promise<void> {
  for (const c of clients) c.socket.disconnect()
  for (let i = 0; i < 100 && members.some(m => m.connected > 0); i++) await sleep(50)
  await gateway.close()
  await Promise.all(members.map(async m => { await m.close() }))
}

export interface IoClient {
  socket: ClientSocket
  /** `connect_error` messages and `disconnect` reasons seen, in order. */
  problems: string[]
  /** The transport the client's connection opened over (long-polling, unless told otherwise). */
  connectedOver: string
  /** Asks the member who it is (an acknowledgement through the gateway), within 5 s. */
  whoami: () => Promise<WhoAmI>
  /** Resolves once the client runs over WebSocket (within 10 s). */
  upgraded: () => Promise<void>
}

/**
 * Connects a Socket.IO client through the gateway at `origin`. `withCredentials: true` makes the
 * Node client keep the cookies it is given (the balancer's included) and send them on every
 * polling request and on the WebSocket upgrade, as a browser does.
 */
export async function connectIo (origin: string, options: { path?: string, transports?: Array<'polling' | 'websocket'> } = {}): Promise<IoClient> {
  const socket = io(origin, {
    forceNew: true,
    reconnection: false,
    withCredentials: true,
    ...(options.path === undefined ? {} : { path: options.path }),
    ...(options.transports === undefined ? {} : { transports: options.transports })
  })
  const problems: string[] = []
  // The engine opens over its first transport; the upgrade comes after (racing Socket.IO's own connect).
  let connectedOver = ''
  socket.io.once('open', () => { connectedOver = socket.io.engine.transport.name })
  socket.on('connect_error', err => problems.push(`connect_error: ${err.message}`))
  socket.on('disconnect', reason => problems.push(`disconnect: ${reason}`))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no Socket.IO connection within 10 s (${problems.join('; ')})`)), 10_000)
    socket.once('connect', () => { clearTimeout(timer); resolve() })
    socket.once('connect_error', err => { clearTimeout(timer); reject(err) })
  })
  return {
    socket,
    problems,
    connectedOver,
    whoami: async () => await socket.timeout(5000).emitWithAck('whoami') as WhoAmI,
    upgraded: async () => {
      const engine = socket.io.engine
      if (engine.transport.name === 'websocket') return
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no upgrade to WebSocket within 10 s')), 10_000)
        engine.once('upgrade', () => { clearTimeout(timer); resolve() })
      })
    }
  }
}
