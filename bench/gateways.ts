/**
 * The servers the bench measures, by name, and the upstream members behind them. Each one runs
 * in its own child process (bench/gateway-process.ts) so it can be pinned to a core and its RSS
 * read alone.
 */
import httpProxy from '@fastify/http-proxy'
import type { MemberOptions } from '@stickyroute/core'
import stickyrouteMiddleware from '@stickyroute/express'
import stickyroutePlugin from '@stickyroute/fastify'
import express from 'express'
import Fastify from 'fastify'
import { createProxyMiddleware } from 'http-proxy-middleware'
import { Agent, createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

const GATEWAY_NAMES = [
  'fastify-bare', 'fastify-sticky', 'fastify-sticky-noxf', 'express-bare', 'express-sticky', 'express-bare-keepalive', 'express-sticky-noagent'
] as const
export type GatewayName = typeof GATEWAY_NAMES[number]

/** The balancer cookie of the sticky gateways, and the routes of the three members. */
export const ROUTE_COOKIE = 'ROUTEID'
const ROUTES = ['a', 'b', 'c'] as const
/** The route of the valid-route workload; the bare proxies forward to this member, so both reach the same upstream. */
export const VALID_ROUTE = 'b'
/** Length of every upstream answer body. */
export const BODY_BYTES = 100

/** A listening server, as a child process reports it. */
export interface Started {
  readonly ports: readonly number[]
  close: () => Promise<void>
}

export function isGatewayName (name: string): name is GatewayName {
  return (GATEWAY_NAMES as readonly string[]).includes(name)
}

/** The members of the sticky gateways, from the upstreams' origins (in `ROUTES` order). */
function membersOf (upstreams: readonly string[]): MemberOptions[] {
  return ROUTES.map((route, i) => {
    const url = upstreams[i]
    if (url === undefined) throw new Error(`bench: no upstream for route ${route} (got ${upstreams.length} upstreams)`)
    return { url, route }
  })
}

/** The body member `route` answers with: `member=<route>` padded to `BODY_BYTES` bytes. */
function upstreamBody (route: string): Buffer {
  const text = `member=${route} `
  return Buffer.from(text.padEnd(BODY_BYTES - 1, '.') + '\n')
}

async function listen (handler: Server | RequestListener): Promise<Server> {
  const server = typeof handler === 'function' ? createServer(handler) : handler
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server
}

function portOf (server: Server): number {
  return (server.address() as AddressInfo).port
}

async function closeServer (server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
}

/** Three keep-alive upstream members answering every request with 200 and a 100-byte body naming the member. */
export async function startUpstreams (): Promise<Started> {
  const servers = await Promise.all(ROUTES.map(async route => {
    const body = upstreamBody(route)
    const headers = { 'content-type': 'text/plain', 'content-length': String(body.length) }
    const server = createServer((req, res) => {
      // GET requests without a body: answer at once; resume() in case a client sends one anyway.
      req.resume()
      res.writeHead(200, headers)
      res.end(body)
    })
    server.keepAliveTimeout = 65_000
    return await listen(server)
  }))
  return {
    ports: servers.map(portOf),
    close: async () => { await Promise.all(servers.map(closeServer)) }
  }
}

/** Starts the gateway `name` on 127.0.0.1:0 in front of `upstreams` (three origins, routes a, b, c). */
export async function startGateway (name: GatewayName, upstreams: readonly string[]): Promise<Started> {
  const members = membersOf(upstreams)
  const bareTarget = members.find(m => m.route === VALID_ROUTE)?.url as string
  switch (name) {
    case 'fastify-bare':
    case 'fastify-sticky':
    case 'fastify-sticky-noxf': {
      const app = Fastify({ logger: false })
      if (name === 'fastify-bare') await app.register(httpProxy, { upstream: bareTarget })
      // `fastify-sticky-noxf`: no X-Forwarded-* headers, which the bare proxy does not send either.
      else await app.register(stickyroutePlugin, { members, routeCookie: ROUTE_COOKIE, addForwardedHeaders: name === 'fastify-sticky' })
      await app.listen({ port: 0, host: '127.0.0.1' })
      return { ports: [portOf(app.server)], close: async () => { await app.close() } }
    }
    case 'express-bare':
    case 'express-sticky':
    case 'express-bare-keepalive':
    case 'express-sticky-noagent': {
      const app = express()
      // As commonly configured, http-proxy has no agent: one upstream connection per request, and
      // the member's `Connection: close` answer closes the client's connection too. stickyroute
      // keeps its member connections alive by default; `express-sticky-noagent` turns that off
      // (like for like with `express-bare`), `express-bare-keepalive` gives the bare middleware a
      // keep-alive agent (like for like with `express-sticky`).
      const agent = name === 'express-bare-keepalive' ? new Agent({ keepAlive: true }) : undefined
      if (name === 'express-bare') app.use(createProxyMiddleware({ target: bareTarget, changeOrigin: true }))
      else if (agent !== undefined) app.use(createProxyMiddleware({ target: bareTarget, changeOrigin: true, agent }))
      else app.use(stickyrouteMiddleware({ members, routeCookie: ROUTE_COOKIE, proxy: name === 'express-sticky-noagent' ? { agent: false } : {} }))
      const server = await listen(app)
      return {
        ports: [portOf(server)],
        close: async () => {
          await closeServer(server)
          agent?.destroy()
        }
      }
    }
  }
}
