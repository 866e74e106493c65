/**
 * WebSocket upgrades through both adapters, with raw `ws` clients and members: routing by the
 * same route as plain requests, the balancer cookie on the 101, failover before the 101, open
 * sockets counted as in flight, members dying under open sockets, and the edges of the
 * forwarder (declined upgrades, resets, TLS members, headers and paths).
 */
import { SERVICE_UNAVAILABLE, BAD_GATEWAY } from '@stickyroute/core'
import { createServer, request } from 'node:http'
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { WebSocketServer } from 'ws'
import { hostname } from 'node:os'
import t, { type Test } from 'tap'
import { startBlackhole } from '../helpers/blackhole.js'
import { closeServer, listen } from '../helpers/listen.js'
import { selfSignedCertificate } from '../helpers/tls.js'
import { Upstreams } from '../helpers/upstreams.js'
import { openWs, startWsMember, UnexpectedResponse, type WsClient, type WsMember } from '../helpers/ws-upstreams.js'
import { ADAPTERS, busyWhen, membersWhen, routeCookie, startGateway, until, watchBalancers, type Adapter } from './harness.js'

async function wsMembers (t: Test, routes: string[]): Promise<WsMember[]> {
  const members = await Promise.all(routes.map(async r => await startWsMember(r)))
  t.teardown(async () => { await Promise.all(members.map(async m => { await m.close() })) })
  return members
}

const asMembers = (list: WsMember[]): Array<{ url: string, route: string }> => list.map(m => ({ url: m.url, route: m.route }))

/** The route a client landed on, from the member's echo. */
async function routeOf (client: WsClient): Promise<string> {
  return (await client.echo('hi')).split(':')[0] as string
}

async function rejection (promise: Promise<unknown>): Promise<UnexpectedResponse> {
  try {
    await promise
  } catch (err) {
    if (err instanceof UnexpectedResponse) return err
    throw err
  }
  throw new Error('the handshake succeeded')
}

function eachAdapter (name: string, scenario: (t: Test, adapter: Adapter) => Promise<void>): void {
  t.test(name, async t => {
    t.jobs = ADAPTERS.length
    for (const adapter of ADAPTERS) t.test(adapter, async t => { await scenario(t, adapter) })
  })
}

eachAdapter('a first upgrade without a cookie gets Set-Cookie on the 101 naming the member that answered; the cookie keeps it there', async (t, adapter) => {
  const spy = watchBalancers(t)
  const members = await wsMembers(t, ['a', 'b', 'c'])
  const gw = await startGateway(t, adapter, { members: asMembers(members), routeCookie: 'ROUTEID', stickySession: 'ROUTEID|jsessionid' })
  const clients: WsClient[] = []
  const routes: string[] = []
  for (let i = 0; i < 6; i++) {
    const client = await openWs(gw.origin, '/socket')
    clients.push(client)
    const route = await routeOf(client)
    routes.push(route)
    t.same(client.setCookie, [routeCookie(route)], `new client ${i + 1}: Set-Cookie names ${route}, the member that answered`)
  }
  t.same(routes, ['a', 'b', 'c', 'a', 'b', 'c'], 'new clients are spread over the members in turn')
  const balancer = spy.balancerOf(members[0]?.url as string)
  t.same(await busyWhen(balancer, [2, 2, 2]), [2, 2, 2], 'every open WebSocket counts as in flight on its member')

  for (let i = 0; i < 3; i++) {
    const client = await openWs(gw.origin, '/socket', 'x=1; ROUTEID=.b')
    t.equal(await routeOf(client), 'b', 'ROUTEID=.b: b again')
    t.same(client.setCookie, [], 'and no Set-Cookie: the route did not change')
    clients.push(client)
  }
  const byUrl = await openWs(gw.origin, '/socket;jsessionid=s1.c?x=1')
  t.equal(await routeOf(byUrl), 'c', 'a URL session id routes the upgrade too')
  t.same(byUrl.setCookie, [], 'no Set-Cookie: the client named its member')
  clients.push(byUrl)
  const unknown = await openWs(gw.origin, '/socket', 'ROUTEID=.zz')
  t.same(unknown.setCookie, [routeCookie(await routeOf(unknown))], 'an unknown route is re-pinned with a new cookie')
  clients.push(unknown)

  for (const c of clients) c.ws.close()
  await Promise.all(clients.map(async c => await c.closed()))
  t.same(await busyWhen(balancer, [0, 0, 0]), [0, 0, 0], 'closed WebSockets are no longer in flight')
  t.equal(spy.finishedTwice(), 0, 'each connection was finished exactly once')
})

