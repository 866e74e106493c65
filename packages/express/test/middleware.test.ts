/**
 * Express-specific behaviour: what the conformance suite cannot see from outside.
 */
import type { Routed } from '@stickyroute/core'
import stickyroute from '@stickyroute/express'
import cookieParser from 'cookie-parser'
import express, { type Express } from 'express'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { memberOf, send } from '../../../test/helpers/client.js'
import { closeServer, listen } from '../../../test/helpers/listen.js'
import { Upstreams } from '../../../test/helpers/upstreams.js'
import { httpsGet, selfSignedCertificate } from '../../../test/helpers/tls.js'
import { openWs, startWsMember, wsEcho } from '../../../test/helpers/ws-upstreams.js'
import { membersWhen } from '../../../test/websocket/harness.js'
import { Agent } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { WebSocketServer } from 'ws'

async function withUpstreams (t: Test, routes = ['a', 'b']): Promise<Upstreams> {
  const up = await Upstreams.start(routes)
  t.teardown(async () => { await up.close() })
  return up
}

async function serve (t: Test, app: Express): Promise<{ origin: string, server: Server }> {
  const server = await listen(app)
  t.teardown(async () => { await closeServer(server) })
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

t.test('req.sticky tells the application the member, the route and whether it changed', async t => {
  const up = await withUpstreams(t)
  const app = express()
  const seen: Array<Routed | null | undefined> = []
  app.use((req, res, next) => { res.on('finish', () => seen.push(req.sticky)); next() })
  app.use(stickyroute({ members: up.members, routeCookie: 'ROUTEID' }))
  const { origin } = await serve(t, app)
  await send(origin, { path: '/' })
  await send(origin, { path: '/', cookie: 'ROUTEID=.b' })
  t.equal(seen.length, 2)
  t.match(seen[0], { route: 'a', routeChanged: true, member: { url: up.at(0).url, route: 'a', index: 0 } })
  t.match(seen[1], { route: 'b', routeChanged: false, setCookie: undefined })
})

t.test('works the same with and without cookie-parser', async t => {
  const up = await withUpstreams(t, ['a', 'b', 'c'])
  for (const parser of [false, true]) {
    const app = express()
    if (parser) app.use(cookieParser())
    app.use(stickyroute({ members: up.members, routeCookie: 'ROUTEID' }))
    const { origin } = await serve(t, app)
    const label = parser ? 'with cookie-parser' : 'without cookie-parser'
    t.equal(memberOf(await send(origin, { path: '/', cookie: 'x=1; ROUTEID=.c' })), 'c', `${label}: routes by the cookie`)
    // cookie-parser would unquote and decode this value; Apache (and stickyroute) read the raw
    // header, where a quoted value carries no route: the client is balanced and re-pinned.
    const quoted = await send(origin, { path: '/', cookie: 'ROUTEID=".c"' })
    t.equal(quoted.setCookie.length, 1, `${label}: a quoted value is no route`)
    const encoded = await send(origin, { path: '/', cookie: 'ROUTEID=%2Ec' })
    t.equal(encoded.setCookie.length, 1, `${label}: no percent-decoding: %2Ec carries no route`)
  }
})

t.test('an auth middleware of the application runs before routing', async t => {
  const up = await withUpstreams(t)
  const app = express()
  app.use('/app', (req, res, next) => {
    if (req.headers.authorization !== 'Bearer ok') res.status(401).send('no\n')
    else next()
  })
  app.use('/app', stickyroute({ members: up.members, routeCookie: 'ROUTEID' }))
  const { origin } = await serve(t, app)
  const denied = await send(origin, { path: '/app/x' })
  t.equal(denied.status, 401)
  t.same(denied.setCookie, [])
  t.equal(up.list.reduce((n, m) => n + m.seen.length, 0), 0, 'nothing reached a member')
  t.equal(memberOf(await send(origin, { path: '/app/x', headers: { authorization: 'Bearer ok' } })), 'a')
})

t.test('the application\'s on.proxyReq and on.proxyRes run first; a keep-alive agent works', async t => {
  const up = await withUpstreams(t)
  const app = express()
  const agent = new Agent({ keepAlive: true })
  t.teardown(() => { agent.destroy() })
  app.use(stickyroute({
    members: up.members,
    routeCookie: 'ROUTEID',
    proxy: {
      agent,
      on: {
        proxyReq: proxyReq => { proxyReq.setHeader('x-forwarded-for', 'spoofed-by-hook'); proxyReq.setHeader('x-added', 'yes') },
        proxyRes: proxyRes => { proxyRes.headers['set-cookie'] = [...(proxyRes.headers['set-cookie'] ?? []), 'added=1'] }
      }
    }
  }))
  const { origin } = await serve(t, app)
  const res = await send(origin, { path: '/', headers: { 'x-test-set-cookie': 'JSESSIONID=s.a' } })
  t.same(res.setCookie, ['JSESSIONID=s.a', 'added=1', 'ROUTEID=.a; Path=/; HttpOnly; SameSite=Lax'])
  const echo = JSON.parse(res.body) as { headers: Record<string, string> }
  t.equal(echo.headers['x-added'], 'yes')
  t.match(echo.headers['x-forwarded-for'], /^(::ffff:)?127\.0\.0\.1$/, 'stickyroute sets X-Forwarded-For after the hook')
  // The application's agent is used as is, with http-proxy's own handling of Connection (it
  // passes the client's on): ask for keep-alive so that the agent keeps the member's socket.
  for (let i = 0; i < 3; i++) t.equal(memberOf(await send(origin, { path: '/', cookie: 'ROUTEID=.b', headers: { connection: 'keep-alive' } })), 'b', 'over a kept-alive connection')
  t.equal(Object.values(agent.freeSockets).flat().length, 1, 'member b\'s connection, kept by the application\'s agent')
})

t.test('bad options throw at creation with their ERR_STICKY_* code', async t => {
  const member = { url: 'http://127.0.0.1:1', route: 'a' }
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['no members', { members: [] }, 'ERR_STICKY_NO_MEMBERS'],
    ['duplicate urls', { members: [member, { ...member, route: 'b' }] }, 'ERR_STICKY_DUPLICATE_MEMBER'],
    ['route with a space', { members: [{ ...member, route: 'a b' }] }, 'ERR_STICKY_ROUTE_NAME'],
    ['reserved proxy option', { members: [member], proxy: { target: 'http://x' } }, 'ERR_STICKY_INVALID_OPTION'],
    ['reserved on.error', { members: [member], proxy: { on: { error: () => {} } } }, 'ERR_STICKY_INVALID_OPTION']
  ]
  for (const [name, options, code] of cases) {
    // @ts-expect-error: deliberately wrong options, as a JavaScript user could pass them
    t.throws(() => stickyroute(options), { code }, name)
  }
})

