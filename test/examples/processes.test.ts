/**
 * The example gateways as a user runs them: `npm run --silent example:<name>` from the repository
 * root, configured only through the environment, answering real HTTP, and ending with code 0 on
 * SIGTERM. Every scenario runs against the three examples (Fastify, Express, the custom node:http
 * gateway), in parallel, with the same variables and the same expectations.
 */
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { memberOf, send, type ClientResponse } from '../helpers/client.js'
import { freePort, ScriptProcess } from '../helpers/script-process.js'
import { Upstreams, type Echo } from '../helpers/upstreams.js'

const EXAMPLES = ['fastify', 'express', 'custom'] as const
const LISTENING = /^stickyroute \S+ gateway listening on (http:\/\/\S+) \((.*)\)$/m
const START_TIMEOUT = 20_000
const STOP_TIMEOUT = 5_000

interface Running {
  proc: ScriptProcess
  origin: string
  /** The parenthesis of the "listening" line: members and method. */
  summary: string
  get: (path?: string, cookie?: string) => Promise<ClientResponse>
}

/** Starts `npm run --silent <script>` on a free port with `vars`, and waits for its "listening" line. Killed when `t` ends, whatever happens. */
async function start (t: Test, script: string, vars: Record<string, string>, ready = LISTENING): Promise<Running> {
  const port = await freePort()
  const proc = new ScriptProcess(script, { PORT: String(port), HOST: '127.0.0.1', ...vars })
  t.teardown(() => proc.killAll())
  await proc.waitFor(ready, START_TIMEOUT)
  const [, origin = '', summary = ''] = LISTENING.exec(proc.stdout) ?? []
  t.equal(origin, `http://127.0.0.1:${port}`, 'listening on HOST:PORT')
  const get = async (path = '/', cookie?: string): Promise<ClientResponse> =>
    await send(origin, cookie === undefined ? { path } : { path, cookie })
  return { proc, origin, summary, get }
}

/** SIGTERM to the example; it must end with code 0 within 5 s. */
async function stop (t: Test, { proc }: Running): Promise<void> {
  proc.kill('SIGTERM')
  const exit = await proc.waitExit(STOP_TIMEOUT)
  t.same(exit, { code: 0, signal: null }, `SIGTERM: exit code 0 within ${STOP_TIMEOUT} ms`, { output: proc.output })
}

/** Members a, b, c for one example, stopped when `t` ends. */
async function upstreams (t: Test): Promise<{ up: Upstreams, STICKY_UPSTREAMS: string }> {
  const up = await Upstreams.start(['a', 'b', 'c'])
  t.teardown(async () => { await up.close() })
  return { up, STICKY_UPSTREAMS: up.members.map(m => `${m.route}=${m.url}`).join(',') }
}

const routeCookie = (route: string | undefined): string => `ROUTEID=.${route ?? '?'}; Path=/; HttpOnly; SameSite=Lax`

/** Runs `scenario` once per example, the three in parallel. */
function eachExample (name: string, scenario: (t: Test, script: string) => Promise<void>): void {
  t.test(name, async t => {
    t.jobs = EXAMPLES.length
    for (const example of EXAMPLES) t.test(example, async t => { await scenario(t, `example:${example}`) })
  })
}

eachExample('(a) Method 2: STICKY_ROUTE_COOKIE=ROUTEID', async (t, script) => {
  const { STICKY_UPSTREAMS } = await upstreams(t)
  const gw = await start(t, script, { STICKY_UPSTREAMS, STICKY_ROUTE_COOKIE: 'ROUTEID' })
  t.match(gw.summary, /; Method 2 cookie ROUTEID$/)

  const seen: Array<string | undefined> = []
  for (let i = 0; i < 3; i++) {
    const res = await gw.get()
    t.equal(res.status, 200)
    seen.push(memberOf(res))
    t.same(res.setCookie, [routeCookie(memberOf(res))], `new client ${i + 1}: Set-Cookie ${routeCookie(memberOf(res))}`)
  }
  t.same(seen, ['a', 'b', 'c'], 'new clients rotate a, b, c')

  for (let i = 0; i < 2; i++) {
    const res = await gw.get('/', 'ROUTEID=.b')
    t.equal(memberOf(res), 'b', 'ROUTEID=.b stays on b')
    t.same(res.setCookie, [], 'and gets no Set-Cookie')
  }

  // The member sets one cookie of its own (a session id, say): it must reach the client intact, before ROUTEID.
  const own = await send(gw.origin, { path: '/', headers: { 'x-test-set-cookie': 'JSESSIONID=s1; Path=/' } })
  t.same(own.setCookie, ['JSESSIONID=s1; Path=/', routeCookie(memberOf(own))], 'a member\'s single Set-Cookie passes through intact, before ROUTEID')
  await stop(t, gw)
})

