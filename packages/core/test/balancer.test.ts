/**
 * The balancer: choosing a member, the Method 2 cookie, failover, retry, forcerecovery,
 * nofailover and the counters, with an injected clock.
 */
import t, { type Test } from 'tap'
import { createBalancer, type Balancer, type Decision, type MemberOptions, type Routed, type StickyOptions } from '@stickyroute/core'
import { Balancer as BalancerClass } from '../src/balancer.js'
import { compileRouteCookie, formatRouteCookie } from '../src/cookie.js'
import { resolveOptions } from '../src/options.js'
import { A, B, C, IDLE_STATUS, routed } from './fixtures.js'

const MEMBERS: MemberOptions[] = [
  { url: A, route: 'a' },
  { url: B, route: 'b' },
  { url: C, route: 'c' }
]

const COOKIE_A = 'ROUTEID=.a; Path=/; HttpOnly; SameSite=Lax'
const COOKIE_B = 'ROUTEID=.b; Path=/; HttpOnly; SameSite=Lax'
const COOKIE_C = 'ROUTEID=.c; Path=/; HttpOnly; SameSite=Lax'
const COOKIE_A_TLS = 'ROUTEID=.a; Path=/; HttpOnly; Secure; SameSite=Lax'
const COOKIE_B_TLS = 'ROUTEID=.b; Path=/; HttpOnly; Secure; SameSite=Lax'

interface Harness {
  balancer: Balancer
  clock: { now: number }
}

function setup (options: Partial<StickyOptions> = {}): Harness {
  const clock = { now: 1_000_000 }
  const balancer = createBalancer({ members: MEMBERS, now: () => clock.now, ...options })
  return { balancer, clock }
}

// ---------------------------------------------------------------------------------------------
// Choosing a member
// ---------------------------------------------------------------------------------------------

t.test('a route naming a usable member: that member, route unchanged, no cookie', async t => {
  const { balancer } = setup({ routeCookie: 'ROUTEID' })
  const d = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
  t.equal(d.route, 'b')
  t.same(d.member, { url: B, route: 'b', index: 1, loadFactor: 1, lbSet: 0 })
  t.equal(d.routeChanged, false)
  t.equal(d.setCookie, undefined)
  t.same([d.routeSource, d.clientRoute], ['cookie', 'b'])
  t.equal(d.attempt, 1)
})

t.test('a route naming a usable member, Method 1 session id', async t => {
  const { balancer } = setup({ stickySession: 'JSESSIONID|jsessionid' })
  const d = routed(t, balancer.select({ cookie: 'JSESSIONID=6F1C2A.c' }))
  t.equal(d.route, 'c')
  t.equal(d.routeChanged, false)
  t.equal(d.setCookie, undefined)
  const u = routed(t, balancer.select({ url: '/shop;jsessionid=99.b?x=1', cookie: 'JSESSIONID=6F1C2A.c' }))
  t.equal(u.route, 'b', 'URL wins over the cookie')
  t.same([u.routeSource, u.clientRoute], ['url', 'b'])
})

t.test('several members sharing a route: the first usable in config order', async t => {
  const clock = { now: 0 }
  const balancer = createBalancer({
    members: [
      { url: A, route: 'x' },
      { url: B, route: 'x' },
      { url: C, route: 'y' }
    ],
    routeCookie: 'ROUTEID',
    now: () => clock.now
  })
  const d1 = routed(t, balancer.select({ cookie: 'ROUTEID=.x' }))
  t.equal(d1.member.url, A, 'first member with route x')
  t.equal(d1.routeChanged, false)
  const d2 = routed(t, balancer.select({ cookie: 'ROUTEID=.x' }))
  t.equal(d2.member.url, A, 'again the first, not rotated')
  balancer.markFailed(d1)
  const d3 = routed(t, balancer.select({ cookie: 'ROUTEID=.x' }))
  t.equal(d3.member.url, B, 'first one in error: the second with route x')
  t.equal(d3.routeChanged, false, 'same route: not changed')
  t.equal(d3.setCookie, undefined, 'same route: no cookie')
  balancer.markFailed(d3)
  const d4 = routed(t, balancer.select({ cookie: 'ROUTEID=.x' }))
  t.equal(d4.member.url, C, 'both x members in error: balanced to y')
  t.equal(d4.routeChanged, true)
  t.equal(d4.setCookie, 'ROUTEID=.y; Path=/; HttpOnly; SameSite=Lax')
})