t.test('WebSocket upgrades pass through to the client\'s member via middleware.upgrade', async t => {
  const a = await startWsMember('a')
  const b = await startWsMember('b')
  t.teardown(async () => { await a.close(); await b.close() })
  const app = express()
  const sticky = stickyroute({ members: [{ url: a.url, route: 'a' }, { url: b.url, route: 'b' }], routeCookie: 'ROUTEID' })
  app.use(sticky)
  const { origin, server } = await serve(t, app)
  server.on('upgrade', sticky.upgrade)
  t.equal(await wsEcho(origin, '/socket', 'ROUTEID=.b', 'hi'), 'b:hi', 'the very first request is an upgrade')
  t.equal(await wsEcho(origin, '/socket', 'ROUTEID=.a', 'hi'), 'a:hi')
  t.equal(sticky.balancer.members()[1]?.elected, 1)
})

t.test('a member slower than proxy.proxyTimeout: the balancer\'s own 504, the member stays usable', async t => {
  const up = await withUpstreams(t)
  const app = express()
  app.use(stickyroute({ members: up.members, routeCookie: 'ROUTEID', proxy: { proxyTimeout: 200 } }))
  const { origin } = await serve(t, app)
  const res = await send(origin, { path: '/', cookie: 'ROUTEID=.b', headers: { 'x-test-delay': '1000' } })
  t.equal(res.status, 504)
  t.same(res.setCookie, [])
  t.equal(memberOf(await send(origin, { path: '/', cookie: 'ROUTEID=.b' })), 'b')
})

t.test('WebSocket upgrades: a member refusing with no other member left gives the balancer\'s 503, and goes into error', async t => {
  const app = express()
  const sticky = stickyroute({ members: [{ url: 'http://127.0.0.1:1', route: 'a' }], routeCookie: 'ROUTEID', forceRecovery: false })
  app.use(sticky)
  const { origin, server } = await serve(t, app)
  server.on('upgrade', sticky.upgrade)
  await t.rejects(wsEcho(origin, '/socket', 'ROUTEID=.a', 'hi'), /Unexpected server response: 503/, 'the member refuses: nobody left')
  t.equal(sticky.balancer.members()[0]?.inError, true)
  await t.rejects(wsEcho(origin, '/socket', 'ROUTEID=.a', 'hi'), /Unexpected server response: 503/, 'no member usable: 503 at once')
})

