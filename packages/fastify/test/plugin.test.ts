/**
 * Fastify-specific behaviour: what the conformance suite cannot see from outside.
 */
import type { Balancer, Routed } from '@stickyroute/core'
import stickyroute from '@stickyroute/fastify'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { memberOf, send } from '../../../test/helpers/client.js'
import { Upstreams } from '../../../test/helpers/upstreams.js'
import { httpsGet, selfSignedCertificate } from '../../../test/helpers/tls.js'
import { openWs, startWsMember, wsEcho } from '../../../test/helpers/ws-upstreams.js'
import { balancerSeen, busyWhen, watchBalancers } from '../../../test/websocket/harness.js'
import { WebSocketServer } from 'ws'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

async function withUpstreams (t: Test, routes = ['a', 'b']): Promise<Upstreams> {
  const up = await Upstreams.start(routes)
  t.teardown(async () => { await up.close() })
  return up
}

async function listen (t: Test, app: FastifyInstance): Promise<string> {
  t.teardown(async () => { await app.close() })
  return await app.listen({ port: 0, host: '127.0.0.1' })
}

t.test('request.sticky tells the application the member, the route and whether it changed', async t => {
  const up = await withUpstreams(t)
  const app = Fastify()
  const seen: Array<Routed | null> = []
  app.addHook('onResponse', async request => { seen.push(request.sticky) })
  await app.register(stickyroute, { members: up.members, routeCookie: 'ROUTEID' })
  const origin = await listen(t, app)
  await send(origin, { path: '/' })
  await send(origin, { path: '/', cookie: 'ROUTEID=.b' })
  t.equal(seen.length, 2)
  t.match(seen[0], { route: 'a', routeChanged: true, member: { url: up.at(0).url, route: 'a', index: 0 } })
  t.match(seen[1], { route: 'b', routeChanged: false, setCookie: undefined, member: { url: up.at(1).url } })
})

t.test('an auth onRequest hook of the application runs before routing', async t => {
  const up = await withUpstreams(t)
  const app = Fastify()
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization !== 'Bearer ok') await reply.code(401).send('no\n')
  })
  await app.register(stickyroute, { prefix: '/app', members: up.members, routeCookie: 'ROUTEID' })
  const origin = await listen(t, app)
  const denied = await send(origin, { path: '/app/x' })
  t.equal(denied.status, 401)
  t.same(denied.setCookie, [], 'no balancer cookie: no member was chosen')
  t.equal(up.list.reduce((n, m) => n + m.seen.length, 0), 0, 'nothing reached a member')
  const allowed = await send(origin, { path: '/app/x', headers: { authorization: 'Bearer ok' } })
  t.equal(allowed.status, 200)
  t.equal(memberOf(allowed), 'a')
})

t.test('two balancers under two prefixes, next to the application\'s own routes', async t => {
  const one = await withUpstreams(t, ['a1', 'a2'])
  const two = await withUpstreams(t, ['b1', 'b2'])
  const app = Fastify()
  app.get('/health', async () => 'ok')
  await app.register(stickyroute, { prefix: '/one', members: one.members, routeCookie: 'ROUTEID' })
  await app.register(stickyroute, { prefix: '/two', decorator: 'stickyrouteTwo', members: two.members, stickySession: 'JSESSIONID|jsessionid' })
  const origin = await listen(t, app)
  t.equal((await send(origin, { path: '/health' })).body, 'ok')
  t.equal(memberOf(await send(origin, { path: '/one/', cookie: 'ROUTEID=.a2' })), 'a2')
  t.equal(memberOf(await send(origin, { path: '/two/;jsessionid=s.b2' })), 'b2')
  t.same(app.stickyroute.members().map(m => m.route), ['a1', 'a2'], 'app.stickyroute: the first balancer')
  t.same(app.getDecorator<Balancer>('stickyrouteTwo').members().map(m => m.route), ['b1', 'b2'], 'the second, under its own decorator')
})

t.test('the balancer decorator: runtime control from the app; a second balancer needs a name of its own', async t => {
  const up = await withUpstreams(t, ['a', 'b'])
  const app = Fastify()
  await app.register(stickyroute, { members: up.members, routeCookie: 'ROUTEID' })
  app.stickyroute.set('a', { draining: true })
  const origin = await listen(t, app)
  t.equal(memberOf(await send(origin, { path: '/' })), 'b', 'a drained through the decorator: new clients go to b')
  t.equal(memberOf(await send(origin, { path: '/', cookie: 'ROUTEID=.a' })), 'a', 'its sticky clients stay')
  const dup = Fastify()
  // Registered without await: the failure surfaces at ready(), as Fastify reports plugin errors.
  dup.register(stickyroute, { members: up.members })
  dup.register(stickyroute, { prefix: '/x', members: up.members })
  await t.rejects(async () => { await dup.ready() }, {
    code: 'ERR_STICKY_INVALID_OPTION', option: 'decorator', message: /names a decorator the app already has \("stickyroute"\).*decorator: 'stickyroute2'/
  })
  const bad = Fastify()
  bad.register(stickyroute, { members: up.members, decorator: '' })
  await t.rejects(async () => { await bad.ready() }, { code: 'ERR_STICKY_INVALID_OPTION', option: 'decorator' })
})