eachAdapter('a member that refuses the connection at upgrade time is failed over before the 101', async (t, adapter) => {
  const spy = watchBalancers(t)
  const members = await wsMembers(t, ['a', 'b'])
  const gw = await startGateway(t, adapter, { members: asMembers(members), routeCookie: 'ROUTEID', forceRecovery: false })
  await members[0]?.close()
  const client = await openWs(gw.origin, '/socket', 'ROUTEID=.a')
  t.equal(await routeOf(client), 'b', 'the upgrade went to b')
  t.same(client.setCookie, [routeCookie('b')], 'with the cookie naming b')
  const balancer = spy.balancerOf(members[1]?.url as string)
  t.match(balancer.members(), [{ route: 'a', inError: true }, { route: 'b', inError: false }], 'a is in error')
  const next = await openWs(gw.origin, '/socket')
  t.equal(await routeOf(next), 'b', 'a new client skips the member in error')
  client.ws.close()
  next.ws.close()
  await Promise.all([client.closed(), next.closed()])

  await members[1]?.close()
  const refused = await rejection(openWs(gw.origin, '/socket', 'ROUTEID=.b'))
  t.equal(refused.status, 503, 'no member left: the balancer\'s own 503')
  t.equal(refused.body, SERVICE_UNAVAILABLE.body)
  t.equal(refused.headers['set-cookie'], undefined, 'without a cookie')
  t.same(await busyWhen(balancer, [0, 0]), [0, 0])
  t.equal(spy.finishedTwice(), 0)
})

eachAdapter('a member stopped under open sockets closes them promptly; reconnects land on live members with new cookies', async (t, adapter) => {
  const spy = watchBalancers(t)
  const members = await wsMembers(t, ['a', 'b', 'c'])
  const gw = await startGateway(t, adapter, { members: asMembers(members), routeCookie: 'ROUTEID' })
  const clients = await Promise.all(['a', 'b', 'c', 'a', 'b', 'c'].map(async r => await openWs(gw.origin, '/socket', `ROUTEID=.${r}`)))
  for (const [i, c] of clients.entries()) t.equal(await routeOf(c), ['a', 'b', 'c'][i % 3])
  await members[1]?.close()
  const onB = [clients[1], clients[4]] as WsClient[]
  t.same(await Promise.all(onB.map(async c => await c.closed())), [1006, 1006], 'b\'s clients are disconnected at once (no close frame: b crashed)')
  for (const i of [0, 2, 3, 5]) t.equal(await routeOf(clients[i] as WsClient), ['a', 'b', 'c'][i % 3], 'the other clients are untouched')
  const reconnected = await Promise.all(onB.map(async () => await openWs(gw.origin, '/socket', 'ROUTEID=.b')))
  for (const c of reconnected) {
    const route = await routeOf(c)
    t.not(route, 'b', 'the reconnect lands on a live member')
    t.same(c.setCookie, [routeCookie(route)], 'with a new cookie naming it')
  }
  const balancer = spy.balancerOf(members[0]?.url as string)
  t.equal(balancer.members()[1]?.inError, true, 'b is in error')
  for (const c of [...clients, ...reconnected]) c.ws.close()
  t.same(await busyWhen(balancer, [0, 0, 0]), [0, 0, 0])
  t.equal(spy.finishedTwice(), 0)
})

eachAdapter('close codes and resets pass through: the other side of the tunnel closes too', async (t, adapter) => {
  const spy = watchBalancers(t)
  const members = await wsMembers(t, ['a'])
  const member = members[0] as WsMember
  const gw = await startGateway(t, adapter, { members: asMembers(members), routeCookie: 'ROUTEID' })
  const balancer = (): ReturnType<typeof spy.balancerOf> => spy.balancerOf(member.url)

  const closing = await openWs(gw.origin, '/socket')
  closing.ws.send('close:4001')
  t.equal(await closing.closed(), 4001, 'the member\'s close code reaches the client')

  const reset = await openWs(gw.origin, '/socket')
  reset.ws.send('reset')
  t.equal(await reset.closed(), 1006, 'a member dropping the connection drops the client\'s')

  const client = await openWs(gw.origin, '/socket')
  t.equal(await client.echo('x'), 'a:x')
  ;(client.ws as unknown as { _socket: Socket })._socket.resetAndDestroy()
  t.equal((await membersWhen(balancer(), () => member.open === 0)).length, 1)
  t.equal(member.open, 0, 'a client resetting its connection closes the member\'s side')
  t.same(await busyWhen(balancer(), [0]), [0])
  t.equal(spy.finishedTwice(), 0)
})