t.test('a WebSocket upgrade that reaches Express (no upgrade listener on the server) gets a 501 that says what to wire', async t => {
  const app = express()
  app.use(stickyroute({ members: [{ url: 'http://127.0.0.1:1', route: 'a' }] }))
  const { origin } = await serve(t, app)
  const res = await send(origin, { path: '/socket', headers: { connection: 'Upgrade', upgrade: 'websocket' } })
  t.equal(res.status, 501)
  t.match(res.body, /server\.on\('upgrade', middleware\.upgrade\)/)
  t.equal((await send(origin, { path: '/', headers: { connection: 'Upgrade', upgrade: 'h2c' } })).status, 503, 'other upgrades are plain requests (no member up here)')
})

t.test('WebSocket upgrades: on.proxyReqWs, on.open and on.close run; pathFilter and pathRewrite apply as for HTTP', async t => {
  const a = await startWsMember('a')
  t.teardown(a.close)
  const events: string[] = []
  const app = express()
  const sticky = stickyroute({
    members: [{ url: a.url, route: 'a' }],
    proxy: {
      pathFilter: '/ws/**',
      pathRewrite: { '^/ws': '/v1' },
      headers: { 'x-static': 'yes' },
      on: {
        proxyReqWs: proxyReq => { proxyReq.setHeader('x-added', 'yes'); events.push('proxyReqWs') },
        open: () => events.push('open'),
        close: () => events.push('close')
      }
    }
  })
  app.use(sticky)
  const { origin, server } = await serve(t, app)
  server.on('upgrade', sticky.upgrade)
  server.on('upgrade', (req, socket) => { if (req.url?.startsWith('/elsewhere') === true) socket.destroy() })
  const client = await openWs(origin, '/ws/socket?x=1')
  t.equal(await client.echo('hi'), 'a:hi')
  client.ws.send('close:4000')
  t.equal(await client.closed(), 4000)
  t.same(a.paths, ['/v1/socket?x=1'])
  t.match(a.headers[0], { 'x-added': 'yes', 'x-static': 'yes' })
  t.same(events, ['proxyReqWs', 'open', 'close'])
  await t.rejects(openWs(origin, '/elsewhere'), 'outside pathFilter: left to another listener')
  t.equal(a.paths.length, 1)
})

t.test('WebSocket upgrades: a pathRewrite that throws closes the connection, and no member is chosen', async t => {
  const a = await startWsMember('a')
  t.teardown(a.close)
  const app = express()
  const sticky = stickyroute({ members: [{ url: a.url, route: 'a' }], proxy: { pathRewrite: () => { throw new Error('no') }, logger: { info () {}, warn () {}, error () {} } } })
  app.use(sticky)
  const { origin, server } = await serve(t, app)
  server.on('upgrade', sticky.upgrade)
  await t.rejects(openWs(origin, '/socket'), /socket hang up|ECONNRESET/)
  t.same(sticky.balancer.members().map(m => [m.elected, m.busy]), [[0, 0]])
})

t.test('a connection that is gone by the time the balancer decides holds nothing', async t => {
  const a = await startWsMember('a')
  t.teardown(a.close)
  const app = express()
  const sticky = stickyroute({ members: [{ url: a.url, route: 'a' }] })
  app.use(sticky)
  const { origin, server } = await serve(t, app)
  // Stands for an application's upgrade check that ends the connection before handing it on.
  server.on('upgrade', (req, socket, head) => { socket.destroy(); sticky.upgrade(req, socket, head) })
  await t.rejects(openWs(origin, '/socket'))
  const members = await membersWhen(sticky.balancer, ms => ms[0]?.elected === 1)
  t.same(members.map(m => [m.elected, m.busy]), [[1, 0]], 'chosen, and released at once')
  t.same(a.paths, [], 'nothing reached the member')
})