interface BalancedRow {
  name: string
  request: { cookie?: string, url?: string }
}

const balancedRows: BalancedRow[] = [
  { name: 'no cookie (new client)', request: {} },
  { name: 'unknown route', request: { cookie: 'ROUTEID=.zzz' } },
  { name: 'value without separator', request: { cookie: 'ROUTEID=b' } },
  { name: 'empty value', request: { cookie: 'ROUTEID=; x=1' } },
  { name: 'route in another case', request: { cookie: 'ROUTEID=.B' } },
  { name: 'unknown route in the URL', request: { url: '/?ROUTEID=.zzz' } }
]

t.test('no route / unknown route: balanced, route changed, exact Method 2 cookie', async t => {
  for (const row of balancedRows) {
    const { balancer } = setup({ routeCookie: 'ROUTEID' })
    const d = routed(t, balancer.select(row.request), row.name)
    t.equal(d.route, 'a', `${row.name}: first pick of a fresh balancer`)
    t.equal(d.routeChanged, true, `${row.name}: route changed`)
    t.equal(d.setCookie, COOKIE_A, `${row.name}: cookie`)
    const tls = routed(t, balancer.select({ ...row.request, secure: true }), row.name)
    t.equal(tls.route, 'b', `${row.name}: second pick`)
    t.equal(tls.setCookie, COOKIE_B_TLS, `${row.name}: Secure before SameSite over HTTPS`)
  }
})

t.test('unknown route is balanced, never 503, even with noFailover', async t => {
  const { balancer } = setup({ routeCookie: 'ROUTEID', noFailover: true })
  const d = routed(t, balancer.select({ cookie: 'ROUTEID=.zzz' }))
  t.equal(d.route, 'a')
  t.equal(d.routeChanged, true)
  t.equal(d.setCookie, COOKIE_A)
})

t.test('the cookie strings are those of compileRouteCookie/formatRouteCookie', async t => {
  const compiled = compileRouteCookie('ROUTEID', {})
  t.equal(compiled.suffixInsecure, '; Path=/; HttpOnly; SameSite=Lax')
  t.equal(compiled.suffixSecure, '; Path=/; HttpOnly; Secure; SameSite=Lax')
  t.equal(formatRouteCookie(compiled, '.', 'a', false), COOKIE_A)
  t.equal(formatRouteCookie(compiled, '.', 'a', true), COOKIE_A_TLS)
})

interface CookieRow {
  name: string
  options: Partial<StickyOptions>
  http: string
  https: string
}

const cookieRows: CookieRow[] = [
  { name: 'routeCookie: "ROUTEID"', options: { routeCookie: 'ROUTEID' }, http: COOKIE_A, https: COOKIE_A_TLS },
  { name: 'routeCookie: true (stickySession name)', options: { routeCookie: true }, http: COOKIE_A, https: COOKIE_A_TLS },
  { name: 'routeCookie: true with stickySession SRV', options: { stickySession: 'SRV', routeCookie: true }, http: 'SRV=.a; Path=/; HttpOnly; SameSite=Lax', https: 'SRV=.a; Path=/; HttpOnly; Secure; SameSite=Lax' },
  { name: 'secure: true', options: { routeCookie: { name: 'ROUTEID', secure: true } }, http: COOKIE_A_TLS, https: COOKIE_A_TLS },
  { name: 'secure: false', options: { routeCookie: { name: 'ROUTEID', secure: false } }, http: COOKIE_A, https: COOKIE_A },
  { name: 'sameSite: false', options: { routeCookie: { sameSite: false } }, http: 'ROUTEID=.a; Path=/; HttpOnly', https: 'ROUTEID=.a; Path=/; HttpOnly; Secure' },
  { name: 'httpOnly: false, sameSite Strict', options: { routeCookie: { httpOnly: false, sameSite: 'Strict' } }, http: 'ROUTEID=.a; Path=/; SameSite=Strict', https: 'ROUTEID=.a; Path=/; Secure; SameSite=Strict' },
  {
    name: 'every attribute',
    options: { routeCookie: { name: 'ROUTEID', path: '/app', domain: 'example.com', maxAge: 3600, expires: new Date(Date.UTC(2030, 0, 1)), httpOnly: true, secure: 'auto', sameSite: 'None', partitioned: true } },
    http: 'ROUTEID=.a; Path=/app; Domain=example.com; Max-Age=3600; Expires=Tue, 01 Jan 2030 00:00:00 GMT; HttpOnly; SameSite=None; Partitioned',
    https: 'ROUTEID=.a; Path=/app; Domain=example.com; Max-Age=3600; Expires=Tue, 01 Jan 2030 00:00:00 GMT; HttpOnly; Secure; SameSite=None; Partitioned'
  },
  { name: 'separator ~', options: { routeCookie: 'ROUTEID', routeSeparator: '~' }, http: 'ROUTEID=~a; Path=/; HttpOnly; SameSite=Lax', https: 'ROUTEID=~a; Path=/; HttpOnly; Secure; SameSite=Lax' },
  { name: 'separator off', options: { routeCookie: 'ROUTEID', routeSeparator: false }, http: 'ROUTEID=a; Path=/; HttpOnly; SameSite=Lax', https: 'ROUTEID=a; Path=/; HttpOnly; Secure; SameSite=Lax' }
]

