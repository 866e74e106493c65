/**
 * The behaviour suite: every "Observed" bullet of shared/spec/apache-behaviour.md that concerns
 * reading the route, choosing a member, the Method 2 cookie, failures and headers, run through
 * real HTTP against real upstream servers, for every adapter.
 *
 * Members are named as in the spec (tomcat_instance_1..3). Time is injected (`now`) wherever a
 * `retry` window matters, so no test sleeps through one.
 */
import { SERVICE_UNAVAILABLE, type StickyOptions } from '@stickyroute/core'
import { hostname } from 'node:os'
import t, { type Test } from 'tap'
import { shouldNotSetRouteCookie, shouldSetRouteCookie } from '../helpers/assert.js'
import { startBlackhole } from '../helpers/blackhole.js'
import { memberOf, send, type ClientRequest, type ClientResponse } from '../helpers/client.js'
import { Upstreams, type Echo } from '../helpers/upstreams.js'
import { NO_ROUTE_COOKIES, R1, R2, R3, ROUTES } from '../helpers/spec-cases.js'
import type { AdapterHarness, Gateway } from './harness.js'

const METHOD_2: Partial<StickyOptions> = { stickySession: 'ROUTEID', routeCookie: 'ROUTEID' }
const METHOD_1: Partial<StickyOptions> = { stickySession: 'JSESSIONID|jsessionid' }

/** A fake clock the balancer reads through `now`. */
class Clock {
  ms = 1_000_000
  readonly now = (): number => this.ms
  advance (seconds: number): void { this.ms += seconds * 1000 }
}

interface Setup {
  gw: Gateway
  up: Upstreams
  clock: Clock
  get: (req?: Partial<ClientRequest>) => Promise<ClientResponse>
}

function echoOf (res: ClientResponse): Echo {
  return JSON.parse(res.body) as Echo
}

