/**
 * The Node health probe (`@stickyroute/core/node`) against real servers on loopback: TCP
 * connects, HTTP methods and statuses, bodies, timeouts, aborts, HTTPS with a self-signed
 * certificate; and nodeHealthIo driving a real balancer's checks.
 */
import t from 'tap'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { createBalancer, type HealthEvent, type HealthProbeResult, type HealthProbeTarget } from '@stickyroute/core'
import { MAX_HEALTH_BODY, nodeHealthIo, nodeTimers, probe } from '@stickyroute/core/node'
import { startBlackhole } from '../../../test/helpers/blackhole.js'
import { selfSignedCertificate } from '../../../test/helpers/tls.js'

interface Seen { method: string | undefined, url: string | undefined, headers: IncomingHttpHeaders }

/** An HTTP member answering `status` (and `body` to GET), recording what it was sent. */
async function httpMember (status: number, body: string | Buffer = '', host = '127.0.0.1'): Promise<{ url: string, seen: Seen[], server: Server }> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers })
    res.writeHead(status, { 'x-member': 'm1', ...(status === 302 ? { location: '/elsewhere' } : {}) })
    res.end(req.method === 'GET' ? body : undefined)
  })
  await listen(server, host)
  const port = (server.address() as AddressInfo).port
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `http://${host === '::1' ? '[::1]' : host}:${port}`, seen, server }
}

async function listen (server: Server | NetServer, host = '127.0.0.1'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
}

/** A TCP server that accepts and never answers; counts connections and their closes. */
async function silentMember (): Promise<{ url: string, accepted: () => number, closed: () => number }> {
  let accepted = 0
  let closed = 0
  const sockets = new Set<Socket>()
  const server = createNetServer(socket => {
    accepted++
    sockets.add(socket)
    socket.on('close', () => { closed++ })
    socket.on('error', () => {})
    // Read (and drop) what the probe sends, so its FIN is seen.
    socket.resume()
  })
  await listen(server)
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, accepted: () => accepted, closed: () => closed }
}

/** A port nothing listens on: bound, then closed. */
async function closedPort (): Promise<number> {
  const server = createNetServer()
  await listen(server)
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

function target (url: string, extra: Partial<HealthProbeTarget> = {}): HealthProbeTarget {
  return { url, method: 'GET', uri: '/', timeoutMs: 2000, readBody: false, ...extra }
}

const live = (): AbortSignal => new AbortController().signal

async function waitFor (what: string, condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

// ---------------------------------------------------------------------------------------------
// TCP
// ---------------------------------------------------------------------------------------------

t.test('TCP: a listening member is connected, and the probe closes its connection', async t => {
  const m = await silentMember()
  t.same(await probe(target(m.url, { method: 'TCP' }), live()), { connected: true })
  await waitFor('the server to see the close', () => m.closed() === 1)
  t.equal(m.accepted(), 1)
})

t.test('TCP and HTTP: a closed port is refused', async t => {
  const port = await closedPort()
  for (const method of ['TCP', 'GET'] as const) {
    t.same(await probe(target(`http://127.0.0.1:${port}`, { method }), live()), { error: 'ECONNREFUSED' }, method)
  }
})

t.test('TCP: a host that drops connection attempts times out', async t => {
  const hole = await startBlackhole()
  t.teardown(hole.close)
  const started = Date.now()
  t.same(await probe(target(hole.url, { method: 'TCP', timeoutMs: 200 }), live()), { error: 'timeout after 200 ms' })
  t.ok(Date.now() - started < 5000, 'does not hang')
})

t.test('a URL without a port probes the scheme\'s default port (as a direct connect to it does)', async t => {
  for (const [url, port] of [['http://127.0.0.1', 80], ['https://127.0.0.1', 443]] as const) {
    const direct = await new Promise<HealthProbeResult>(resolve => {
      const s = connect({ host: '127.0.0.1', port })
      s.once('connect', () => { s.destroy(); resolve({ connected: true }) })
      s.once('error', (err: NodeJS.ErrnoException) => { resolve({ error: err.code ?? err.message }) })
    })
    t.same(await probe(target(url, { method: 'TCP' }), live()), direct, url)
  }
})

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

t.test('GET, HEAD, OPTIONS: the status and headers come back; the member sees one clean request', async t => {
  for (const status of [200, 503, 302]) {
    const m = await httpMember(status, 'body text')
    for (const method of ['GET', 'HEAD', 'OPTIONS'] as const) {
      const result = await probe(target(m.url, { method, uri: '/health?deep=1' }), live())
      t.equal(result.response?.status, status, `${method} ${status}: status`)
      t.equal(result.response?.headers['x-member'], 'm1', `${method} ${status}: headers`)
      t.equal(result.response?.body, '', `${method} ${status}: no body read`)
    }
    t.same(m.seen.map(s => [s.method, s.url]), [['GET', '/health?deep=1'], ['HEAD', '/health?deep=1'], ['OPTIONS', '/health?deep=1']])
    const port = (m.server.address() as AddressInfo).port
    t.match(m.seen[0]?.headers, { host: `127.0.0.1:${port}`, 'user-agent': 'stickyroute-health-check', connection: 'close', accept: '*/*' }, 'request headers')
  }
})

t.test('readBody: the body is read, across chunks, up to 64 KiB', async t => {
  t.equal(MAX_HEALTH_BODY, 64 * 1024)
  const rows: Array<[string, string | Buffer, number]> = [
    ['small', '{"status":"UP"}', 15],
    ['empty', '', 0],
    ['exactly 64 KiB', 'x'.repeat(MAX_HEALTH_BODY), MAX_HEALTH_BODY],
    ['100 KiB: capped', 'y'.repeat(100 * 1024), MAX_HEALTH_BODY],
    ['1 MiB: capped', Buffer.alloc(1024 * 1024, 'z'), MAX_HEALTH_BODY]
  ]
  for (const [name, body, length] of rows) {
    const m = await httpMember(200, body)
    const result = await probe(target(m.url, { readBody: true }), live())
    t.equal(result.response?.status, 200, `${name}: status`)
    t.equal(result.response?.body.length, length, `${name}: length`)
    t.equal(result.response?.body, body.toString().slice(0, MAX_HEALTH_BODY), `${name}: content`)
  }
})

t.test('readBody: a body written in several chunks is joined', async t => {
  const server = createServer((_req, res) => {
    res.writeHead(200)
    res.write('one,')
    setTimeout(() => { res.write('two,'); setTimeout(() => res.end('three'), 5) }, 5)
  })
  await listen(server)
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const result = await probe(target(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { readBody: true }), live())
  t.equal(result.response?.body, 'one,two,three')
})

t.test('readBody: a connection reset in the middle of the body is an error', async t => {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-length': '1000' })
    res.write('partial')
    setTimeout(() => req.socket.destroy(), 20)
  })
  await listen(server)
  t.teardown(() => { server.closeAllConnections(); server.close() })
  t.same(await probe(target(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { readBody: true }), live()), { error: 'ECONNRESET' })
})