eachAdapter('a member that declines the upgrade: its answer, with the balancer cookie, and the connection closed', async (t, adapter) => {
  const spy = watchBalancers(t)
  const up = await Upstreams.start(['a'])
  t.teardown(async () => { await up.close() })
  const gw = await startGateway(t, adapter, { members: up.members, routeCookie: 'ROUTEID' })
  // A plain HTTP member answers the handshake as an ordinary request.
  const plain = await rejection(openWs(gw.origin, '/socket', undefined, { 'x-test-set-cookie': 'JSESSIONID=s.a' }))
  t.equal(plain.status, 200)
  t.equal(plain.headers['x-member'], 'a')
  t.same(plain.headers['set-cookie'], ['JSESSIONID=s.a', routeCookie('a')], 'the member\'s cookie, then the balancer\'s')
  t.equal(plain.headers.connection, 'close')
  t.equal((JSON.parse(plain.body) as { url: string }).url, '/socket', 'the body is passed on whole')

  const declined = await rejection(openWs(gw.origin, '/socket', 'ROUTEID=.a', { 'x-test-status': '400' }))
  t.equal(declined.status, 400, 'a 400 (Socket.IO\'s "Session ID unknown") is passed on')
  t.equal(declined.headers['set-cookie'], undefined, 'no balancer cookie: the route did not change')

  const dropped = await rejection(openWs(gw.origin, '/socket', 'ROUTEID=.a', { 'x-test-reset': 'before-response' }))
  t.equal(dropped.status, 502, 'a member dropping the connection before answering: the balancer\'s 502')
  t.equal(dropped.body, BAD_GATEWAY.body)
  t.equal(spy.balancerOf(up.at(0).url).members()[0]?.inError, false, 'it answered the connect: it is not put in error')

  await t.rejects(openWs(gw.origin, '/socket', 'ROUTEID=.a', { 'x-test-reset': 'after-headers' }), 'a member dying in the middle of its answer cuts the client\'s answer off')
  t.same(await busyWhen(spy.balancerOf(up.at(0).url), [0]), [0])
  t.equal(spy.finishedTwice(), 0)
})