export function runConformance (harness: AdapterHarness): void {
  t.test(`${harness.name}: conformance`, async t => {
    /** Starts members and a gateway in front of them, both closed when `t` ends. */
    const setup = async (t: Test, extra: Partial<StickyOptions> = {}, prefix = '',
      members?: (up: Upstreams) => StickyOptions['members']): Promise<Setup> => {
      const up = await Upstreams.start(ROUTES)
      const clock = new Clock()
      const gw = await harness.start({ members: members?.(up) ?? up.members, now: clock.now, ...extra }, { prefix })
      t.teardown(async () => {
        await gw.close()
        await up.close()
      })
      const get = async (req: Partial<ClientRequest> = {}): Promise<ClientResponse> => await send(gw.origin, { path: `${prefix}/`, ...req })
      return { gw, up, clock, get }
    }

    t.test('Method 2 (balancer cookie ROUTEID)', async t => {
      t.test('new clients rotate 1, 2, 3, 1 and each gets ROUTEID=.<its member>', async t => {
        const { get } = await setup(t, METHOD_2)
        const seen: string[] = []
        for (let i = 0; i < 4; i++) {
          const res = await get()
          t.equal(res.status, 200)
          const member = memberOf(res) ?? 'none'
          seen.push(member)
          shouldSetRouteCookie(t, res, member)
        }
        t.same(seen, [R1, R2, R3, R1])
      })

      t.test('a cookie naming a member goes there, and no cookie is re-sent', async t => {
        const { get } = await setup(t, METHOD_2)
        for (const cookie of [`ROUTEID=.${R2}`, `ROUTEID=abc.${R2}`, `other=1; ROUTEID=.${R2}; more=2`]) {
          for (let i = 0; i < 2; i++) {
            const res = await get({ cookie })
            t.equal(memberOf(res), R2, cookie)
            t.same(res.setCookie, [], `${cookie}: no Set-Cookie at all`)
          }
        }
      })

      t.test('cookies that carry no usable route: balanced, and the cookie is written', async t => {
        const { get } = await setup(t, METHOD_2)
        const cases = NO_ROUTE_COOKIES
        for (const [name, cookie] of cases) {
          const res = await get({ cookie })
          t.equal(res.status, 200, name)
          const member = memberOf(res)
          t.ok(member !== undefined && ROUTES.includes(member), `${name}: served by a member`)
          shouldSetRouteCookie(t, res, member ?? '')
        }
      })

      t.test('the first cookie of the name wins; two Cookie header lines are merged', async t => {
        const { get } = await setup(t, METHOD_2)
        const first = await get({ cookie: `ROUTEID=.${R2}; ROUTEID=.${R3}` })
        t.equal(memberOf(first), R2)
        shouldNotSetRouteCookie(t, first)
        const lines = await get({ cookie: ['a=1', `ROUTEID=.${R3}`] })
        t.equal(memberOf(lines), R3)
        shouldNotSetRouteCookie(t, lines)
      })

      t.test('the balancer cookie comes after the member\'s own Set-Cookie headers', async t => {
        const { get } = await setup(t, METHOD_2)
        const res = await get({ headers: { 'x-test-set-cookie': `JSESSIONID=abc.${R1}; Path=/|theme=dark` } })
        t.equal(memberOf(res), R1)
        t.equal(res.setCookie.length, 3)
        t.equal(res.setCookie[0], `JSESSIONID=abc.${R1}; Path=/`)
        t.equal(res.setCookie[1], 'theme=dark')
        shouldSetRouteCookie(t, res, R1)
      })

      t.test('a single Set-Cookie of the member, then the balancer cookie', async t => {
        const { get } = await setup(t, METHOD_2)
        const res = await get({ headers: { 'x-test-set-cookie': `JSESSIONID=abc.${R1}; Path=/` } })
        t.same(res.setCookie, [`JSESSIONID=abc.${R1}; Path=/`, `ROUTEID=.${R1}; Path=/; HttpOnly; SameSite=Lax`])
      })

      t.test('a member\'s own 503 passes through with the cookie; the member is not marked failed', async t => {
        const { get } = await setup(t, METHOD_2)
        const res = await get({ headers: { 'x-test-status': '503' } })
        t.equal(res.status, 503)
        t.equal(memberOf(res), R1, 'the member answered')
        shouldSetRouteCookie(t, res, R1)
        const again = await get({ cookie: `ROUTEID=.${R1}` })
        t.equal(again.status, 200)
        t.equal(memberOf(again), R1, 'the client stays')
        shouldNotSetRouteCookie(t, again)
        const own4xx = await get({ cookie: `ROUTEID=.${R1}`, headers: { 'x-test-status': '404' } })
        t.equal(own4xx.status, 404)
        shouldNotSetRouteCookie(t, own4xx)
      })

      t.test('sticky requests count: after 3 sticky hits on member 2, new clients go to 1, 3, 1', async t => {
        const { get } = await setup(t, METHOD_2)
        for (let i = 0; i < 3; i++) t.equal(memberOf(await get({ cookie: `ROUTEID=.${R2}` })), R2)
        const next: Array<string | undefined> = []
        for (let i = 0; i < 3; i++) next.push(memberOf(await get()))
        t.same(next, [R1, R3, R1])
      })

      t.test('loadFactor 1, 1, 2 gives 3, 1, 2, 3 repeating', async t => {
        const { get } = await setup(t, METHOD_2, '', up => up.members.map((m, i) => ({ ...m, loadFactor: i === 2 ? 2 : 1 })))
        const seen: Array<string | undefined> = []
        for (let i = 0; i < 8; i++) seen.push(memberOf(await get()))
        t.same(seen, [R3, R1, R2, R3, R3, R1, R2, R3])
      })

      t.test('several members sharing a route: the first usable one in config order', async t => {
        const { get, up } = await setup(t, METHOD_2, '', up => [
          { url: up.at(0).url, route: R1 },
          { url: up.at(1).url, route: R2 },
          { url: up.at(2).url, route: R2 }
        ])
        const res = await get({ cookie: `ROUTEID=.${R2}` })
        t.equal(echoOf(res).route, R2)
        t.equal(up.at(1).seen.length, 1, 'the first member of the route served')
        t.equal(up.at(2).seen.length, 0)
        shouldNotSetRouteCookie(t, res)
        await up.at(1).stop()
        const moved = await get({ cookie: `ROUTEID=.${R2}` })
        t.equal(moved.status, 200)
        t.equal(up.at(2).seen.length, 1, 'the next member of the same route took over')
        shouldNotSetRouteCookie(t, moved)
      })
    })

    t.test('Method 1 (the application\'s session id carries the route)', async t => {
      t.test('JSESSIONID=<id>.<route> routes there; the balancer never writes a cookie', async t => {
        const { get } = await setup(t, METHOD_1)
        const sticky = await get({ cookie: `JSESSIONID=ABC123.${R2}` })
        t.equal(memberOf(sticky), R2)
        t.same(sticky.setCookie, [])
        const fresh = await get()
        t.equal(fresh.status, 200)
        t.same(fresh.setCookie, [], 'a new client gets no balancer cookie')
        const own = await get({ headers: { 'x-test-set-cookie': `JSESSIONID=NEW.${R2}; Path=/` } })
        t.same(own.setCookie, [`JSESSIONID=NEW.${R2}; Path=/`], 'the application\'s cookie passes through alone')
      })

      t.test('the route is the text after the first separator', async t => {
        const { get } = await setup(t, METHOD_1)
        // ABC.123.tomcat_instance_2 has the route "123.tomcat_instance_2": no member, so balanced
        // (on a fresh balancer: 1, 2, 3). Had the last separator been used, all would be member 2.
        const seen: Array<string | undefined> = []
        for (let i = 0; i < 3; i++) seen.push(memberOf(await get({ cookie: `JSESSIONID=ABC.123.${R2}` })))
        t.same(seen, [R1, R2, R3], 'balanced')
        for (let i = 0; i < 3; i++) t.equal(memberOf(await get({ cookie: `JSESSIONID=ABC.${R3}` })), R3)
      })

      t.test('URL session ids: path and query parameters, checked before the cookie, reaching the member unchanged', async t => {
        const { get, up } = await setup(t, METHOD_1)
        const cases: Array<[string, string]> = [
          [`/app;jsessionid=ABC.${R2}`, R2],
          [`/app;jsessionid=ABC.${R2}?x=1`, R2],
          [`/app?jsessionid=ABC.${R3}`, R3],
          [`/app?x=1&jsessionid=ABC.${R1}`, R1],
          [`/app?x=1&jsessionid=ABC.${R3}&y=2`, R3]
        ]
        for (const [path, route] of cases) {
          const res = await get({ path, cookie: `JSESSIONID=XYZ.${route === R1 ? R2 : R1}` })
          t.equal(memberOf(res), route, path)
          t.equal(echoOf(res).url, path, `${path} reaches the member unchanged`)
          t.same(res.setCookie, [])
        }
        t.ok(up.list.every(m => m.seen.length > 0))
      })

      t.test('the URL parameter name is case-sensitive', async t => {
        const { get } = await setup(t, METHOD_1)
        const res = await get({ path: `/app;JSESSIONID=ABC.${R2}`, cookie: `JSESSIONID=ABC.${R3}` })
        t.equal(memberOf(res), R3, 'the cookie decides, the URL parameter was not recognised')
      })

      t.test('a URL parameter counts only at a parameter boundary (deliberate difference)', async t => {
        const { get } = await setup(t, METHOD_1)
        const res = await get({ path: `/appjsessionid=ABC.${R2}`, cookie: `JSESSIONID=ABC.${R3}` })
        t.equal(memberOf(res), R3)
      })

      t.test('with the separator switched off the whole value is the route', async t => {
        const { get } = await setup(t, { ...METHOD_1, routeSeparator: false })
        const seen: Array<string | undefined> = []
        for (let i = 0; i < 3; i++) seen.push(memberOf(await get({ cookie: `JSESSIONID=.${R2}` })))
        t.same(seen, [R1, R2, R3], '".tomcat_instance_2" does not match and is balanced')
        for (let i = 0; i < 3; i++) t.equal(memberOf(await get({ cookie: `JSESSIONID=${R2}` })), R2)
      })

      t.test('while the session\'s member is down each request is balanced afresh; a new session sticks; old ids go back', async t => {
        const { get, up, clock } = await setup(t, METHOD_1)
        await up.at(1).stop()
        const a = await get({ cookie: `JSESSIONID=OLD.${R2}` })
        const b = await get({ cookie: `JSESSIONID=OLD.${R2}` })
        t.equal(a.status, 200)
        t.equal(b.status, 200)
        t.not(memberOf(a), R2)
        t.not(memberOf(a), memberOf(b), 'balanced afresh')
        t.same([...a.setCookie, ...b.setCookie], [], 'Method 1 writes no cookie')
        for (let i = 0; i < 3; i++) t.equal(memberOf(await get({ cookie: `JSESSIONID=NEW.${R3}` })), R3)
        await up.at(1).start()
        clock.advance(61)
        t.equal(memberOf(await get({ cookie: `JSESSIONID=OLD.${R2}` })), R2, 'back on its member once retry passed')
      })
    })

    t.test('failures', async t => {
      t.test('sticky member refuses connections: same request answered by another member with a new cookie', async t => {
        const { get, up } = await setup(t, METHOD_2)
        await up.at(1).stop()
        const res = await get({ cookie: `ROUTEID=.${R2}` })
        t.equal(res.status, 200)
        const member = memberOf(res)
        t.ok(member === R1 || member === R3, 'a live member answered')
        shouldSetRouteCookie(t, res, member ?? '')
        const fresh: Array<string | undefined> = []
        for (let i = 0; i < 4; i++) fresh.push(memberOf(await get()))
        t.notOk(fresh.includes(R2), 'the failed member is skipped while in error')
      })

      t.test('old route re-balanced while down (fresh cookie each time), back to it after retry; new cookie stays put', async t => {
        const { get, up, clock } = await setup(t, { ...METHOD_2, retry: 60 })
        await up.at(1).stop()
        const first = await get({ cookie: `ROUTEID=.${R2}` })
        const moved = memberOf(first) ?? ''
        shouldSetRouteCookie(t, first, moved)
        const again = await get({ cookie: `ROUTEID=.${R2}` })
        t.not(memberOf(again), R2)
        shouldSetRouteCookie(t, again, memberOf(again) ?? '')
        await up.at(1).start()
        clock.advance(30)
        const early = await get({ cookie: `ROUTEID=.${R2}` })
        t.not(memberOf(early), R2, 'still skipped before retry has passed')
        clock.advance(31)
        const back = await get({ cookie: `ROUTEID=.${R2}` })
        t.equal(memberOf(back), R2, 'back on its member')
        shouldNotSetRouteCookie(t, back)
        const kept = await get({ cookie: `ROUTEID=.${moved}` })
        t.equal(memberOf(kept), moved, 'a client that kept the new cookie stays on its new member')
        shouldNotSetRouteCookie(t, kept)
      })

      t.test('all members down: the balancer\'s own 503 without a cookie; then recovery on the next request', async t => {
        const { get, up } = await setup(t, METHOD_2)
        await Promise.all(up.list.map(m => m.stop()))
        for (const cookie of [undefined, `ROUTEID=.${R2}`]) {
          const res = await get(cookie === undefined ? {} : { cookie })
          t.equal(res.status, 503)
          t.equal(res.body, SERVICE_UNAVAILABLE.body)
          t.same(res.setCookie, [])
        }
        await Promise.all(up.list.map(m => m.start()))
        // No clock advance: every member is in error, so forcerecovery puts them all back at once.
        const res = await get()
        t.equal(res.status, 200)
        shouldSetRouteCookie(t, res, memberOf(res) ?? '')
      })

      t.test('nofailover: a route naming a down member gets 503 every time; others are still balanced', async t => {
        const { get, up } = await setup(t, { ...METHOD_2, noFailover: true })
        await up.at(1).stop()
        for (let i = 0; i < 2; i++) {
          const res = await get({ cookie: `ROUTEID=.${R2}` })
          t.equal(res.status, 503)
          t.same(res.setCookie, [])
        }
        const fresh = await get()
        t.equal(fresh.status, 200)
        t.not(memberOf(fresh), R2)
        const unknown = await get({ cookie: 'ROUTEID=.nobody' })
        t.equal(unknown.status, 200, 'never a 503 for an unknown route')
        shouldSetRouteCookie(t, unknown, memberOf(unknown) ?? '')
      })

      t.test('maxAttempts 0: no other member is tried inside the request', async t => {
        const { get, up } = await setup(t, { ...METHOD_2, maxAttempts: 0 })
        await up.at(1).stop()
        const res = await get({ cookie: `ROUTEID=.${R2}` })
        t.equal(res.status, 503)
        t.same(res.setCookie, [])
        const next = await get({ cookie: `ROUTEID=.${R2}` })
        t.equal(next.status, 200, 'the next request skips the member in error')
        shouldSetRouteCookie(t, next, memberOf(next) ?? '')
      })

      t.test('requests without a body fail over whatever the method; a kept body is replayed on a live member', async t => {
        const { get, up, clock } = await setup(t, METHOD_2)
        await up.at(1).stop()
        for (const method of ['DELETE', 'OPTIONS', 'HEAD', 'POST']) {
          clock.advance(61) // member 2 is out of its error window: it is tried, and refuses, again
          const res = await get({ method, cookie: `ROUTEID=.${R2}` })
          t.equal(res.status, 200, `${method} without a body`)
          t.not(memberOf(res), R2)
          shouldSetRouteCookie(t, res, memberOf(res) ?? '')
        }
        const bodies: Array<Partial<ClientRequest>> = [
          { body: '{"a":1}', headers: { 'content-type': 'application/json' } },
          { body: 'x=1&y=2', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          { body: 'raw bytes', headers: { 'content-type': 'application/octet-stream' } },
          { body: 'chunky', chunked: true },
          { method: 'PUT', body: 'p'.repeat(65_536), headers: { 'content-type': 'text/plain' } }
        ]
        for (const body of bodies) {
          clock.advance(61)
          const res = await get({ method: 'POST', cookie: `ROUTEID=.${R2}`, timeout: 5000, ...body })
          t.equal(res.status, 200, `${body.method ?? 'POST'} ${String(body.headers?.['content-type'] ?? 'chunked')}: answered by a live member`)
          t.not(memberOf(res), R2)
          shouldSetRouteCookie(t, res, memberOf(res) ?? '')
          const echo = echoOf(res)
          t.equal(echo.body, body.body, 'the body reached it intact')
          t.equal(echo.headers['content-type'], body.headers?.['content-type'], 'with its content type as sent')
        }
        const after = await get({ cookie: `ROUTEID=.${R2}` })
        t.equal(after.status, 200, 'the member that refused is in error: the next GET goes elsewhere at once')
        t.not(memberOf(after), R2)
      })

      t.test('a body over retryBodyLimit (or with retryBodyLimit 0) is streamed: a refused member gives a clean 502, never a hang', async t => {
        for (const retryBodyLimit of [16, 0]) {
          const { get, up, clock } = await setup(t, { ...METHOD_2, retryBodyLimit })
          const live = await get({ method: 'POST', cookie: `ROUTEID=.${R1}`, body: 'l'.repeat(64), chunked: true })
          t.equal(live.status, 200, `limit ${retryBodyLimit}: a long chunked body still reaches a live member`)
          t.equal(echoOf(live).body, 'l'.repeat(64), 'intact (what was read is put back)')
          await up.at(1).stop()
          for (const body of [{ body: 's'.repeat(64) }, { body: 'c'.repeat(64), chunked: true }]) {
            clock.advance(61)
            const res = await get({ method: 'POST', cookie: `ROUTEID=.${R2}`, timeout: 5000, ...body })
            t.ok(res.status === 502 || res.status === 503, `limit ${retryBodyLimit}, POST ${body.chunked === true ? 'chunked' : 'with Content-Length'}: a clean ${res.status}`)
            t.same(res.setCookie, [], 'the balancer\'s own answer carries no cookie')
          }
        }
      })

      t.test('a refused connection never surfaces as the proxy library\'s 500 or 504', async t => {
        const { get, up } = await setup(t, { ...METHOD_2, maxAttempts: 1 })
        await up.at(0).stop()
        await up.at(1).stop()
        const res = await get({ cookie: `ROUTEID=.${R1}` })
        t.equal(res.status, 503, 'two attempts, both refused: the balancer\'s own 503')
        t.equal(res.body, SERVICE_UNAVAILABLE.body)
      })

      t.test('a member that drops the connection after reading a POST: 502, and it is not marked failed', async t => {
        const { get } = await setup(t, METHOD_2)
        const res = await get({ method: 'POST', body: 'once', cookie: `ROUTEID=.${R2}`, headers: { 'x-test-reset': 'before-response' } })
        t.equal(res.status, 502, 'never sent twice: it may have been done')
        t.same(res.setCookie, [])
        const next = await get({ cookie: `ROUTEID=.${R2}` })
        t.equal(memberOf(next), R2, 'the member still serves its clients')
        shouldNotSetRouteCookie(t, next)
      })

      t.test('a member that dies with a GET in flight: the GET goes to another member, which pins the client', async t => {
        const { get, up } = await setup(t, METHOD_2)
        const pending = get({ cookie: `ROUTEID=.${R2}`, headers: { 'x-test-delay': '1000' }, timeout: 5000 })
        await new Promise(resolve => setTimeout(resolve, 200))
        await up.at(1).stop()
        const res = await pending
        t.equal(res.status, 200, 'no error for the client')
        t.not(memberOf(res), R2)
        shouldSetRouteCookie(t, res, memberOf(res) ?? '')
      })

      t.test('a member that dies in the middle of its answer: the client\'s response ends, no hang', async t => {
        const { gw } = await setup(t, METHOD_2)
        const outcome = await send(gw.origin, { path: '/', cookie: `ROUTEID=.${R2}`, headers: { 'x-test-reset': 'after-headers' }, timeout: 5000 })
          .then(res => `answered ${res.status}`, (err: Error) => `cut: ${err.message}`)
        t.match(outcome, /^cut: (aborted|socket hang up|read ECONNRESET)$/, 'the client sees the answer cut, not a clean short one')
      })

      t.test('a member whose host drops connection attempts: failover after connectTimeout', async t => {
        const hole = await startBlackhole()
        t.teardown(() => hole.close())
        const { get } = await setup(t, { ...METHOD_2, connectTimeout: 0.5 }, '', up => [{ url: hole.url, route: R1 }, ...up.members.slice(1)])
        const res = await get({ cookie: `ROUTEID=.${R1}`, timeout: 5000 })
        t.equal(res.status, 200, 'answered by another member')
        t.not(memberOf(res), R1)
        shouldSetRouteCookie(t, res, memberOf(res) ?? '')
        const next = await get({ cookie: `ROUTEID=.${R1}`, timeout: 5000 })
        t.equal(next.status, 200, 'the member is in error: the next request goes elsewhere at once')
      })

      t.test('a slow member is waited for (no failover on slowness)', async t => {
        const { get } = await setup(t, METHOD_2)
        const res = await get({ cookie: `ROUTEID=.${R2}`, headers: { 'x-test-delay': '1200' } })
        t.equal(res.status, 200)
        t.equal(memberOf(res), R2)
        shouldNotSetRouteCookie(t, res)
      })
    })

    t.test('what the member sees', async t => {
      t.test('Host rewritten, X-Forwarded-* appended, method, URL, cookies and body unchanged', async t => {
        const { gw, up } = await setup(t, METHOD_2)
        const gwHost = new URL(gw.origin).host
        const res = await send(gw.origin, {
          method: 'PUT',
          path: '/things/7?b=2&a=1',
          cookie: `ROUTEID=.${R2}; theme=dark`,
          headers: { 'content-type': 'text/plain', 'x-forwarded-for': '203.0.113.9', 'x-forwarded-host': 'edge.example', 'x-forwarded-proto': 'https', 'x-forwarded-server': 'edge1' },
          body: 'hello body'
        })
        const echo = echoOf(res)
        t.equal(echo.route, R2)
        t.equal(echo.method, 'PUT')
        t.equal(echo.url, '/things/7?b=2&a=1')
        t.equal(echo.body, 'hello body')
        t.equal(echo.headers['cookie'], `ROUTEID=.${R2}; theme=dark`)
        t.equal(echo.headers['host'], new URL(up.at(1).url).host, 'Host is the member\'s host:port')
        t.match(echo.headers['x-forwarded-for'], /^203\.0\.113\.9, (::ffff:)?127\.0\.0\.1$/)
        t.equal(echo.headers['x-forwarded-host'], `edge.example, ${gwHost}`)
        t.equal(echo.headers['x-forwarded-proto'], 'https, http')
        t.equal(echo.headers['x-forwarded-server'], `edge1, ${hostname()}`)
        const plain = echoOf(await send(gw.origin, { path: '/', cookie: `ROUTEID=.${R2}` }))
        t.match(plain.headers['x-forwarded-for'], /^(::ffff:)?127\.0\.0\.1$/)
        t.equal(plain.headers['x-forwarded-host'], gwHost)
        t.equal(plain.headers['x-forwarded-proto'], 'http')
        t.equal(plain.headers['x-forwarded-server'], hostname(), 'X-Forwarded-Server: the gateway\'s host name, as Apache\'s ServerName')
      })

      t.test('addForwardedHeaders false: no X-Forwarded-* added, the client\'s own pass unchanged (Apache ProxyAddHeaders Off)', async t => {
        const { gw, up } = await setup(t, { ...METHOD_2, addForwardedHeaders: false })
        const bare = echoOf(await send(gw.origin, { path: '/', cookie: `ROUTEID=.${R2}` }))
        t.equal(bare.route, R2)
        for (const name of ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-server']) {
          t.equal(bare.headers[name], undefined, `no ${name}`)
        }
        t.equal(bare.headers['host'], new URL(up.at(1).url).host, 'Host is still the member\'s host:port')
        const relayed = echoOf(await send(gw.origin, {
          path: '/',
          cookie: `ROUTEID=.${R2}`,
          headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-host': 'edge.example', 'x-forwarded-proto': 'https', 'x-forwarded-server': 'edge1' }
        }))
        t.equal(relayed.headers['x-forwarded-for'], '203.0.113.9')
        t.equal(relayed.headers['x-forwarded-host'], 'edge.example')
        t.equal(relayed.headers['x-forwarded-proto'], 'https')
        t.equal(relayed.headers['x-forwarded-server'], 'edge1')
      })

      t.test('preserveHost keeps the client\'s Host', async t => {
        const { gw } = await setup(t, { ...METHOD_2, preserveHost: true })
        const echo = echoOf(await send(gw.origin, { path: '/', headers: { host: 'app.example:8443' } }))
        t.equal(echo.headers['host'], 'app.example:8443')
        t.equal(echo.headers['x-forwarded-host'], 'app.example:8443')
      })
    })

    t.test('mounted under a prefix next to other routes', async t => {
      const { gw } = await setup(t, METHOD_2, '/app')
      const res = await send(gw.origin, { path: '/app/x/y?q=1' })
      t.equal(res.status, 200)
      t.equal(echoOf(res).url, '/x/y?q=1', 'the prefix is stripped')
      shouldSetRouteCookie(t, res, memberOf(res) ?? '')
      const root = await send(gw.origin, { path: '/app', cookie: `ROUTEID=.${R3}` })
      t.equal(memberOf(root), R3)
      t.equal(echoOf(root).url, '/')
      const outside = await send(gw.origin, { path: '/elsewhere' })
      t.equal(outside.status, 404, 'paths outside the prefix are not proxied')
      t.equal(memberOf(outside), undefined)
    })
  })
}