t.test('Method 2 cookie: exact Set-Cookie per configuration, and it routes back', async t => {
  for (const row of cookieRows) {
    const http = setup(row.options).balancer
    const d = routed(t, http.select({}), row.name)
    t.equal(d.setCookie, row.http, `${row.name}: plain HTTP`)
    const https = setup(row.options).balancer
    const s = routed(t, https.select({ secure: true }), row.name)
    t.equal(s.setCookie, row.https, `${row.name}: HTTPS`)
    // The client sends back name=value: it sticks to the member that answered, no new cookie.
    const pair = (d.setCookie ?? '').split(';')[0] as string
    for (let i = 0; i < 3; i++) {
      const back = routed(t, http.select({ cookie: `other=1; ${pair}` }), row.name)
      t.equal(back.route, 'a', `${row.name}: cookie routes back to a (${i + 1})`)
      t.equal(back.setCookie, undefined, `${row.name}: not re-sent (${i + 1})`)
    }
  }
})

t.test('Method 1 (no routeCookie): never a balancer cookie', async t => {
  const { balancer } = setup({ stickySession: 'JSESSIONID|jsessionid' })
  t.equal(balancer.options.routeCookie, undefined)
  for (const request of [{}, { cookie: 'JSESSIONID=1.zzz' }, { cookie: 'JSESSIONID=abc' }, { secure: true }]) {
    const d = routed(t, balancer.select(request))
    t.equal(d.routeChanged, true, `${JSON.stringify(request)}: route changed`)
    t.equal(d.setCookie, undefined, `${JSON.stringify(request)}: no cookie`)
  }
  const f = balancer.failover(routed(t, balancer.select({ cookie: 'JSESSIONID=1.a' })))
  t.equal(routed(t, f).setCookie, undefined, 'no cookie after failover either')
})

// ---------------------------------------------------------------------------------------------
// Failover
// ---------------------------------------------------------------------------------------------

t.test('failover(): member in error, another chosen with a cookie naming it, attempt increments, then 503', async t => {
  const { balancer, clock } = setup({ routeCookie: 'ROUTEID' })
  const first = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))
  t.equal(first.route, 'a')
  t.equal(first.attempt, 1)
  t.equal(first.setCookie, undefined)

  const second = routed(t, balancer.failover(first), 'after one failover')
  t.equal(second.route, 'b')
  t.equal(second.routeChanged, true)
  t.equal(second.setCookie, COOKIE_B)
  t.equal(second.attempt, 2)
  t.same([second.routeSource, second.clientRoute], ['cookie', 'a'], 'keeps the route the client sent')
  const a = balancer.members()[0]
  t.equal(a?.inError, true, 'a in error')
  t.equal(a?.errorSince, clock.now, 'since now()')
  t.equal(a?.failures, 1)

  const third = routed(t, balancer.failover(second), 'after two failovers')
  t.equal(third.route, 'c')
  t.equal(third.routeChanged, true)
  t.equal(third.setCookie, COOKIE_C)
  t.equal(third.attempt, 3)

  // maxAttempts defaults to members - 1 = 2: no fourth member tried.
  const last = balancer.failover(third)
  t.same(last, { ok: false, status: 503, reason: 'max-attempts', clientRoute: 'a', attempt: 4 })
  t.notOk('setCookie' in last, 'the balancer\'s own 503 carries no cookie')
  t.same(balancer.members().map(m => m.inError), [true, true, true])
  t.same(balancer.members().map(m => m.failures), [1, 1, 1])
})