eachExample('(b) Method 1: STICKY_SESSION=\'JSESSIONID|jsessionid\', no STICKY_ROUTE_COOKIE', async (t, script) => {
  const { STICKY_UPSTREAMS } = await upstreams(t)
  const gw = await start(t, script, { STICKY_UPSTREAMS, STICKY_SESSION: 'JSESSIONID|jsessionid' })
  t.match(gw.summary, /; Method 1 session JSESSIONID\|jsessionid$/)

  const byCookie = await gw.get('/', 'JSESSIONID=x.b')
  t.equal(memberOf(byCookie), 'b', 'JSESSIONID=x.b goes to b')
  t.same(byCookie.setCookie, [], 'no cookie written')

  const byUrl = await gw.get('/p;jsessionid=x.c')
  t.equal(memberOf(byUrl), 'c', '/p;jsessionid=x.c goes to c')
  t.equal((JSON.parse(byUrl.body) as Echo).url, '/p;jsessionid=x.c', 'the URL reaches the member unchanged')
  t.same(byUrl.setCookie, [], 'no cookie written')

  const fresh = await gw.get()
  t.equal(fresh.status, 200)
  t.same(fresh.setCookie, [], 'a new client: no ROUTEID written')
  await stop(t, gw)
})

eachExample('(c) STICKY_NOFAILOVER=1: a route naming a stopped member gets 503', async (t, script) => {
  const { up, STICKY_UPSTREAMS } = await upstreams(t)
  const gw = await start(t, script, { STICKY_UPSTREAMS, STICKY_NOFAILOVER: '1' })
  await up.at(1).stop()
  for (let i = 0; i < 2; i++) {
    const res = await gw.get('/', 'ROUTEID=.b')
    t.equal(res.status, 503, 'ROUTEID=.b with b stopped: 503')
    t.same(res.setCookie, [])
  }
  const fresh = await gw.get()
  t.equal(fresh.status, 200, 'new clients are still served')
  t.not(memberOf(fresh), 'b')
  await stop(t, gw)
})

eachExample('(d) STICKY_RETRY=1: back on the member once it is up again and 1 s has passed', async (t, script) => {
  const { up, STICKY_UPSTREAMS } = await upstreams(t)
  const gw = await start(t, script, { STICKY_UPSTREAMS, STICKY_RETRY: '1' })
  await up.at(1).stop()
  const moved = await gw.get('/', 'ROUTEID=.b')
  // b was marked failed during that request, so before this instant (on a loaded machine, well before).
  const failedAt = Date.now()
  t.equal(moved.status, 200, 'b stopped: the request fails over')
  t.ok(memberOf(moved) === 'a' || memberOf(moved) === 'c', `served by a live member (${String(memberOf(moved))})`)
  await up.at(1).start()
  await sleep(Math.max(0, failedAt + 1200 - Date.now()))
  const back = await gw.get('/', 'ROUTEID=.b')
  t.equal(back.status, 200)
  t.equal(memberOf(back), 'b', 'more than 1 s later, ROUTEID=.b is back on b')
  await stop(t, gw)
})

eachExample('(f) member lifecycle: STICKY_STATUS, STICKY_LOADFACTORS, STICKY_LBSETS, STICKY_FAILONSTATUS, STICKY_TIMEOUT, STICKY_HC*', async (t, script) => {
  const { up, STICKY_UPSTREAMS } = await upstreams(t)
  const gw = await start(t, script, {
    STICKY_UPSTREAMS,
    STICKY_ROUTE_COOKIE: 'ROUTEID',
    STICKY_STATUS: 'a=+N,c=+H',
    STICKY_LOADFACTORS: 'b=2',
    STICKY_LBSETS: 'c=0',
    STICKY_LBMETHOD: 'bybusyness',
    STICKY_FAILONSTATUS: '500',
    STICKY_TIMEOUT: '5',
    STICKY_HC: 'GET /hc',
    STICKY_HC_INTERVAL: '0.25', // the probe timeout follows the interval: 50 ms failed probes on a loaded machine
    STICKY_HC_FAILS: '2',
    STICKY_HC_PASSES: '1'
  })
  for (let i = 0; i < 3; i++) t.equal(memberOf(await gw.get()), 'b', 'a drains, c stands by: new clients go to b')
  t.equal(memberOf(await gw.get('/', 'ROUTEID=.a')), 'a', 'the draining a keeps its client')
  up.at(1).healthStatus = 500
  const deadline = Date.now() + 5000
  let served: string | undefined
  while (Date.now() < deadline) {
    served = memberOf(await gw.get())
    if (served === 'c') break
    await sleep(50)
  }
  t.equal(served, 'c', 'b fails its checks twice in a row: the hot standby c takes the new clients')
  await stop(t, gw)
})

eachExample('(e) no STICKY_UPSTREAMS: the demo members answer', async (t, script) => {
  const gw = await start(t, script, {})
  t.match(gw.summary, /^demo members: node1=http:\/\/127\.0\.0\.1:\d+, node2=http:\/\/127\.0\.0\.1:\d+, node3=http:\/\/127\.0\.0\.1:\d+; Method 1 session ROUTEID$/)
  const res = await gw.get()
  t.equal(res.status, 200)
  t.match(res.body, /^node1: visit 1 of session [0-9a-f]+\n$/, 'node1 answers')
  const health = await gw.get('/health')
  t.equal(health.status, 200)
  t.equal(health.body, 'node2 ok\n', 'GET /health, on the next member')
  await stop(t, gw)
})

