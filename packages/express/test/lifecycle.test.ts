/**
 * Express-specific parts of the member lifecycle: the `logger` option, health checks that start
 * with the middleware and stop with its server (or `middleware.close()`), and an upgrade whose
 * target is not a path.
 */
import type { StickyLogger } from '@stickyroute/core'
import stickyroute from '@stickyroute/express'
import express from 'express'
import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { memberOf, send } from '../../../test/helpers/client.js'
import { closeServer, listen } from '../../../test/helpers/listen.js'
import { Upstreams } from '../../../test/helpers/upstreams.js'

async function withUpstreams (t: Test, routes = ['a', 'b']): Promise<Upstreams> {
  const up = await Upstreams.start(routes)
  t.teardown(async () => { await up.close() })
  return up
}

/** A pino-like logger that keeps its lines. */
function memoryLogger (): StickyLogger & { lines: Array<[string, string]> } {
  const lines: Array<[string, string]> = []
  return {
    lines,
    debug: (_obj, msg) => { lines.push(['debug', msg]) },
    info: (_obj, msg) => { lines.push(['info', msg]) },
    warn: (_obj, msg) => { lines.push(['warn', msg]) }
  }
}

t.test('logger: a member going out of service is a warning, a re-pinned client info, a normal request nothing', async t => {
  const up = await withUpstreams(t)
  const logger = memoryLogger()
  const server = await listen(express().use(stickyroute({ members: up.members, routeCookie: 'ROUTEID', logger })))
  t.teardown(async () => { await closeServer(server) })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  await send(origin, { path: '/', cookie: 'ROUTEID=.a' })
  t.same(logger.lines, [], 'a sticky request logs nothing')
  await send(origin, { path: '/' })
  t.same(logger.lines.map(l => l[0]), ['debug'], 'a new client: debug only')
  logger.lines.length = 0
  await up.at(0).stop()
  const moved = await send(origin, { path: '/', cookie: 'ROUTEID=.a' })
  t.equal(memberOf(moved), 'b')
  t.match(logger.lines, [
    ['warn', /member a \(http:\/\/127\.0\.0\.1:\d+\) is now inError: connect-failure \(ECONNREFUSED\)/],
    ['info', /client of route a pinned to b: failover/]
  ])
})

t.test('logger: anything but a pino-compatible logger is refused at creation', async t => {
  for (const logger of [console.log, { info: () => {} }, null, 'pino']) {
    // @ts-expect-error: deliberately wrong, as a JavaScript user could pass it
    t.throws(() => stickyroute({ members: [{ url: 'http://127.0.0.1:1', route: 'a' }], logger }), { code: 'ERR_STICKY_INVALID_OPTION', option: 'logger' })
  }
})

t.test('health checks start with the middleware and stop when its server closes', async t => {
  const up = await withUpstreams(t)
  const sticky = stickyroute({ members: up.members, healthCheck: { uri: '/hc', interval: 0.02 } })
  t.equal(sticky.balancer.checking, true, 'running from creation')
  const server = await listen(createServer(express().use(sticky)))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.equal((await send(origin, { path: '/' })).status, 200)
  await closeServer(server)
  await new Promise(resolve => setImmediate(resolve))
  t.equal(sticky.balancer.checking, false, 'stopped with the server')
  const before = up.at(0).healthChecks
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(up.at(0).healthChecks, before, 'no check after the server closed')
})

t.test('middleware.close() stops the health checks of a middleware that never served', async t => {
  const up = await withUpstreams(t)
  const sticky = stickyroute({ members: up.members, healthCheck: { method: 'TCP', interval: 0.02 } })
  t.equal(sticky.balancer.checking, true)
  await sticky.close()
  t.equal(sticky.balancer.checking, false)
})

t.test('an upgrade whose request target is not a path gets 400, and reaches no member', async t => {
  const up = await withUpstreams(t)
  const sticky = stickyroute({ members: up.members })
  const server = createServer(express().use(sticky))
  server.on('upgrade', sticky.upgrade)
  await listen(server)
  t.teardown(async () => { await closeServer(server) })
  const { port } = server.address() as AddressInfo
  const head = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET http://127.0.0.1:${up.at(0).port}/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    })
    let text = ''
    socket.on('data', c => { text += c.toString('latin1') })
    socket.once('close', () => resolve(text))
    socket.once('error', reject)
  })
  t.match(head, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.match(head, /the request target must be a path/)
  t.equal(up.at(0).seen.length + up.at(1).seen.length, 0, 'no member saw it')
})
