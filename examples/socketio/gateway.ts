/**
 * Socket.IO behind the sticky gateway: three Socket.IO servers, and the Fastify plugin or the
 * Express middleware in front of them (STICKY_ADAPTER=fastify|express, default fastify), in
 * Method 2 (the balancer's ROUTEID cookie, set on the first polling answer).
 *
 *   npm run --silent example:socketio
 *   STICKY_ADAPTER=express npm run --silent example:socketio
 *
 * Then open http://127.0.0.1:8080/ in a few browser tabs, or run clients from a terminal:
 *
 *   node --import tsx examples/socketio/client.ts http://127.0.0.1:8080 5
 *
 * The STICKY_* variables of ../README.md apply; STICKY_UPSTREAMS names your own Socket.IO servers.
 */
import stickyrouteExpress from '@stickyroute/express'
import stickyrouteFastify from '@stickyroute/fastify'
import type { MemberOptions, StickyOptions } from '@stickyroute/core'
import express from 'express'
import Fastify from 'fastify'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { EnvConfigError, gatewayConfigFromEnv } from '../shared/env.js'
import { startSocketIoMembers, type SocketIoMembers } from './members.js'

const FORCE_EXIT_MS = 4000

interface Gateway { server: Server, close: () => Promise<void> }

async function startFastify (options: StickyOptions, port: number, host: string): Promise<Gateway> {
  // forceCloseConnections: a long-poll in flight is held by its server for up to 25 s; do not
  // wait for it on shutdown. (Open WebSockets are ended by the plugin itself.)
  const app = Fastify({ forceCloseConnections: true })
  await app.register(stickyrouteFastify, options)
  await app.listen({ port, host })
  return { server: app.server, close: async () => { await app.close() } }
}

async function startExpress (options: StickyOptions, port: number, host: string): Promise<Gateway> {
  const sticky = stickyrouteExpress(options)
  const app = express()
  app.use(sticky)
  const server = createServer(app)
  // The one way to wire upgrades: before the first request, on the HTTP server.
  server.on('upgrade', sticky.upgrade)
  // server.close() waits for upgraded connections: keep them, to end them on shutdown.
  const upgraded = new Set<Duplex>()
  server.on('upgrade', (_req, socket: Duplex) => {
    upgraded.add(socket)
    socket.once('close', () => upgraded.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  return {
    server,
    close: async () => {
      for (const socket of upgraded) socket.destroy()
      const closed = new Promise<void>(resolve => server.close(() => resolve()))
      server.closeAllConnections()
      await closed
    }
  }
}

function fail (error: unknown): never {
  if (error instanceof EnvConfigError) process.stderr.write(`${error.message}\n`)
  else if (error instanceof Error && typeof (error as { code?: unknown }).code === 'string') process.stderr.write(`${(error as Error & { code: string }).code}: ${error.message}\n`)
  else process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
}

let demo: SocketIoMembers | undefined
let gateway: Gateway
let adapter: string
let members: MemberOptions[]
try {
  adapter = process.env['STICKY_ADAPTER'] === undefined || process.env['STICKY_ADAPTER'] === '' ? 'fastify' : process.env['STICKY_ADAPTER']
  if (adapter !== 'fastify' && adapter !== 'express') throw new EnvConfigError('STICKY_ADAPTER', 'fastify or express', adapter)
  const config = gatewayConfigFromEnv({ STICKY_ROUTE_COOKIE: 'ROUTEID', ...process.env })
  if (config.upstreams === undefined) demo = await startSocketIoMembers()
  members = config.upstreams ?? demo?.members ?? []
  const start = adapter === 'fastify' ? startFastify : startExpress
  gateway = await start({ ...config.options, members }, config.port, config.host)
} catch (error) {
  await demo?.close()
  fail(error)
}

const { address, port } = gateway.server.address() as AddressInfo
const origin = `http://${address}:${port}`
process.stdout.write(`stickyroute socketio gateway (${adapter}) listening on ${origin} (${demo === undefined ? 'members' : 'Socket.IO servers'}: ${members.map(m => `${m.route}=${m.url}`).join(', ')})
Open ${origin}/ in a few browser tabs, or: node --import tsx examples/socketio/client.ts ${origin} 5
`)

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  setTimeout(() => {
    process.stderr.write(`stickyroute socketio gateway: close did not finish within ${FORCE_EXIT_MS} ms, exiting\n`)
    process.exit(0)
  }, FORCE_EXIT_MS).unref()
  Promise.all([gateway.close(), demo?.close()]).then(() => process.exit(0), fail)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