t.test('failover() keeps the request\'s HTTPS flag for the new cookie', async t => {
  const { balancer } = setup({ routeCookie: 'ROUTEID' })
  const first = routed(t, balancer.select({ cookie: 'ROUTEID=.a', secure: true }))
  const second = routed(t, balancer.failover(first))
  t.equal(second.setCookie, COOKIE_B_TLS)
})

t.test('failover() of a new client to the member it was balanced to: no cookie for the failed member', async t => {
  const { balancer } = setup({ routeCookie: 'ROUTEID' })
  const first = routed(t, balancer.select({}))
  t.equal(first.setCookie, COOKIE_A)
  const second = routed(t, balancer.failover(first))
  t.equal(second.route, 'b')
  t.equal(second.setCookie, COOKIE_B)
  t.same([second.routeSource, second.clientRoute], [undefined, undefined])
})

const maxAttemptRows = [
  { maxAttempts: 0, tried: ['a'], attempt: 2 },
  { maxAttempts: 1, tried: ['a', 'b'], attempt: 3 },
  { maxAttempts: 2, tried: ['a', 'b', 'c'], attempt: 4 }
]

t.test('failover() stops after maxAttempts more members', async t => {
  for (const row of maxAttemptRows) {
    const { balancer } = setup({ routeCookie: 'ROUTEID', maxAttempts: row.maxAttempts })
    const tried: string[] = []
    let d: Decision = balancer.select({ cookie: 'ROUTEID=.a' })
    while (d.ok) {
      tried.push(d.route)
      d = balancer.failover(d)
    }
    t.same(tried, row.tried, `maxAttempts ${row.maxAttempts}: members tried`)
    t.equal(d.status, 503, `maxAttempts ${row.maxAttempts}: 503`)
    t.equal(d.reason, 'max-attempts', `maxAttempts ${row.maxAttempts}: max-attempts`)
    t.equal(d.attempt, row.attempt, `maxAttempts ${row.maxAttempts}: attempt`)
  }
})

t.test('failover() with a large maxAttempts still never retries a member of the same request', async t => {
  const { balancer } = setup({ routeCookie: 'ROUTEID', maxAttempts: 10 })
  const tried: string[] = []
  let d: Decision = balancer.select({})
  while (d.ok) {
    tried.push(d.route)
    d = balancer.failover(d)
  }
  t.same(tried, ['a', 'b', 'c'])
  t.equal(d.reason, 'no-member')
})

t.test('failover() never goes back to a member this request already tried, even with retry: 0', async t => {
  // With retry 0 a failed member is usable again at once: only the request's own list keeps it out.
  for (const request of [{ cookie: 'ROUTEID=.a' }, {}]) {
    const { balancer } = setup({ routeCookie: 'ROUTEID', retry: 0 })
    const tried: string[] = []
    let d: Decision = balancer.select(request)
    while (d.ok) {
      tried.push(d.route)
      d = balancer.failover(d)
    }
    t.same(tried, ['a', 'b', 'c'], `${JSON.stringify(request)}: each member tried once`)
    t.equal(d.reason, 'max-attempts')
    const next = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }), 'next request')
    t.equal(next.route, 'a', `${JSON.stringify(request)}: retry 0: the next request may use a again`)
  }
})

// ---------------------------------------------------------------------------------------------
// retry window
// ---------------------------------------------------------------------------------------------

t.test('retry: the failed member is skipped until retry seconds pass, then the old route goes back to it', async t => {
  const { balancer, clock } = setup({ routeCookie: 'ROUTEID' })
  const start = clock.now
  const moved = routed(t, balancer.failover(routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))))
  t.equal(moved.route, 'b')
  t.equal(moved.setCookie, COOKIE_B)
  balancer.finished(moved)

  for (const after of [1, 30_000, 59_999]) {
    clock.now = start + after
    const old = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }), `+${after} ms`)
    t.not(old.route, 'a', `+${after} ms: old route re-balanced away from a`)
    t.equal(old.routeChanged, true, `+${after} ms: route changed`)
    t.equal(old.setCookie, old.route === 'b' ? COOKIE_B : COOKIE_C, `+${after} ms: fresh cookie`)
    const fresh = routed(t, balancer.select({}), `+${after} ms new client`)
    t.not(fresh.route, 'a', `+${after} ms: new client not sent to a`)
  }

  clock.now = start + 60_001
  const back = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }), 'after retry')
  t.equal(back.route, 'a', 'old route goes back to a')
  t.equal(back.routeChanged, false)
  t.equal(back.setCookie, undefined, 'no cookie')
  t.equal(balancer.members()[0]?.inError, false)
  t.equal(balancer.members()[0]?.errorSince, undefined)
})