t.test('WebSocket upgrades under mountPath: the mount path is stripped; other upgrades are left alone', async t => {
  const a = await startWsMember('a')
  t.teardown(async () => { await a.close() })
  const app = express()
  const sticky = stickyroute({ members: [{ url: a.url, route: 'a' }], routeCookie: 'ROUTEID', mountPath: '/app/' })
  app.use('/app', sticky)
  const { origin, server } = await serve(t, app)
  server.on('upgrade', sticky.upgrade)
  const other = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith('/other') === true) other.handleUpgrade(req, socket, head, ws => { ws.on('message', m => ws.send(`other:${String(m)}`)) })
  })
  t.teardown(() => { other.close() })
  t.equal(await wsEcho(origin, '/app/socket', undefined, 'hi'), 'a:hi')
  t.equal(await wsEcho(origin, '/other/socket', undefined, 'hi'), 'other:hi', 'an upgrade outside mountPath goes to its own listener')
  t.equal(await wsEcho(origin, '/app?x=1', undefined, 'hi'), 'a:hi')
  t.equal(await wsEcho(origin, '/app', undefined, 'hi'), 'a:hi')
  t.same(a.paths, ['/socket', '/?x=1', '/'], 'the member sees the path below the mount path, as for HTTP')
  server.on('upgrade', (req, socket) => { if (req.url?.startsWith('/apps') === true) socket.destroy() })
  await t.rejects(wsEcho(origin, '/apps/socket', undefined, 'hi'), 'a path that only starts with the mount path is not under it')
  t.equal(a.paths.length, 3)
  t.throws(() => stickyroute({ members: [{ url: a.url, route: 'a' }], mountPath: 'app' }), { code: 'ERR_STICKY_INVALID_OPTION', option: 'mountPath' })
  t.throws(() => stickyroute({ members: [{ url: a.url, route: 'a' }], mountPath: '/app?x' }), { code: 'ERR_STICKY_INVALID_OPTION', option: 'mountPath' })
  t.doesNotThrow(() => stickyroute({ members: [{ url: a.url, route: 'a' }], mountPath: '/app' }), 'without the trailing slash too')
})

t.test('the in-flight count goes back to 0 after answers, failovers, 503s and client aborts', async t => {
  const up = await withUpstreams(t)
  const app = express()
  const sticky = stickyroute({ members: up.members, routeCookie: 'ROUTEID' })
  app.use(sticky)
  const { origin } = await serve(t, app)
  const busy = (): number[] => sticky.balancer.members().map(m => m.busy)
  await send(origin, { path: '/' })
  await send(origin, { path: '/', cookie: 'ROUTEID=.b', headers: { 'x-test-status': '500' } })
  await up.at(1).stop()
  t.equal((await send(origin, { path: '/', cookie: 'ROUTEID=.b' })).status, 200, 'failover')
  await up.at(0).stop()
  t.equal((await send(origin, { path: '/', cookie: 'ROUTEID=.a' })).status, 503)
  await up.at(0).start()
  await send(origin, { path: '/', headers: { 'x-test-delay': '2000' }, timeout: 200 }).catch(() => 'aborted by the client')
  await new Promise(resolve => setTimeout(resolve, 100))
  t.same(busy(), [0, 0])
})

t.test('proxy.ws and proxy.ejectPlugins are stickyroute\'s own', async t => {
  const member = { url: 'http://127.0.0.1:1', route: 'a' }
  // @ts-expect-error: not in the type, as a JavaScript user could still pass it
  t.throws(() => stickyroute({ members: [member], proxy: { ws: true } }), { code: 'ERR_STICKY_INVALID_OPTION', option: 'proxy.ws' })
  // @ts-expect-error: not in the type, as a JavaScript user could still pass it
  t.throws(() => stickyroute({ members: [member], proxy: { ejectPlugins: true } }), { code: 'ERR_STICKY_INVALID_OPTION', option: 'proxy.ejectPlugins' })
  // @ts-expect-error: not in the options type either
  t.throws(() => stickyroute({ members: [member], proxy: { followRedirects: true } }), { code: 'ERR_STICKY_INVALID_OPTION', option: 'proxy.followRedirects', message: /redirect goes to the client/ })
})

t.test('over HTTPS the balancer cookie is Secure (secure: \'auto\')', async t => {
  const up = await withUpstreams(t)
  const app = express()
  app.use(stickyroute({ members: up.members, routeCookie: 'ROUTEID' }))
  const server = createHttpsServer(selfSignedCertificate(), app)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await closeServer(server) })
  const res = await httpsGet(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, '/')
  t.equal(res.status, 200)
  t.same(res.setCookie, ['ROUTEID=.a; Path=/; HttpOnly; Secure; SameSite=Lax'])
})