t.test('proxy options pass through to @fastify/http-proxy (rewritePrefix)', async t => {
  const up = await withUpstreams(t)
  const app = Fastify()
  await app.register(stickyroute, { prefix: '/api', members: up.members, proxy: { rewritePrefix: '/v1' } })
  const origin = await listen(t, app)
  const res = await send(origin, { path: '/api/things?x=1' })
  t.equal((JSON.parse(res.body) as { url: string }).url, '/v1/things?x=1')
})

t.test('bad options fail at registration with their ERR_STICKY_* code', async t => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['no members', { members: [] }, 'ERR_STICKY_NO_MEMBERS'],
    ['not http(s)', { members: [{ url: 'ftp://127.0.0.1:21', route: 'a' }] }, 'ERR_STICKY_MEMBER_URL'],
    ['unknown option', { members: [{ url: 'http://127.0.0.1:1', route: 'a' }], stickysession: 'X' }, 'ERR_STICKY_UNKNOWN_OPTION'],
    ['reserved proxy option', { members: [{ url: 'http://127.0.0.1:1', route: 'a' }], proxy: { upstream: 'http://x' } }, 'ERR_STICKY_INVALID_OPTION'],
    ['reserved reply option', { members: [{ url: 'http://127.0.0.1:1', route: 'a' }], proxy: { replyOptions: { onError: () => {} } } }, 'ERR_STICKY_INVALID_OPTION']
  ]
  for (const [name, options, code] of cases) {
    const app = Fastify()
    // @ts-expect-error: deliberately wrong options, as a JavaScript user could pass them
    app.register(stickyroute, options)
    await t.rejects(async () => { await app.ready() }, { code }, name)
    await app.close()
  }
})

t.test('WebSocket upgrades pass through to the client\'s member', async t => {
  const a = await startWsMember('a')
  const b = await startWsMember('b')
  t.teardown(async () => { await a.close(); await b.close() })
  const app = Fastify()
  await app.register(stickyroute, { members: [{ url: a.url, route: 'a' }, { url: b.url, route: 'b' }], routeCookie: 'ROUTEID' })
  const origin = await listen(t, app)
  t.equal(await wsEcho(origin, '/socket', 'ROUTEID=.b', 'hi'), 'b:hi')
  t.equal(await wsEcho(origin, '/socket', 'ROUTEID=.a', 'hi'), 'a:hi')
})

t.test('the application\'s replyOptions.rewriteHeaders and rewriteRequestHeaders run first', async t => {
  const up = await withUpstreams(t)
  const app = Fastify()
  await app.register(stickyroute, {
    members: up.members,
    routeCookie: 'ROUTEID',
    proxy: {
      replyOptions: {
        rewriteRequestHeaders: (_request, headers) => ({ ...headers, 'x-added': 'yes', 'x-forwarded-for': 'spoofed-by-hook' }),
        rewriteHeaders: headers => ({ ...headers, 'set-cookie': ['added=1'] })
      }
    }
  })
  const origin = await listen(t, app)
  const res = await send(origin, { path: '/' })
  const echo = JSON.parse(res.body) as { headers: Record<string, string> }
  t.equal(echo.headers['x-added'], 'yes')
  t.match(echo.headers['x-forwarded-for'], /^(::ffff:)?127\.0\.0\.1$/, 'stickyroute sets X-Forwarded-For after the hook')
  t.same(res.setCookie, ['added=1', 'ROUTEID=.a; Path=/; HttpOnly; SameSite=Lax'])
})

t.test('a member slower than replyOptions.timeout: the balancer\'s own 504, the member stays usable', async t => {
  const up = await withUpstreams(t)
  const app = Fastify()
  await app.register(stickyroute, { members: up.members, routeCookie: 'ROUTEID', proxy: { replyOptions: { timeout: 200 } } })
  const origin = await listen(t, app)
  const res = await send(origin, { path: '/', cookie: 'ROUTEID=.b', headers: { 'x-test-delay': '1000' } })
  t.equal(res.status, 504)
  t.same(res.setCookie, [])
  t.equal(memberOf(await send(origin, { path: '/', cookie: 'ROUTEID=.b' })), 'b')
})