t.test('a member that accepts and never answers: timeout after N ms, and the connection is closed', async t => {
  const m = await silentMember()
  const started = Date.now()
  t.same(await probe(target(m.url, { timeoutMs: 150 }), live()), { error: 'timeout after 150 ms' })
  t.ok(Date.now() - started < 5000, 'does not hang')
  await waitFor('the server to see the close', () => m.closed() === 1)
})

t.test('abort: a probe under way ends with "aborted"; an already aborted signal connects nowhere', async t => {
  const m = await silentMember()
  const controller = new AbortController()
  const pending = probe(target(m.url, { timeoutMs: 60_000 }), controller.signal)
  await waitFor('the connection', () => m.accepted() === 1)
  controller.abort()
  t.same(await pending, { error: 'aborted' })
  await waitFor('the server to see the close', () => m.closed() === 1)

  const tcp = new AbortController()
  const pendingTcp = probe(target(m.url, { method: 'TCP', timeoutMs: 60_000 }), tcp.signal)
  tcp.abort()
  t.same(await pendingTcp, { error: 'aborted' }, 'TCP too')

  const fresh = await silentMember()
  const done = new AbortController()
  done.abort()
  for (const method of ['GET', 'TCP'] as const) {
    t.same(await probe(target(fresh.url, { method }), done.signal), { error: 'aborted' }, `${method}: already aborted`)
  }
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(fresh.accepted(), 0, 'no connection for an already aborted signal')
})

t.test('HTTPS member with a self-signed certificate: probed (certificates are not verified)', async t => {
  const server = createHttpsServer(selfSignedCertificate(), (req, res) => {
    res.writeHead(req.url === '/health' ? 204 : 404)
    res.end()
  })
  await listen(server)
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.equal((await probe(target(url, { uri: '/health' }), live())).response?.status, 204)
  t.equal((await probe(target(url, { uri: '/other', method: 'HEAD' }), live())).response?.status, 404)
  t.same(await probe(target(url, { method: 'TCP' }), live()), { connected: true })
})

t.test('an IPv6 member ([::1])', async t => {
  const m = await httpMember(200, 'ok', '::1')
  t.equal((await probe(target(m.url), live())).response?.status, 200)
  t.same(await probe(target(m.url, { method: 'TCP' }), live()), { connected: true })
})

// ---------------------------------------------------------------------------------------------
// nodeTimers and nodeHealthIo
// ---------------------------------------------------------------------------------------------

t.test('nodeTimers: unref\'d timers that fire and can be cleared', async t => {
  let fired = 0
  const handle = nodeTimers.setTimeout(() => { fired++ }, 1) as NodeJS.Timeout
  t.equal(handle.hasRef(), false, 'does not keep the process alive')
  const cleared = nodeTimers.setTimeout(() => { fired += 100 }, 1)
  nodeTimers.clearTimeout(cleared)
  await new Promise(resolve => setTimeout(resolve, 30))
  t.equal(fired, 1)
  t.ok(Object.isFrozen(nodeHealthIo))
  t.equal(nodeHealthIo.probe, probe)
  t.equal(nodeHealthIo.timers, nodeTimers)
})

t.test('nodeHealthIo: a balancer checks real members and takes the failing ones out; close() stops it', async t => {
  const up = await httpMember(200)
  const down = await httpMember(503)
  const port = await closedPort()
  const balancer = createBalancer({
    members: [{ url: up.url, route: 'up' }, { url: down.url, route: 'down' }, { url: `http://127.0.0.1:${port}`, route: 'gone', healthCheck: { method: 'TCP' } }],
    healthCheck: { uri: '/health', interval: 0.05, timeout: 1 }
  })
  const seen: HealthEvent[] = []
  balancer.on('health', e => { seen.push(e) })
  balancer.startHealthChecks(nodeHealthIo)
  await waitFor('two rounds of checks', () => seen.filter(e => e.member.route === 'up').length >= 2)
  t.same(balancer.members().map(m => [m.route, m.status, m.healthCheck?.last]), [
    ['up', 'Ok', 'status 200'],
    ['down', 'C', 'status 503 not expected'],
    ['gone', 'C', 'ECONNREFUSED']
  ])
  t.equal(up.seen[0]?.url, '/health')
  await balancer.close()
  const count = up.seen.length
  await new Promise(resolve => setTimeout(resolve, 150))
  t.equal(up.seen.length, count, 'no check after close()')
})
