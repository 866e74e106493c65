/**
 * The plugin's connections to its members are undici's, kept alive and reused. A kept-alive
 * connection the member closed under a request (it closed it idle as the request came) is no
 * reason to fail the member or re-pin the client: the request is sent again, once, to the same
 * member. The same cases as the Express middleware's (packages/express/test/member-connections.test.ts).
 */
import stickyroute from '@stickyroute/fastify'
import Fastify, { type FastifyInstance } from 'fastify'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import t, { type Test } from 'tap'
import { memberOf, send } from '../../../test/helpers/client.js'

interface Member {
  route: string
  url: string
  /** Per request received: 1 for the first request on its connection, 2 for the second, ... */
  onConnection: number[]
}

/** A member that closes the connection instead of answering when `drop(onConnection, n)` says so (`n`: 1-based request count). */
async function startMember (t: Test, route: string, drop: (onConnection: number, n: number) => boolean = () => false): Promise<Member> {
  const member: Member = { route, url: '', onConnection: [] }
  const perSocket = new WeakMap<Socket, number>()
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const onConnection = (perSocket.get(req.socket) ?? 0) + 1
    perSocket.set(req.socket, onConnection)
    member.onConnection.push(onConnection)
    const n = member.onConnection.length
    req.resume()
    req.on('end', () => {
      if (drop(onConnection, n)) {
        req.socket.destroy()
        return
      }
      res.writeHead(200, { 'x-member': route, 'content-type': 'text/plain' })
      res.end(`${route}\n`)
    })
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  member.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  return member
}

async function gateway (t: Test, members: Member[]): Promise<{ origin: string, app: FastifyInstance }> {
  const app = Fastify()
  await app.register(stickyroute, { members: members.map(m => ({ url: m.url, route: m.route })), routeCookie: 'ROUTEID' })
  t.teardown(async () => { await app.close() })
  return { origin: await app.listen({ port: 0, host: '127.0.0.1' }), app }
}

t.test('a kept-alive connection the member closed under a GET: sent again to the same member, on a new connection', async t => {
  const a = await startMember(t, 'a')
  // b closes its connections instead of answering their second request.
  const b = await startMember(t, 'b', onConnection => onConnection === 2)
  const { origin, app } = await gateway(t, [a, b])
  t.equal(memberOf(await send(origin, { path: '/1', cookie: 'ROUTEID=.b' })), 'b')
  const res = await send(origin, { path: '/2', cookie: 'ROUTEID=.b' })
  t.equal(res.status, 200)
  t.equal(memberOf(res), 'b', 'the same member')
  t.same(res.setCookie, [], 'the client is not re-pinned')
  t.same(b.onConnection, [1, 2, 1], 'sent again on a new connection')
  t.equal(app.stickyroute.member('b').inError, false, 'b is not put in error')
  t.equal(app.stickyroute.member('b').failures, 0, 'nor counted as failing')
  t.same(a.onConnection, [])
})

t.test('a kept-alive connection the member closed under a POST: 502, the member stays in service', async t => {
  const a = await startMember(t, 'a')
  const b = await startMember(t, 'b', onConnection => onConnection === 2)
  const { origin, app } = await gateway(t, [a, b])
  await send(origin, { path: '/1', cookie: 'ROUTEID=.b' })
  // Not known to be safe to send twice (RFC 9110 9.2.2): the member may have acted on it.
  const res = await send(origin, { path: '/2', method: 'POST', body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, cookie: 'ROUTEID=.b' })
  t.equal(res.status, 502)
  t.same(b.onConnection, [1, 2], 'sent once')
  t.equal(app.stickyroute.member('b').inError, false)
  t.equal(app.stickyroute.member('b').failures, 0, 'no failure of the member\'s: it closed an idle connection')
  t.same(a.onConnection, [])
})

t.test('sent again only once: a member that also drops the new connection is failed over', async t => {
  const a = await startMember(t, 'a')
  const b = await startMember(t, 'b', (_onConnection, n) => n > 1)
  const { origin, app } = await gateway(t, [a, b])
  await send(origin, { path: '/1', cookie: 'ROUTEID=.b' })
  const res = await send(origin, { path: '/2', cookie: 'ROUTEID=.b' })
  t.equal(memberOf(res), 'a', 'another member')
  t.match(res.setCookie, [/^ROUTEID=\.a;/], 'the client is re-pinned')
  t.same(b.onConnection, [1, 2, 1], 'the kept-alive connection, then one new connection')
  t.equal(app.stickyroute.member('b').inError, true, 'b reset a request on a connection of its own: in error')
})

t.test('a member that dies with the request on a new connection is failed over at once, as before', async t => {
  const a = await startMember(t, 'a')
  const b = await startMember(t, 'b', () => true)
  const { origin, app } = await gateway(t, [a, b])
  const res = await send(origin, { path: '/1', cookie: 'ROUTEID=.b' })
  t.equal(memberOf(res), 'a')
  t.same(b.onConnection, [1], 'not sent to b again')
  t.equal(app.stickyroute.member('b').inError, true)
})