t.test('a WebSocket upgrade when no member is up gets the balancer\'s 503', async t => {
  const app = Fastify()
  await app.register(stickyroute, { members: [{ url: 'http://127.0.0.1:1', route: 'a' }], routeCookie: 'ROUTEID', forceRecovery: false })
  const origin = await listen(t, app)
  t.equal((await send(origin, { path: '/' })).status, 503, 'the member refuses and goes into error')
  await t.rejects(wsEcho(origin, '/socket', 'ROUTEID=.a', 'hi'), /Unexpected server response: 503/)
})

t.test('over HTTPS the balancer cookie is Secure (secure: \'auto\')', async t => {
  const up = await withUpstreams(t)
  const app = Fastify({ https: selfSignedCertificate() })
  await app.register(stickyroute, { members: up.members, routeCookie: 'ROUTEID' })
  t.teardown(async () => { await app.close() })
  const origin = await app.listen({ port: 0, host: '127.0.0.1' })
  const res = await httpsGet(origin, '/')
  t.equal(res.status, 200)
  t.same(res.setCookie, ['ROUTEID=.a; Path=/; HttpOnly; Secure; SameSite=Lax'])
})

t.test('failover keeps the rewritten path (proxy.rewritePrefix)', async t => {
  const up = await withUpstreams(t)
  const app = Fastify()
  await app.register(stickyroute, { prefix: '/api', members: up.members, routeCookie: 'ROUTEID', proxy: { rewritePrefix: '/v1' } })
  const origin = await listen(t, app)
  await up.at(0).stop()
  const res = await send(origin, { path: '/api/things?x=1', cookie: 'ROUTEID=.a' })
  t.equal(memberOf(res), 'b')
  t.equal((JSON.parse(res.body) as { url: string }).url, '/v1/things?x=1')
})

t.test('WebSocket upgrades next to another upgrade listener: only those under the prefix are stickyroute\'s', async t => {
  const a = await startWsMember('a')
  t.teardown(a.close)
  const app = Fastify()
  await app.register(stickyroute, { prefix: '/app', members: [{ url: a.url, route: 'a' }] })
  const other = new WebSocketServer({ noServer: true })
  app.server.on('upgrade', (req, socket, head) => {
    if (req.url?.startsWith('/other') === true) other.handleUpgrade(req, socket, head, ws => { ws.on('message', m => ws.send(`other:${String(m)}`)) })
  })
  t.teardown(() => { other.close() })
  const origin = await listen(t, app)
  t.equal(await wsEcho(origin, '/app/socket', undefined, 'hi'), 'a:hi')
  t.equal(await wsEcho(origin, '/app', undefined, 'hi'), 'a:hi', 'the prefix itself')
  t.equal(await wsEcho(origin, '/other/socket', undefined, 'hi'), 'other:hi', 'another listener\'s upgrade is left to it')
  t.same(a.paths, ['/socket', '/'])
})

t.test('a WebSocket upgrade whose path escapes the prefix is a 400, before any member is chosen', async t => {
  const a = await startWsMember('a')
  t.teardown(a.close)
  const app = Fastify()
  await app.register(stickyroute, { prefix: '/app', members: [{ url: a.url, route: 'a' }], routeCookie: 'ROUTEID' })
  const origin = await listen(t, app)
  const refused = await openWs(origin, '/app/..%2f..%2fetc').then(() => undefined, (err: unknown) => err)
  t.match(refused, { status: 400 })
  t.same(a.paths, [], 'nothing reached the member')
})

t.test('proxy.websocket: false takes no upgrades; @fastify/http-proxy\'s ws* options are refused', async t => {
  const app = Fastify()
  await app.register(stickyroute, { members: [{ url: 'http://127.0.0.1:1', route: 'a' }], proxy: { websocket: false } })
  await app.ready()
  t.equal(app.server.listenerCount('upgrade'), 0)
  await app.close()
  for (const option of ['wsHooks', 'wsReconnect', 'wsServerOptions', 'wsClientOptions', 'wsUpstream']) {
    const bad = Fastify()
    bad.register(stickyroute, { members: [{ url: 'http://127.0.0.1:1', route: 'a' }], proxy: { [option]: {} } })
    await t.rejects(async () => { await bad.ready() }, { code: 'ERR_STICKY_INVALID_OPTION', option: `proxy.${option}` }, option)
    await bad.close()
  }
})