t.test('retry option in seconds: retry: 1', async t => {
  const { balancer, clock } = setup({ routeCookie: 'ROUTEID', retry: 1 })
  const start = clock.now
  balancer.markFailed(routed(t, balancer.select({ cookie: 'ROUTEID=.a' })))
  clock.now = start + 999
  t.not(routed(t, balancer.select({ cookie: 'ROUTEID=.a' })).route, 'a', 'skipped at +999 ms')
  clock.now = start + 1001
  t.equal(routed(t, balancer.select({ cookie: 'ROUTEID=.a' })).route, 'a', 'back at +1001 ms')
})

t.test('a client keeping its new cookie stays on the new member after the old one returns', async t => {
  const { balancer, clock } = setup({ routeCookie: 'ROUTEID' })
  const start = clock.now
  const moved = routed(t, balancer.failover(routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))))
  const cookie = (moved.setCookie ?? '').split(';')[0] as string
  t.equal(cookie, 'ROUTEID=.b')
  for (const after of [10_000, 60_001, 3_600_000]) {
    clock.now = start + after
    const d = routed(t, balancer.select({ cookie }))
    t.equal(d.route, 'b', `+${after} ms: stays on b`)
    t.equal(d.routeChanged, false)
    t.equal(d.setCookie, undefined)
  }
})

t.test('Method 1 while the session\'s member is down: balanced afresh, no cookie; new id sticks; old id returns', async t => {
  const { balancer, clock } = setup({ stickySession: 'JSESSIONID|jsessionid' })
  const start = clock.now
  balancer.markFailed(routed(t, balancer.select({ cookie: 'JSESSIONID=OLD.a' })))
  clock.now = start + 1000
  for (let i = 0; i < 3; i++) {
    const d = routed(t, balancer.select({ cookie: 'JSESSIONID=OLD.a' }))
    t.not(d.route, 'a', `request ${i + 1} balanced away from a`)
    t.equal(d.routeChanged, true)
    t.equal(d.setCookie, undefined)
  }
  const sticky = routed(t, balancer.select({ cookie: 'JSESSIONID=NEW.c' }))
  t.equal(sticky.route, 'c', 'the new session id sticks')
  t.equal(sticky.routeChanged, false)
  clock.now = start + 61_000
  t.equal(routed(t, balancer.select({ cookie: 'JSESSIONID=OLD.a' })).route, 'a', 'old id back to a once it returns')
  t.equal(routed(t, balancer.select({ cookie: 'JSESSIONID=NEW.c' })).route, 'c', 'new id stays on c')
})

// ---------------------------------------------------------------------------------------------
// forcerecovery
// ---------------------------------------------------------------------------------------------

function failAll (t: Test, balancer: Balancer): void {
  for (let i = 0; i < 3; i++) balancer.markFailed(routed(t, balancer.select({}), `fail ${i + 1}`))
  t.same(balancer.members().map(m => m.inError), [true, true, true], 'all members in error')
}

t.test('all members in error: forceRecovery puts them all back, the next select succeeds', async t => {
  const { balancer, clock } = setup({ routeCookie: 'ROUTEID' })
  failAll(t, balancer)
  clock.now += 1
  const d = routed(t, balancer.select({}))
  t.equal(d.routeChanged, true)
  t.same(balancer.members().map(m => m.inError), [false, false, false], 'all put back at once')
  const sticky = routed(t, balancer.select({ cookie: 'ROUTEID=.c' }))
  t.equal(sticky.route, 'c', 'a route to any member is honoured again')
})

