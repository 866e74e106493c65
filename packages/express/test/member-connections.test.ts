/**
 * The middleware's connections to its members: kept alive and reused by default (Apache's
 * mod_proxy reuses backend connections; http-proxy alone opens one per request), closed when
 * idle before the member would close them, and a pooled connection the member closed under a
 * request is no reason to fail the member or re-pin the client.
 */
import stickyroute from '@stickyroute/express'
import express from 'express'
import fc from 'fast-check'
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import t, { type Test } from 'tap'
import { IDLE_MS, idleMsOf } from '../src/agents.js'
import { memberOf, send } from '../../../test/helpers/client.js'
import { closeServer, listen } from '../../../test/helpers/listen.js'
import { selfSignedCertificate } from '../../../test/helpers/tls.js'

interface Seen {
  method: string
  /** 1 for the first request on its connection, 2 for the second, ... */
  onConnection: number
  headers: IncomingMessage['headers']
}

interface Member {
  route: string
  url: string
  seen: Seen[]
  /** Connections opened to this member. */
  connections: number
  /** Connections that have closed, with the time they closed. */
  closedAt: number[]
  /** When the member last answered. */
  answeredAt: number
}

interface MemberOptions {
  /** The `Keep-Alive` header it announces (default: none). */
  keepAlive?: string
  /** More headers of its answers (`{{url}}` in a value stands for the member's own URL). */
  headers?: Record<string, string>
  /** The status of its answers (default 200). */
  status?: number
  /** Whether to close the connection instead of answering the n-th request it got (1-based). */
  drop?: (seen: Seen, n: number) => boolean
  /** Wait this long (ms) before answering the n-th request. */
  delay?: (n: number) => number
  /** Serve HTTPS with a self-signed certificate. */
  tls?: boolean
}