t.test('WebSocket upgrades: replyOptions.rewriteRequestHeaders applies, and sees request.sticky after a failover', async t => {
  const a = await startWsMember('a')
  const b = await startWsMember('b')
  t.teardown(async () => { await b.close() })
  const app = Fastify()
  await app.register(stickyroute, {
    members: [{ url: a.url, route: 'a' }, { url: b.url, route: 'b' }],
    routeCookie: 'ROUTEID',
    proxy: { replyOptions: { rewriteRequestHeaders: (request, headers) => ({ ...headers, 'x-route': request.sticky?.route ?? 'none' }) } }
  })
  const origin = await listen(t, app)
  await a.close()
  const client = await openWs(origin, '/socket', 'ROUTEID=.a')
  t.equal(await client.echo('hi'), 'b:hi')
  t.equal(b.headers[0]?.['x-route'], 'b')
  client.ws.close()
  await client.closed()
})

t.test('a connection that is gone by the time the balancer decides holds nothing', async t => {
  const spy = watchBalancers(t)
  const a = await startWsMember('a')
  t.teardown(a.close)
  const app = Fastify()
  // Stands for whatever ends a connection while the application's hooks run (a timeout, a hook
  // giving up on it): the upgrade reaches the balancer with its connection destroyed.
  app.addHook('onRequest', async request => { if (request.headers.upgrade !== undefined) request.raw.socket.destroy() })
  await app.register(stickyroute, { members: [{ url: a.url, route: 'a' }] })
  const origin = await listen(t, app)
  await t.rejects(openWs(origin, '/socket'))
  t.same(await busyWhen(await balancerSeen(spy, a.url), [0]), [0])
  t.same(a.paths, [], 'nothing reached the member')
})

t.test('closing the application ends its open WebSockets', async t => {
  const a = await startWsMember('a')
  t.teardown(a.close)
  const app = Fastify()
  await app.register(stickyroute, { members: [{ url: a.url, route: 'a' }] })
  const origin = await app.listen({ port: 0, host: '127.0.0.1' })
  const client = await openWs(origin, '/socket')
  t.equal(await client.echo('hi'), 'a:hi')
  await app.close()
  t.equal(await client.closed(), 1006, 'the client sees its connection drop, and can reconnect elsewhere')
})

t.test('balancer events go to the app\'s logger; health checks run from ready() to close()', async t => {
  const up = await withUpstreams(t, ['a', 'b'])
  const lines: Array<{ level: number, msg: string }> = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { lines.push(JSON.parse(line) as { level: number, msg: string }) } } } })
  await app.register(stickyroute, { members: up.members, routeCookie: 'ROUTEID', healthCheck: { uri: '/hc', interval: 0.02 } })
  t.equal(app.stickyroute.checking, false, 'not before the app is ready')
  const origin = await listen(t, app)
  t.equal(app.stickyroute.checking, true, 'running once it is')
  await send(origin, { path: '/', cookie: 'ROUTEID=.a' })
  const quiet = lines.filter(l => l.msg.startsWith('stickyroute')).length
  t.equal(quiet, 0, 'a sticky request logs nothing')
  await up.at(0).stop()
  t.equal(memberOf(await send(origin, { path: '/', cookie: 'ROUTEID=.a' })), 'b')
  t.match(lines.filter(l => l.msg.startsWith('stickyroute')), [
    { level: 40, msg: /member a .* is now inError: connect-failure \(ECONNREFUSED\)/ },
    { level: 30, msg: /client of route a pinned to b: failover/ }
  ])
  await app.close()
  t.equal(app.stickyroute.checking, false, 'stopped when the app closes')
})

t.test('headers the member names in its Connection header stay between it and the gateway', async t => {
  const member = createServer((_req, res) => {
    res.writeHead(200, { connection: 'keep-alive, X-Member-Hop', 'x-member-hop': 'gateway only', 'x-end-to-end': 'client too', 'proxy-connection': 'keep-alive', 'content-length': '2' })
    res.end('ok')
  })
  await new Promise<void>(resolve => member.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => { member.closeAllConnections(); member.close() })
  const app = Fastify()
  await app.register(stickyroute, { members: [{ url: `http://127.0.0.1:${(member.address() as AddressInfo).port}`, route: 'm' }], routeCookie: 'ROUTEID' })
  const origin = await listen(t, app)
  const res = await send(origin, { path: '/' })
  t.equal(res.status, 200)
  t.equal(res.headers['x-member-hop'], undefined, 'a header listed in the member\'s Connection is not passed on')
  t.equal(res.headers['x-end-to-end'], 'client too', 'the others are')
  t.equal(res.headers['proxy-connection'], undefined, 'nor is the legacy Proxy-Connection')
  t.not(res.headers['connection'], 'keep-alive, X-Member-Hop', 'the member\'s Connection header is not passed on')
})