t.test('all members in error with forceRecovery: false: 503 no-member until retry passes', async t => {
  const { balancer, clock } = setup({ routeCookie: 'ROUTEID', forceRecovery: false })
  const start = clock.now
  failAll(t, balancer)
  clock.now = start + 1
  const d = balancer.select({})
  t.same(d, { ok: false, status: 503, reason: 'no-member', clientRoute: undefined, attempt: 1 })
  t.notOk('setCookie' in d, 'no cookie on the balancer\'s 503')
  const s = balancer.select({ cookie: 'ROUTEID=.b' })
  t.same(s, { ok: false, status: 503, reason: 'no-member', clientRoute: 'b', attempt: 1 })
  clock.now = start + 60_001
  t.equal(routed(t, balancer.select({ cookie: 'ROUTEID=.b' })).route, 'b', 'members back after retry')
})

t.test('all members down: every attempt fails, the balancer answers 503 without a cookie', async t => {
  const { balancer } = setup({ routeCookie: 'ROUTEID' })
  let d: Decision = balancer.select({ cookie: 'ROUTEID=.b' })
  let n = 0
  while (d.ok) {
    n++
    d = balancer.failover(d)
  }
  t.equal(n, 3, 'three members tried')
  t.equal(d.status, 503)
  t.notOk('setCookie' in d)
})

// ---------------------------------------------------------------------------------------------
// noFailover
// ---------------------------------------------------------------------------------------------

t.test('noFailover: a route naming a down member gets 503 nofailover every time; others are balanced', async t => {
  const { balancer, clock } = setup({ routeCookie: 'ROUTEID', noFailover: true })
  const start = clock.now
  balancer.markFailed(routed(t, balancer.select({ cookie: 'ROUTEID=.a' })))
  for (const after of [0, 1000, 59_000]) {
    clock.now = start + after
    const d = balancer.select({ cookie: 'ROUTEID=.a' })
    t.same(d, { ok: false, status: 503, reason: 'nofailover', clientRoute: 'a', attempt: 1 }, `+${after} ms`)
    t.notOk('setCookie' in d, `+${after} ms: no cookie`)
    const viaUrl = balancer.select({ url: '/p?ROUTEID=x.a' })
    t.equal(viaUrl.ok ? 'ok' : viaUrl.reason, 'nofailover', `+${after} ms: URL route to a too`)
    const fresh = routed(t, balancer.select({}), 'no route')
    t.not(fresh.route, 'a', `+${after} ms: no route is balanced to a live member`)
    t.equal(fresh.setCookie, fresh.route === 'b' ? COOKIE_B : COOKIE_C)
    const unknown = routed(t, balancer.select({ cookie: 'ROUTEID=.zzz' }), 'unknown route')
    t.not(unknown.route, 'a', `+${after} ms: unknown route is balanced to a live member`)
    t.equal(unknown.routeChanged, true)
    const noSep = routed(t, balancer.select({ cookie: 'ROUTEID=a' }), 'no separator')
    t.not(noSep.route, 'a', `+${after} ms: value without route is balanced`)
    const live = routed(t, balancer.select({ cookie: 'ROUTEID=.c' }), 'live route')
    t.equal(live.route, 'c', `+${after} ms: route to a live member honoured`)
    t.equal(live.setCookie, undefined)
  }
  clock.now = start + 60_001
  const back = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }), 'after retry')
  t.equal(back.route, 'a')
  t.equal(back.routeChanged, false)
})

t.test('noFailover: failover() of a sticky request answers 503 nofailover', async t => {
  const { balancer } = setup({ routeCookie: 'ROUTEID', noFailover: true })
  const d = balancer.failover(routed(t, balancer.select({ cookie: 'ROUTEID=.b' })))
  t.equal(d.ok, false)
  if (!d.ok) {
    t.equal(d.reason, 'nofailover')
    t.equal(d.status, 503)
    t.equal(d.attempt, 2)
  }
  t.equal(balancer.members()[1]?.inError, true)
})

t.test('noFailover: a new client is still failed over', async t => {
  const { balancer } = setup({ routeCookie: 'ROUTEID', noFailover: true })
  const d = routed(t, balancer.failover(routed(t, balancer.select({}))))
  t.equal(d.route, 'b')
  t.equal(d.setCookie, COOKIE_B)
})

// ---------------------------------------------------------------------------------------------
// Counters and finished()
// ---------------------------------------------------------------------------------------------

t.test('members(): configured order, state and counters', async t => {
  const { balancer } = setup()
  t.same(balancer.members(), [
    { url: A, route: 'a', index: 0, ...IDLE_STATUS },
    { url: B, route: 'b', index: 1, ...IDLE_STATUS },
    { url: C, route: 'c', index: 2, ...IDLE_STATUS }
  ])
})

