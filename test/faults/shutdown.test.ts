/**
 * Graceful shutdown (issue 6, item 4): closing the gateway while a slow request (its member
 * waits 1 s) is in flight. The request completes with 200; new connections are refused as soon
 * as the close starts; health checks stop; the connections to the members are closed; the close
 * resolves within a bound. Fastify: `app.close()`. Express: the pattern of its README
 * (`server.close()`, then `closeAllConnections()` after a grace period).
 * test/process/close-exits.test.ts checks that the process then exits by itself.
 */
import stickyroute from '@stickyroute/express'
import fastifyStickyroute from '@stickyroute/fastify'
import type { Balancer, StickyOptions } from '@stickyroute/core'
import express from 'express'
import Fastify from 'fastify'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import t from 'tap'
import { send } from '../helpers/client.js'

const GRACE_MS = 3000

/** A gateway and its close, bounded the way its README says: requests in flight get `graceMs` to finish, then their connections are cut. */
interface Closable { origin: string, balancer: Balancer, close: (graceMs: number) => Promise<void> }

async function listening (server: Server): Promise<string> {
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const GATEWAYS: ReadonlyArray<{ name: string, start: (options: StickyOptions) => Promise<Closable> }> = [
  {
    name: 'fastify',
    async start (options) {
      const app = Fastify()
      await app.register(fastifyStickyroute, options)
      const origin = await app.listen({ port: 0, host: '127.0.0.1' })
      return {
        origin,
        balancer: app.stickyroute,
        // The README's pattern: Fastify waits for requests in flight without a bound.
        close: async graceMs => {
          const force = setTimeout(() => app.server.closeAllConnections(), graceMs)
          await app.close()
          clearTimeout(force)
        }
      }
    }
  },
  {
    name: 'express',
    async start (options) {
      const app = express()
      const sticky = stickyroute(options)
      app.use(sticky)
      const server = createServer(app)
      server.on('upgrade', sticky.upgrade)
      const origin = await listening(server)
      return {
        origin,
        balancer: sticky.balancer,
        // The README's pattern: stop accepting, let requests in flight finish, cut what is left after a grace period.
        close: async graceMs => {
          const closed = new Promise<void>(resolve => server.close(() => resolve()))
          const force = setTimeout(() => server.closeAllConnections(), graceMs)
          await closed
          clearTimeout(force)
        }
      }
    }
  }
]

t.jobs = 1
for (const gateway of GATEWAYS) {
  t.test(`${gateway.name}: close with a request in flight`, async t => {
    // A member that counts its open connections and answers /slow after 1 s.
    const open = new Set<Socket>()
    const member = createServer((req, res) => {
      const answer = (): void => { res.end(`slow ${req.url ?? ''}`) }
      if (req.url === '/slow') setTimeout(answer, 1000)
      else answer()
    })
    member.keepAliveTimeout = 60_000
    member.on('connection', s => { open.add(s); s.once('close', () => open.delete(s)) })
    const memberUrl = await listening(member)
    t.teardown(async () => {
      member.closeAllConnections()
      await new Promise<void>(resolve => member.close(() => resolve()))
    })
    const gw = await gateway.start({
      members: [{ url: memberUrl, route: 'm1' }],
      stickySession: 'ROUTEID',
      routeCookie: 'ROUTEID',
      healthCheck: { method: 'GET', uri: '/hc', interval: 0.05 }
    })
    // Warm up: a request (kept-alive connections on both sides) and health checks running.
    t.equal((await send(gw.origin, { path: '/fast' })).status, 200)
    t.equal(gw.balancer.checking, true, 'health checks run')

    const slow = send(gw.origin, { path: '/slow', timeout: 5000 })
    await new Promise(resolve => setTimeout(resolve, 200))
    const start = Date.now()
    const closing = gw.close(GRACE_MS)
    await new Promise(resolve => setTimeout(resolve, 50))
    const refused = await new Promise<string>(resolve => {
      const url = new URL(gw.origin)
      const r = request({ host: url.hostname, port: url.port, path: '/fast', agent: false }, res => { res.resume(); resolve(`answered ${res.statusCode ?? 0}`) })
      r.on('error', err => resolve((err as NodeJS.ErrnoException).code ?? err.message))
      r.end()
    })
    t.equal(refused, 'ECONNREFUSED', 'new connections are refused once the close started')
    const res = await slow
    t.equal(res.status, 200, 'the request in flight completed')
    t.equal(res.body, 'slow /slow')
    await closing
    const took = Date.now() - start
    t.ok(took < GRACE_MS + 1000, `close() resolved within the bound (${took} ms)`)
    t.equal(gw.balancer.checking, false, 'health checks stopped')
    const deadline = Date.now() + 2000
    while (open.size > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    t.equal(open.size, 0, 'the connections to the member are closed', { open: [...open].map(s => [s.remotePort, s.bytesRead]) })
  })

  t.test(`${gateway.name}: a request that outlasts the grace period does not hold the close`, async t => {
    const member = createServer((_req, res) => { setTimeout(() => res.end('late'), 20_000).unref() })
    const memberUrl = await listening(member)
    t.teardown(async () => {
      member.closeAllConnections()
      await new Promise<void>(resolve => member.close(() => resolve()))
    })
    const gw = await gateway.start({ members: [{ url: memberUrl, route: 'm1' }], stickySession: 'ROUTEID', routeCookie: 'ROUTEID' })
    const stuck = send(gw.origin, { path: '/', timeout: 25_000 }).then(r => `answered ${r.status}`, (err: Error) => `cut: ${err.message}`)
    await new Promise(resolve => setTimeout(resolve, 200))
    const start = Date.now()
    await gw.close(500)
    const took = Date.now() - start
    t.ok(took >= 400 && took < 2000, `close() waited for the grace period, not for the member (${took} ms)`)
    t.match(await stuck, /^cut: /, 'the request still in flight is cut, not left hanging')
    t.equal(gw.balancer.checking, false, 'health checks stopped')
  })
}