eachExample('(f) bad variables: a message naming the problem on stderr, exit code 1', async (t, script) => {
  const port = String(await freePort())
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['STICKY_UPSTREAMS=nonsense', { STICKY_UPSTREAMS: 'nonsense' },
      /^STICKY_UPSTREAMS must be route=url pairs separated by commas \(e\.g\. [^)]+\), got "nonsense"\.\n$/],
    ['STICKY_SESSION=\'a|b|c\' (rejected by the core)', { STICKY_UPSTREAMS: 'a=http://127.0.0.1:9', STICKY_SESSION: 'a|b|c' },
      /^ERR_STICKY_STICKYSESSION: stickyroute: option `stickySession` must be .*, got "a\|b\|c"\.\n$/]
  ]
  await Promise.all(cases.map(async ([name, vars, message]) => {
    const proc = new ScriptProcess(script, { PORT: port, HOST: '127.0.0.1', ...vars })
    t.teardown(() => proc.killAll())
    const exit = await proc.waitExit(START_TIMEOUT)
    t.same(exit, { code: 1, signal: null }, `${name}: exit code 1`, { output: proc.output })
    t.match(proc.stderr, message, `${name}: the message, without a stack trace`)
    t.equal(proc.stdout, '', `${name}: nothing on stdout`)
  }))
})

t.test('npm run demo: three members behind the Fastify gateway, Method 2', async t => {
  const gw = await start(t, 'demo', {}, /^Stop with Ctrl-C\.$/m)
  t.match(gw.summary, /^demo members: node1=\S+, node2=\S+, node3=\S+; Method 2 cookie ROUTEID$/)
  t.match(gw.proc.stdout, `curl -s -c /tmp/jar -b /tmp/jar ${gw.origin}/`, 'prints the curl walk-through')

  const fresh: string[] = []
  for (let i = 0; i < 3; i++) {
    const res = await gw.get()
    fresh.push(res.body.split(':')[0] ?? '')
    t.equal(res.setCookie.at(-1), routeCookie(memberOf(res)), 'a new client gets ROUTEID, last')
  }
  t.same(fresh, ['node1', 'node2', 'node3'], 'curl without a jar: node1, node2, node3')

  // curl -c /tmp/jar -b /tmp/jar: a client that keeps its cookies.
  const jar = new Map<string, string>()
  const bodies: string[] = []
  for (let i = 0; i < 3; i++) {
    const res = await gw.get('/', jar.size === 0 ? undefined : [...jar].map(([k, v]) => `${k}=${v}`).join('; '))
    bodies.push(res.body)
    for (const line of res.setCookie) {
      const pair = line.split(';')[0] ?? ''
      const eq = pair.indexOf('=')
      if (eq > 0) jar.set(pair.slice(0, eq), pair.slice(eq + 1))
    }
  }
  const session = /^(node\d): visit 1 of session ([0-9a-f]+)\n$/.exec(bodies[0] ?? '')
  t.ok(session, `first visit: ${bodies[0]}`)
  const [, member = '', id = ''] = session ?? []
  t.same(bodies, [1, 2, 3].map(n => `${member}: visit ${n} of session ${id}\n`), 'with a cookie jar: the same member and session, the visit count rising')

  // The drain of the walk-through: node1's users stay, new users go elsewhere.
  t.match(gw.proc.stdout, `curl -s -X POST '${gw.origin}/balancer-manager/node1?draining=1'`, 'prints the drain')
  const drained = await send(gw.origin, { method: 'POST', path: '/balancer-manager/node1?draining=1' })
  t.equal(drained.status, 200)
  t.match(JSON.parse(drained.body), { route: 'node1', draining: true, status: 'N' })
  for (let i = 0; i < 3; i++) t.match((await gw.get('/', 'ROUTEID=.node1')).body, /^node1: /, 'a user of node1 stays on it')
  const after: string[] = []
  for (let i = 0; i < 4; i++) after.push((await gw.get()).body.split(':')[0] ?? '')
  t.notOk(after.includes('node1'), `new users never get the draining node1: ${after.join(', ')}`)
  const listed = JSON.parse((await gw.get('/balancer-manager')).body) as Array<{ route: string, draining: boolean }>
  t.same(listed.map(m => [m.route, m.draining]), [['node1', true], ['node2', false], ['node3', false]])
  t.equal((await send(gw.origin, { method: 'POST', path: '/balancer-manager/node1?draining=yes' })).status, 400)
  t.equal((await send(gw.origin, { method: 'POST', path: '/balancer-manager/node9?draining=1' })).status, 404)
  const back = await send(gw.origin, { method: 'POST', path: '/balancer-manager/node1?draining=0' })
  t.match(JSON.parse(back.body), { route: 'node1', draining: false, status: 'Ok' })
  await stop(t, gw)
})