t.test('counters: elected, busy, failures; finished() releases busy once', async t => {
  const { balancer, clock } = setup({ routeCookie: 'ROUTEID' })
  const counters = () => balancer.members().map(m => [m.elected, m.busy, m.failures])
  const s1 = balancer.select({ cookie: 'ROUTEID=.a' })
  const s2 = balancer.select({ cookie: 'ROUTEID=.a' })
  t.same(counters(), [[2, 2, 0], [0, 0, 0], [0, 0, 0]], 'two sticky requests in flight on a')
  balancer.finished(s1)
  t.same(counters(), [[2, 1, 0], [0, 0, 0], [0, 0, 0]], 'one finished')
  balancer.finished(s1)
  t.same(counters(), [[2, 1, 0], [0, 0, 0], [0, 0, 0]], 'finished twice: released once')
  balancer.finished(s2)
  t.same(counters(), [[2, 0, 0], [0, 0, 0], [0, 0, 0]])

  const n = routed(t, balancer.select({}))
  t.equal(n.route, 'b', 'byrequests after two sticky hits on a: b')
  t.same(counters(), [[2, 0, 0], [1, 1, 0], [0, 0, 0]])
  const f = routed(t, balancer.failover(n))
  t.equal(f.route, 'c')
  t.same(counters(), [[2, 0, 0], [1, 0, 1], [1, 1, 0]], 'failover: b released with one failure; c elected and busy')
  t.equal(balancer.members()[1]?.errorSince, clock.now)
  balancer.finished(n)
  t.same(counters(), [[2, 0, 0], [1, 0, 1], [1, 1, 0]], 'finished() on the failed decision does not release again')
  balancer.finished(f)
  balancer.finished(f)
  t.same(counters(), [[2, 0, 0], [1, 0, 1], [1, 0, 0]], 'finished twice on the failover decision: released once')
})

t.test('markFailed(): in error, busy released, failure counted; finished() afterwards is a no-op', async t => {
  const { balancer, clock } = setup()
  const d = routed(t, balancer.select({}))
  balancer.markFailed(d)
  const a = balancer.members()[0]
  t.same([a?.inError, a?.errorSince, a?.elected, a?.busy, a?.failures], [true, clock.now, 1, 0, 1])
  balancer.finished(d)
  t.equal(balancer.members()[0]?.busy, 0)
})

t.test('finished() on a 503 decision is a no-op', async t => {
  const { balancer } = setup({ forceRecovery: false })
  failAll(t, balancer)
  const d = balancer.select({})
  t.equal(d.ok, false)
  t.doesNotThrow(() => balancer.finished(d))
  t.same(balancer.members().map(m => m.busy), [0, 0, 0])
})

// ---------------------------------------------------------------------------------------------
// Misuse
// ---------------------------------------------------------------------------------------------

t.test('failover() rejects a decision object it did not create', async t => {
  const { balancer } = setup({ routeCookie: 'ROUTEID' })
  const d = routed(t, balancer.select({}))
  t.throws(() => balancer.failover({ ...d }), TypeError, 'a copy of a decision')
  const forged: Routed = { ok: true, member: d.member, route: 'a', routeChanged: false, setCookie: undefined, clientRoute: undefined, routeSource: undefined, attempt: 1 }
  t.throws(() => balancer.failover(forged), TypeError, 'a hand-made decision')
  t.throws(() => balancer.markFailed(forged), TypeError, 'markFailed too')
  t.same(balancer.members().map(m => [m.inError, m.failures]), [[false, 0], [false, 0], [false, 0]], 'nothing marked')
})

t.test('failover() rejects a decision created by another balancer', async t => {
  const { balancer } = setup({ routeCookie: 'ROUTEID' })
  const other = setup({ routeCookie: 'ROUTEID' }).balancer
  const foreign = routed(t, other.select({}))
  t.throws(() => balancer.failover(foreign), TypeError, 'a decision of another balancer')
  t.same(other.members().map(m => m.inError), [false, false, false], 'the other balancer\'s member is not marked')
})

t.test('a Balancer accepts already-resolved options', async t => {
  const resolved = resolveOptions({ members: MEMBERS, routeCookie: 'ROUTEID', now: () => 0 })
  const balancer = new BalancerClass(resolved)
  t.equal(balancer.options, resolved)
  t.equal(routed(t, balancer.select({})).setCookie, COOKIE_A)
})