/** A member that counts its connections. */
async function startMember (t: Test, route: string, options: MemberOptions = {}): Promise<Member> {
  const member: Member = { route, url: '', seen: [], connections: 0, closedAt: [], answeredAt: 0 }
  const perSocket = new WeakMap<Socket, number>()
  const handler: RequestListener = (req: IncomingMessage, res: ServerResponse) => {
    const onConnection = (perSocket.get(req.socket) ?? 0) + 1
    perSocket.set(req.socket, onConnection)
    const seen: Seen = { method: req.method ?? '', onConnection, headers: req.headers }
    member.seen.push(seen)
    req.resume()
    const n = member.seen.length
    req.on('end', () => { setTimeout(answer, options.delay?.(n) ?? 0) })
    const answer = (): void => {
      if (options.drop?.(seen, n) === true) {
        req.socket.destroy()
        return
      }
      const headers: Record<string, string> = { 'x-member': route, 'content-type': 'text/plain' }
      for (const [name, value] of Object.entries(options.headers ?? {})) headers[name] = value.replace('{{url}}', member.url)
      if (options.keepAlive !== undefined) headers['keep-alive'] = options.keepAlive
      res.writeHead(options.status ?? 200, headers)
      res.end(`${route}\n`)
      member.answeredAt = Date.now()
    }
  }
  const server = options.tls === true ? createHttpsServer(selfSignedCertificate(), handler) : createServer(handler)
  // Never the member that closes first: the gateway's idle timeout is what is tested.
  server.keepAliveTimeout = 60_000
  server.on(options.tls === true ? 'secureConnection' : 'connection', (socket: Socket) => {
    member.connections++
    socket.on('close', () => { member.closedAt.push(Date.now()) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  member.url = `${options.tls === true ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  return member
}

async function gateway (t: Test, members: Member[], extra: Record<string, unknown> = {}): Promise<{ origin: string, middleware: ReturnType<typeof stickyroute> }> {
  const middleware = stickyroute({ members: members.map(m => ({ url: m.url, route: m.route })), routeCookie: 'ROUTEID', ...extra })
  const app = express()
  app.use(middleware)
  const server = await listen(app)
  t.teardown(async () => { await closeServer(server) })
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, middleware }
}

async function until (what: string, check: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`still not the case after ${ms} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

t.test('by default, requests of many clients share one kept-alive connection to their member', async t => {
  const b = await startMember(t, 'b')
  const { origin } = await gateway(t, [b])
  // Every request on a new client connection that asks to close it (the test client's way).
  for (let i = 0; i < 5; i++) t.equal(memberOf(await send(origin, { path: `/${i}`, cookie: 'ROUTEID=.b' })), 'b')
  t.equal(b.connections, 1, 'one connection to the member')
  t.same(b.seen.map(s => s.onConnection), [1, 2, 3, 4, 5])
  t.same(b.seen.map(s => s.headers.connection), Array(5).fill('keep-alive'), 'the client\'s Connection: close stays on its own connection')
})

t.test('the client\'s hop-by-hop headers stay on its connection', async t => {
  const b = await startMember(t, 'b')
  const { origin } = await gateway(t, [b])
  await send(origin, {
    path: '/',
    cookie: 'ROUTEID=.b',
    headers: { connection: 'close, X-Private', 'x-private': '1', 'keep-alive': 'timeout=9', 'proxy-connection': 'keep-alive', 'x-kept': 'yes' }
  })
  const headers = b.seen[0]?.headers ?? {}
  t.equal(headers.connection, 'keep-alive')
  t.equal(headers['x-private'], undefined, 'a header the client\'s Connection names')
  t.equal(headers['keep-alive'], undefined)
  t.equal(headers['proxy-connection'], undefined)
  t.equal(headers['x-kept'], 'yes', 'other headers pass')
  // A Connection header naming nothing, and one with an empty element.
  await send(origin, { path: '/', cookie: 'ROUTEID=.b', headers: { connection: 'keep-alive' } })
  await send(origin, { path: '/', cookie: 'ROUTEID=.b', headers: { connection: 'close,, x-private', 'x-private': '2' } })
  t.same(b.seen.map(s => [s.headers.connection, s.headers['x-private']]), [['keep-alive', undefined], ['keep-alive', undefined], ['keep-alive', undefined]])
  t.equal(b.connections, 1)
})

t.test('an https: member: its TLS connection is kept alive too', async t => {
  const b = await startMember(t, 'b', { tls: true })
  const { origin } = await gateway(t, [b], { proxy: { secure: false } })
  for (let i = 0; i < 3; i++) t.equal(memberOf(await send(origin, { path: '/', cookie: 'ROUTEID=.b' })), 'b')
  t.equal(b.connections, 1, 'one TLS connection')
})

t.test('the member\'s hop-by-hop headers stay on its connection; the client\'s own Connection is answered', async t => {
  const b = await startMember(t, 'b', { keepAlive: 'timeout=30', headers: { connection: 'keep-alive, X-Hop', 'x-hop': '1', 'proxy-connection': 'keep-alive', 'x-end': 'yes' } })
  const { origin } = await gateway(t, [b])
  const res = await send(origin, { path: '/', cookie: 'ROUTEID=.b' })
  t.equal(res.headers['connection'], 'close', 'the test client asked to close its connection')
  t.equal(res.headers['x-hop'], undefined, 'a header the member\'s Connection names')
  t.equal(res.headers['proxy-connection'], undefined)
  t.not(res.headers['keep-alive'], 'timeout=30', 'not the member\'s Keep-Alive')
  t.equal(res.headers['x-end'], 'yes', 'end-to-end headers pass')
  t.match(res.setCookie, [], 'a valid route: no balancer cookie')
  const fresh = await send(origin, { path: '/' })
  t.match(fresh.setCookie, [/^ROUTEID=\.b;/], 'the balancer cookie, whatever the member\'s Connection says')
})

t.test('a client cannot remove, through its Connection header, a header the application\'s on.proxyReq adds', async t => {
  const b = await startMember(t, 'b')
  const { origin } = await gateway(t, [b], { proxy: { on: { proxyReq: (proxyReq: { setHeader: (n: string, v: string) => void }) => { proxyReq.setHeader('x-internal-auth', 'secret') } } } })
  await send(origin, { path: '/', cookie: 'ROUTEID=.b', headers: { connection: 'close, x-internal-auth' } })
  t.equal(b.seen[0]?.headers['x-internal-auth'], 'secret')
})

t.test('a redirect of the member rewritten by autoRewrite (http-proxy parses the pooled target again)', async t => {
  const b = await startMember(t, 'b', { status: 302, headers: { location: '{{url}}/next' } })
  const { origin } = await gateway(t, [b], { proxy: { autoRewrite: true } })
  const res = await send(origin, { path: '/', cookie: 'ROUTEID=.b' })
  t.equal(res.status, 302)
  t.equal(res.headers['location'], `${origin}/next`, 'the Location names the gateway')
  t.equal(memberOf(await send(origin, { path: '/', cookie: 'ROUTEID=.b' })), 'b', 'and the gateway still serves')
})

t.test('proxy.agent false: one connection per request, as http-proxy does without an agent', async t => {
  const b = await startMember(t, 'b')
  const { origin } = await gateway(t, [b], { proxy: { agent: false } })
  for (let i = 0; i < 3; i++) await send(origin, { path: '/', cookie: 'ROUTEID=.b', headers: { 'keep-alive': 'timeout=9' } })
  t.equal(b.connections, 3)
  t.same(b.seen.map(s => s.headers.connection), ['close', 'close', 'close'])
  t.equal(b.seen[0]?.headers['keep-alive'], 'timeout=9', 'the headers as http-proxy sends them')
})

t.test('a pooled connection the member closed under a GET: sent again to the same member, on a new connection', async t => {
  const a = await startMember(t, 'a')
  // b closes its connections instead of answering their second request (an idle connection it
  // closed as the request came).
  const b = await startMember(t, 'b', { drop: s => s.onConnection === 2 })
  const { origin, middleware } = await gateway(t, [a, b])
  t.equal(memberOf(await send(origin, { path: '/1', cookie: 'ROUTEID=.b' })), 'b')
  const res = await send(origin, { path: '/2', cookie: 'ROUTEID=.b' })
  t.equal(res.status, 200)
  t.equal(memberOf(res), 'b', 'the same member')
  t.same(res.setCookie, [], 'the client is not re-pinned')
  t.same(b.seen.map(s => [s.onConnection, s.headers.connection]), [[1, 'keep-alive'], [2, 'keep-alive'], [1, 'close']], 'sent again on a connection of its own')
  t.equal(middleware.balancer.member('b').inError, false, 'b is not put in error')
  t.equal(middleware.balancer.member('b').failures, 0, 'nor counted as failing')
  t.equal(a.seen.length, 0)
  t.equal(memberOf(await send(origin, { path: '/3', cookie: 'ROUTEID=.b' })), 'b', 'later requests are pooled again')
})

t.test('a pooled connection the member closed under a POST: 502, the member stays in service', async t => {
  const a = await startMember(t, 'a')
  const b = await startMember(t, 'b', { drop: s => s.onConnection === 2 })
  const { origin, middleware } = await gateway(t, [a, b])
  await send(origin, { path: '/1', cookie: 'ROUTEID=.b' })
  // Not known to be safe to send twice (RFC 9110 9.2.2): the member may have acted on it.
  const res = await send(origin, { path: '/2', method: 'POST', body: 'x=1', cookie: 'ROUTEID=.b' })
  t.equal(res.status, 502)
  t.equal(b.seen.length, 2, 'sent once')
  t.equal(middleware.balancer.member('b').inError, false)
  t.equal(middleware.balancer.member('b').failures, 0, 'no failure of the member\'s: it closed an idle connection')
  t.equal(a.seen.length, 0)
})

t.test('sent again only once: a member that also drops the new connection is failed over', async t => {
  const a = await startMember(t, 'a')
  const b = await startMember(t, 'b', { drop: (_s, n) => n > 1 })
  const { origin, middleware } = await gateway(t, [a, b])
  await send(origin, { path: '/1', cookie: 'ROUTEID=.b' })
  const res = await send(origin, { path: '/2', cookie: 'ROUTEID=.b' })
  t.equal(memberOf(res), 'a', 'another member')
  t.match(res.setCookie, [/^ROUTEID=\.a;/], 'the client is re-pinned')
  t.same(b.seen.map(s => s.onConnection), [1, 2, 1], 'the pooled connection, then one new connection')
  t.equal(middleware.balancer.member('b').inError, true, 'b reset a request on a connection of its own: in error')
})

t.test('an idle connection is closed by the gateway before the member closes it', async t => {
  t.test(`no Keep-Alive announced: after ${IDLE_MS} ms idle`, async t => {
    const b = await startMember(t, 'b')
    await gateway(t, [b]).then(async ({ origin }) => await send(origin, { path: '/', cookie: 'ROUTEID=.b' }))
    await until('the member connection closed', () => b.closedAt.length === 1)
    const idle = (b.closedAt[0] as number) - b.answeredAt
    t.ok(idle >= IDLE_MS - 500 && idle < IDLE_MS + 2000, `closed after ${idle} ms idle`)
  })
  t.test('Keep-Alive: timeout=2 announced: 1 s before the member would', async t => {
    const b = await startMember(t, 'b', { keepAlive: 'timeout=2, max=100' })
    await gateway(t, [b]).then(async ({ origin }) => await send(origin, { path: '/', cookie: 'ROUTEID=.b' }))
    await until('the member connection closed', () => b.closedAt.length === 1)
    const idle = (b.closedAt[0] as number) - b.answeredAt
    t.ok(idle >= 500 && idle < 1900, `closed after ${idle} ms idle`)
  })
  for (const hint of ['timeout=1', 'max=100, timeout=1']) {
    t.test(`Keep-Alive: ${hint} announced: no time to reuse it, closed at once`, async t => {
      const b = await startMember(t, 'b', { keepAlive: hint })
      const { origin } = await gateway(t, [b])
      await send(origin, { path: '/', cookie: 'ROUTEID=.b' })
      await send(origin, { path: '/', cookie: 'ROUTEID=.b' })
      t.equal(b.connections, 2)
    })
  }
})

t.test('a pooled connection\'s idle timeout does not cut a slow answer on it', async t => {
  // Idle for at most 2 s; the second request on the connection takes 2.6 s to answer.
  const b = await startMember(t, 'b', { keepAlive: 'timeout=3', delay: n => n === 2 ? 2600 : 0 })
  const { origin, middleware } = await gateway(t, [b])
  await send(origin, { path: '/1', cookie: 'ROUTEID=.b' })
  const slow = await send(origin, { path: '/2', cookie: 'ROUTEID=.b' })
  t.equal(slow.status, 200)
  t.equal(memberOf(slow), 'b')
  t.same(b.seen.map(s => s.onConnection), [1, 2], 'answered on the pooled connection')
  t.equal(middleware.balancer.member('b').failures, 0)
})

t.test('middleware.close() closes the idle member connections', async t => {
  const b = await startMember(t, 'b', { keepAlive: 'timeout=30' })
  const { origin, middleware } = await gateway(t, [b])
  await send(origin, { path: '/', cookie: 'ROUTEID=.b' })
  t.equal(b.closedAt.length, 0)
  await middleware.close()
  await until('the member connection closed', () => b.closedAt.length === 1, 2000)
  t.pass('closed')
  // The middleware still serves (the checks are what close() stops for good).
  t.equal(memberOf(await send(origin, { path: '/', cookie: 'ROUTEID=.b' })), 'b')
})

t.test('idleMsOf(): the Keep-Alive header a member announces', async t => {
  const cases: Array<[string | undefined, number]> = [
    [undefined, IDLE_MS],
    ['', IDLE_MS],
    ['timeout=5', 4000],
    ['timeout=60', IDLE_MS],
    ['timeout=3, max=100', 2000],
    ['max=100, timeout=2', 1000],
    ['max=100,timeout=2', 1000],
    ['Timeout = 3', 2000],
    ['timeout=1', 0],
    ['timeout=0', 0],
    ['timeout=abc', IDLE_MS],
    ['xtimeout=2', IDLE_MS],
    ['timeout=2x', IDLE_MS],
    ['timeout=-2', IDLE_MS],
    ['timeout=99999999999', IDLE_MS]
  ]
  for (const [hint, ms] of cases) {
    t.equal(idleMsOf(hint), ms, JSON.stringify(hint))
    t.equal(idleMsOf(hint), ms, `${JSON.stringify(hint)} again (parsed once)`)
  }
})

t.test('idleMsOf(): never more than IDLE_MS, never negative, the announced timeout less 1 s', async t => {
  fc.assert(fc.property(fc.string(), hint => {
    const ms = idleMsOf(hint)
    return Number.isInteger(ms) && ms >= 0 && ms <= IDLE_MS
  }))
  fc.assert(fc.property(fc.integer({ min: 0, max: 100 }), fc.constantFrom('', 'max=7, ', 'foo=bar,'), (seconds, before) => {
    return idleMsOf(`${before}timeout=${seconds}`) === Math.max(0, Math.min(IDLE_MS, seconds * 1000 - 1000))
  }))
  t.pass('properties hold')
})