eachAdapter('a member that accepts but never answers, and a client that gives up: nothing stays in flight', async (t, adapter) => {
  const spy = watchBalancers(t)
  const accepted: Socket[] = []
  const silent = createNetServer(socket => { accepted.push(socket) })
  await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of accepted) s.destroy(); silent.close() })
  const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`
  const gw = await startGateway(t, adapter, { members: [{ url, route: 'a' }], routeCookie: 'ROUTEID' })
  // A handshake whose client gives up (the ws client has no handshake timeout of its own).
  const client = request(`${gw.origin}/socket`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
  client.on('error', () => {})
  client.end()
  await until(() => accepted.length === 1)
  t.equal(spy.balancerOf(url).members()[0]?.busy, 1, 'the upgrade waits for the member, in flight')
  client.destroy()
  t.same(await busyWhen(spy.balancerOf(url), [0]), [0], 'the client that left holds nothing')
  t.equal(spy.finishedTwice(), 0)
})

eachAdapter('a member whose host drops connection attempts is failed over after connectTimeout', async (t, adapter) => {
  const hole = await startBlackhole()
  t.teardown(() => { hole.close() })
  const members = await wsMembers(t, ['b'])
  const gw = await startGateway(t, adapter, { members: [{ url: hole.url, route: 'a' }, ...asMembers(members)], routeCookie: 'ROUTEID', connectTimeout: 0.3 })
  const client = await openWs(gw.origin, '/socket', 'ROUTEID=.a')
  t.equal(await routeOf(client), 'b')
  t.same(client.setCookie, [routeCookie('b')])
  client.ws.close()
  await client.closed()
})

eachAdapter('an https member: TLS to the member, verified as plain requests are', async (t, adapter) => {
  const member = await startWsMember('a', selfSignedCertificate())
  t.teardown(member.close)
  // Like @fastify/reply-from, the Fastify plugin does not verify a member's certificate unless told to;
  // http-proxy (Express) does, unless `secure: false`.
  const relaxed = await startGateway(t, adapter, { members: [{ url: member.url, route: 'a' }], fastifyProxy: {}, expressProxy: { secure: false } })
  const client = await openWs(relaxed.origin, '/socket')
  t.equal(await client.echo('tls'), 'a:tls')
  client.ws.close()
  await client.closed()
  const strict = await startGateway(t, adapter, { members: [{ url: member.url, route: 'a' }], fastifyProxy: { undici: { connect: { rejectUnauthorized: true } } }, expressProxy: {} })
  t.equal((await rejection(openWs(strict.origin, '/socket'))).status, 502, 'an unverifiable certificate: the balancer\'s 502')
})

eachAdapter('upgrades carry X-Forwarded-* and Host as plain requests do, under the prefix, with the path rewritten', async (t, adapter) => {
  const members = await wsMembers(t, ['a'])
  const member = members[0] as WsMember
  const options = { members: asMembers(members), prefix: '/app', fastifyProxy: { rewritePrefix: '/v1' }, expressProxy: { pathRewrite: { '^/': '/v1/' } } }
  const gw = await startGateway(t, adapter, options)
  const host = new URL(gw.origin).host
  const client = await openWs(gw.origin, '/app/socket?x=1&y=%20', undefined, { 'x-forwarded-for': '203.0.113.9' })
  await client.echo('hi')
  t.equal(member.paths[0], '/v1/socket?x=1&y=%20', 'prefix stripped, path rewritten, query as sent')
  t.match(member.headers[0], {
    host: new URL(member.url).host,
    'x-forwarded-for': /^203\.0\.113\.9, (::ffff:)?127\.0\.0\.1$/,
    'x-forwarded-host': host,
    'x-forwarded-proto': 'http',
    'x-forwarded-server': hostname()
  })
  client.ws.close()
  await client.closed()
  const preserving = await startGateway(t, adapter, { ...options, preserveHost: true })
  const kept = await openWs(preserving.origin, '/app/socket')
  await kept.echo('hi')
  t.equal(member.headers[1]?.host, new URL(preserving.origin).host, 'preserveHost: the client\'s Host')
  kept.ws.close()
  await kept.closed()
  const plain = await startGateway(t, adapter, { ...options, addForwardedHeaders: false })
  const bare = await openWs(plain.origin, '/app/socket', undefined, { 'x-forwarded-for': '203.0.113.9' })
  await bare.echo('hi')
  t.match(member.headers[2], {
    host: new URL(member.url).host,
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-host': undefined,
    'x-forwarded-proto': undefined,
    'x-forwarded-server': undefined
  }, 'addForwardedHeaders false: none added, the client\'s own as sent')
  bare.ws.close()
  await bare.closed()
})

/** A masked (client-to-server) WebSocket text frame. */
function clientFrame (text: string): Buffer {
  const payload = Buffer.from(text)
  const mask = Buffer.from([1, 2, 3, 4])
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((b, i) => b ^ (mask[i % 4] as number))])
}

eachAdapter('what the client sends before the member answers reaches the member after its 101, in order', async (t, adapter) => {
  let accept: (() => void) | undefined
  const server = createServer()
  // The member holds the handshake until the test lets it go.
  const wss = new WebSocketServer({ server, verifyClient: (_info, done: (ok: boolean) => void) => { accept = () => { done(true) } } })
  const received: string[] = []
  wss.on('connection', ws => { ws.on('message', m => received.push(String(m))) })
  await listen(server)
  t.teardown(async () => { for (const c of wss.clients) c.terminate(); wss.close(); await closeServer(server) })
  const gw = await startGateway(t, adapter, { members: [{ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, route: 'a' }] })
  const client = connect(Number(new URL(gw.origin).port), '127.0.0.1')
  t.teardown(() => { client.destroy() })
  const handshake = 'GET /socket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
  client.write(Buffer.concat([Buffer.from(handshake), clientFrame('one')]))
  await until(() => accept !== undefined)
  client.write(clientFrame('two'))
  await sleep(100) // the gateway has read it while it waits for the member
  accept?.()
  await until(() => received.length === 2)
  t.same(received, ['one', 'two'])
})
