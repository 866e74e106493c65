/**
 * Gateways for the WebSocket tests, one per adapter, started the way the READMEs say: the
 * Fastify plugin under `prefix`, and the Express middleware mounted at `prefix` with
 * `server.on('upgrade', middleware.upgrade)` wired before the server's first request.
 *
 * `watchBalancers` spies on the core's Balancer (select and finished) to read the in-flight
 * counts of a gateway's members and to check that no decision is finished twice. It changes no
 * behaviour.
 */
import { Balancer, type Decision, type MemberStatus, type StickyOptions } from '@stickyroute/core'
import stickyrouteExpress, { type ProxyOptions as ExpressProxyOptions } from '@stickyroute/express'
import stickyrouteFastify, { type ProxyOptions as FastifyProxyOptions } from '@stickyroute/fastify'
import express from 'express'
import Fastify from 'fastify'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { closeServer, listen } from '../helpers/listen.js'

export const ADAPTERS = ['fastify', 'express'] as const
export type Adapter = typeof ADAPTERS[number]

export interface WsGatewayOptions extends StickyOptions {
  /** Fastify `prefix`; Express mount path and `mountPath`. */
  prefix?: string
  fastifyProxy?: FastifyProxyOptions
  expressProxy?: ExpressProxyOptions
}

export interface WsGateway {
  origin: string
  server: Server
  close: () => Promise<void>
}

/** Starts `adapter` on 127.0.0.1:0 with `options`; closed when `t` ends. */
export async function startGateway (t: Test, adapter: Adapter, options: WsGatewayOptions): Promise<WsGateway> {
  const { prefix = '', fastifyProxy, expressProxy, ...sticky } = options
  let gateway: WsGateway
  if (adapter === 'fastify') {
    // Close without waiting for requests in flight: a Socket.IO long-poll is held by its member
    // for up to 25 s, and a test's teardown should not wait for it.
    const app = Fastify({ forceCloseConnections: true })
    await app.register(stickyrouteFastify, { ...sticky, prefix, ...(fastifyProxy === undefined ? {} : { proxy: fastifyProxy }) })
    const origin = await app.listen({ port: 0, host: '127.0.0.1' })
    gateway = { origin, server: app.server, close: async () => { await app.close() } }
  } else {
    const middleware = stickyrouteExpress({ ...sticky, mountPath: prefix, ...(expressProxy === undefined ? {} : { proxy: expressProxy }) })
    const app = express()
    app.use(prefix === '' ? '/' : prefix, middleware)
    const server = createServer(app)
    server.on('upgrade', middleware.upgrade)
    // server.close() waits for upgraded connections, which closeAllConnections() does not know: end them here.
    const upgraded = new Set<Duplex>()
    server.on('upgrade', (_req, socket: Duplex) => {
      upgraded.add(socket)
      socket.once('close', () => upgraded.delete(socket))
    })
    await listen(server)
    gateway = {
      origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      server,
      close: async () => {
        for (const socket of upgraded) socket.destroy()
        await closeServer(server)
      }
    }
  }
  t.teardown(gateway.close)
  return gateway
}

const balancers: Balancer[] = []
const finishedCount = new Map<Decision, number>()
let watching = 0
const originalSelect = Balancer.prototype.select
const originalFinished = Balancer.prototype.finished

/** The balancers seen so far and how often each decision was finished, while `t` runs. */
export function watchBalancers (t: Test): { balancerOf: (memberUrl: string) => Balancer, finishedTwice: () => number } {
  if (watching++ === 0) {
    Balancer.prototype.select = function select (this: Balancer, request) {
      if (!balancers.includes(this)) balancers.push(this)
      return originalSelect.call(this, request)
    }
    Balancer.prototype.finished = function finished (this: Balancer, decision) {
      finishedCount.set(decision, (finishedCount.get(decision) ?? 0) + 1)
      originalFinished.call(this, decision)
    }
  }
  t.teardown(() => {
    if (--watching > 0) return
    Balancer.prototype.select = originalSelect
    Balancer.prototype.finished = originalFinished
  })
  return {
    balancerOf: memberUrl => {
      const found = balancers.find(b => b.options.members.some(m => m.url === memberUrl))
      if (found === undefined) throw new Error(`no balancer seen for ${memberUrl}`)
      return found
    },
    finishedTwice: () => [...finishedCount.values()].filter(n => n > 1).length
  }
}

/** Resolves once `ready()` holds (polled for up to 5 s: a hang fails, it is never a wait). */
export async function until (ready: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ready(); i++) await sleep(50)
  if (!ready()) throw new Error('condition not met within 5 s')
}

/** The balancer of the gateway whose members include `memberUrl`, once it has routed something. */
export async function balancerSeen (spy: ReturnType<typeof watchBalancers>, memberUrl: string): Promise<Balancer> {
  await until(() => { try { spy.balancerOf(memberUrl); return true } catch { return false } })
  return spy.balancerOf(memberUrl)
}

/** The members' states, once `ready` holds for them (polled for up to 5 s: a hang fails, it is never a wait). */
export async function membersWhen (balancer: Balancer, ready: (members: MemberStatus[]) => boolean): Promise<MemberStatus[]> {
  for (let i = 0; i < 100; i++) {
    const members = balancer.members()
    if (ready(members)) return members
    await sleep(50)
  }
  return balancer.members()
}

/** The in-flight count of each member, once it is `expected` (or after 5 s). */
export async function busyWhen (balancer: Balancer, expected: number[]): Promise<number[]> {
  const members = await membersWhen(balancer, ms => ms.every((m, i) => m.busy === expected[i]))
  return members.map(m => m.busy)
}

/** The Method 2 cookie the balancer writes for `route`. */
export function routeCookie (route: string): string {
  return `ROUTEID=.${route}; Path=/; HttpOnly; SameSite=Lax`
}
