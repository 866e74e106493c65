/**
 * Member states (spec "Member states", "Failures"): what each flag does to new clients and to
 * the clients whose route names the member, hot standbys, members sharing a route, lbSet tiers,
 * how a member goes in error and how it comes back, ignoreErrors, failOnStatus through
 * finished(), upstreamError(), timeoutOf() and the Apache status letters. Injected clock.
 */
import t from 'tap'
import {
  createBalancer,
  parseStatusLetters,
  statusLetters,
  type Balancer,
  type Decision,
  type HealthProbe,
  type MemberOptions,
  type Routed,
  type StickyOptions
} from '@stickyroute/core'
import { MemberState } from '../src/members.js'
import { resolveOptions, type ResolvedMember } from '../src/options.js'
import { A, B, C, D, newClients, routed } from './fixtures.js'

const URLS = [A, B, C, D]
const ROUTES = ['a', 'b', 'c', 'd']

const cookieOf = (route: string): string => `ROUTEID=.${route}; Path=/; HttpOnly; SameSite=Lax`

interface Harness {
  balancer: Balancer
  clock: { now: number }
}

/** Members a, b, c (and d) at A, B, C (D); `extra[i]` is merged into member i. */
function members (extra: ReadonlyArray<Partial<MemberOptions>>, n = 3): MemberOptions[] {
  return URLS.slice(0, n).map((url, i) => ({ url, route: ROUTES[i] as string, ...extra[i] }))
}

function setup (memberList: MemberOptions[], options: Partial<StickyOptions> = {}): Harness {
  const clock = { now: 1_000_000 }
  const balancer = createBalancer({ members: memberList, routeCookie: 'ROUTEID', now: () => clock.now, ...options })
  return { balancer, clock }
}

/** `'a'`, `'a Set-Cookie'` (route changed, cookie written) or `'503 reason'`. */
function outcome (d: Decision): string {
  if (!d.ok) return `503 ${d.reason}`
  return d.setCookie === undefined ? d.route : `${d.route} Set-Cookie`
}

function flagsOf (balancer: Balancer, index: number): string {
  return balancer.members()[index]?.status ?? 'missing'
}

/** Health-check b once with a probe that fails it: b gets healthCheckFailed (no real timers). */
async function failHealthCheckOfB (balancer: Balancer): Promise<void> {
  const queue: Array<() => void> = []
  const probe: HealthProbe = async target => target.url === B ? { error: 'ECONNREFUSED' } : { connected: true }
  // Only the first check (0 ms) runs: later ones are never due.
  balancer.startHealthChecks({ probe, timers: { setTimeout: (cb, ms) => { if (ms === 0) queue.push(cb); return cb }, clearTimeout: () => {} } })
  for (const cb of queue.splice(0)) cb()
  await new Promise(resolve => setImmediate(resolve))
}

// ---------------------------------------------------------------------------------------------
// One flag on member b: new clients, its sticky clients, and with noFailover
// ---------------------------------------------------------------------------------------------

type Apply = (h: Harness) => void | Promise<void>

interface FlagRow {
  flag: string
  /** Apache status letters shown for b. */
  status: string
  /** Ways to put b in that state: member options, or a call on the balancer. */
  config?: Partial<MemberOptions>
  apply?: Apply
  healthCheck?: boolean
  /** Six new clients. */
  newClients: string[]
  /** A client whose route names b (fresh balancer). */
  sticky: string
  /** The same with noFailover. */
  noFailover: string
}

const flagRows: FlagRow[] = [
  { flag: 'none', status: 'Ok', config: {}, newClients: ['a', 'b', 'c', 'a', 'b', 'c'], sticky: 'b', noFailover: 'b' },
  { flag: 'disabled (D)', status: 'D', config: { disabled: true }, apply: h => { h.balancer.set(B, { disabled: true }) }, newClients: ['a', 'c', 'a', 'c', 'a', 'c'], sticky: 'a Set-Cookie', noFailover: '503 nofailover' },
  { flag: 'draining (N)', status: 'N', config: { draining: true }, apply: h => { h.balancer.set(B, { draining: true }) }, newClients: ['a', 'c', 'a', 'c', 'a', 'c'], sticky: 'b', noFailover: 'b' },
  { flag: 'hotStandby (H)', status: 'H', config: { hotStandby: true }, apply: h => { h.balancer.set(B, { hotStandby: true }) }, newClients: ['a', 'c', 'a', 'c', 'a', 'c'], sticky: 'b', noFailover: 'b' },
  { flag: 'stopped (S)', status: 'S', config: { stopped: true }, apply: h => { h.balancer.set(B, { stopped: true }) }, newClients: ['a', 'c', 'a', 'c', 'a', 'c'], sticky: 'a Set-Cookie', noFailover: '503 nofailover' },
  { flag: 'inError (E), set by the operator', status: 'E', apply: h => { h.balancer.set(B, { inError: true }) }, newClients: ['a', 'c', 'a', 'c', 'a', 'c'], sticky: 'a Set-Cookie', noFailover: '503 nofailover' },
  {
    flag: 'inError (E), after a connect failure',
    status: 'E',
    apply: h => {
      // A sticky request to b that could not connect (its sticky hit leaves a and c tied: a first).
      h.balancer.markFailed(routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' })))
    },
    newClients: ['a', 'c', 'a', 'c', 'a', 'c'],
    sticky: 'a Set-Cookie',
    noFailover: '503 nofailover'
  },
  { flag: 'healthCheckFailed (C)', status: 'C', healthCheck: true, apply: async h => { await failHealthCheckOfB(h.balancer) }, newClients: ['a', 'c', 'a', 'c', 'a', 'c'], sticky: 'a Set-Cookie', noFailover: '503 nofailover' },
  { flag: 'ignoreErrors (I)', status: 'I', config: { ignoreErrors: true }, apply: h => { h.balancer.set(B, { ignoreErrors: true }) }, newClients: ['a', 'b', 'c', 'a', 'b', 'c'], sticky: 'b', noFailover: 'b' }
]

for (const row of flagRows) {
  const ways: Array<[string, Partial<MemberOptions>, Apply | undefined]> = []
  if (row.config !== undefined) ways.push(['in the member options', row.config, undefined])
  if (row.apply !== undefined) ways.push([row.config === undefined ? 'at runtime' : 'set() at runtime', {}, row.apply])
  for (const [how, config, apply] of ways) {
    t.test(`flag ${row.flag} ${how}: new clients, sticky clients, noFailover`, async t => {
      const build = async (options: Partial<StickyOptions> = {}): Promise<Harness> => {
        const h = setup(members([{}, config]), { ...(row.healthCheck === true ? { healthCheck: { method: 'TCP' } } : {}), ...options })
        await apply?.(h)
        return h
      }
      const fresh = await build()
      t.equal(flagsOf(fresh.balancer, 1), row.status, 'status letters of b')
      t.same(newClients(fresh.balancer, 6), row.newClients, 'six new clients')

      const sticky = await build()
      const d = sticky.balancer.select({ cookie: 'ROUTEID=.b' })
      t.equal(outcome(d), row.sticky, 'a client whose route names b')
      if (d.ok && d.route !== 'b') {
        t.equal(d.setCookie, cookieOf(d.route), 'the cookie names the new member')
        t.equal(d.routeChanged, true)
        t.equal(d.clientRoute, 'b', 'the route the client sent')
      }
      const strict = await build({ noFailover: true })
      const n = strict.balancer.select({ cookie: 'ROUTEID=.b' })
      t.equal(outcome(n), row.noFailover, 'with noFailover')
      if (!n.ok) t.same(n, { ok: false, status: 503, reason: 'nofailover', clientRoute: 'b', attempt: 1 }, 'the balancer\'s own 503')
      t.equal(outcome(strict.balancer.select({})), 'a Set-Cookie', 'with noFailover a new client is still balanced')
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Draining and hot standby
// ---------------------------------------------------------------------------------------------

t.test('draining: its sticky clients stay, again and again, while new clients never come', async t => {
  const { balancer } = setup(members([{}, { draining: true }]))
  for (let i = 0; i < 4; i++) {
    const d = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
    t.same([d.route, d.routeChanged, d.setCookie], ['b', false, undefined], `sticky request ${i + 1}`)
    t.not(routed(t, balancer.select({})).route, 'b', `new client ${i + 1}`)
  }
})

t.test('hot standby: takes new clients and failed-over ones only when no normal member of its tier is usable', async t => {
  const { balancer, clock } = setup(members([{}, { hotStandby: true }, {}]), { retry: 10 })
  t.same(newClients(balancer, 4), ['a', 'c', 'a', 'c'], 'normal members usable: the standby waits')
  const sticky = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
  t.same([sticky.route, sticky.setCookie], ['b', undefined], 'a client whose route names the standby is served by it')
  balancer.finished(sticky)

  balancer.markFailed(routed(t, balancer.select({ cookie: 'ROUTEID=.a' })))
  t.same(newClients(balancer, 2), ['c', 'c'], 'one normal member left: still not the standby')
  const fromC = routed(t, balancer.select({ cookie: 'ROUTEID=.c' }))
  const over = routed(t, balancer.failover(fromC), 'c fails')
  t.same([over.route, over.setCookie], ['b', cookieOf('b')], 'c down too: failed over to the standby, with its cookie')
  t.same(newClients(balancer, 3), ['b', 'b', 'b'], 'no normal member usable: new clients go to the standby')
  const fromA = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))
  t.same([fromA.route, fromA.setCookie], ['b', cookieOf('b')], 'a client of a down member goes to the standby')

  clock.now += 10_001
  t.same(newClients(balancer, 4).sort(), ['a', 'a', 'c', 'c'], 'normal members back after retry: the standby waits again')
})

t.test('a draining hot standby is not used, not even when every normal member is down', async t => {
  const { balancer } = setup(members([{}, { hotStandby: true, draining: true }]), { forceRecovery: false })
  balancer.set(A, { inError: true })
  balancer.set(C, { inError: true })
  t.equal(outcome(balancer.select({})), '503 no-member', 'new client')
  t.equal(outcome(balancer.select({ cookie: 'ROUTEID=.a' })), '503 no-member', 'client of a down member')
  t.equal(outcome(balancer.select({ cookie: 'ROUTEID=.b' })), 'b', 'but its own sticky clients stay')
})

t.test('the only normal member draining: new clients go to the tier\'s hot standby (Apache skips draining members)', async t => {
  // ap_proxy_balancer_get_best_worker leaves draining members out of the normal pass, so the
  // standby pass finds the standby even though the draining member is still usable.
  const { balancer } = setup(members([{ draining: true }, { hotStandby: true }], 2))
  t.same(newClients(balancer, 3), ['b', 'b', 'b'])
  t.equal(outcome(balancer.select({ cookie: 'ROUTEID=.a' })), 'a', 'the draining member keeps its clients')
})

t.test('members sharing a route: the first usable in config order, hot standbys last', async t => {
  const { balancer } = setup([
    { url: A, route: 'x', hotStandby: true },
    { url: B, route: 'x' },
    { url: C, route: 'x' },
    { url: D, route: 'y' }
  ])
  const order: string[] = []
  for (let i = 0; i < 4; i++) {
    const d = balancer.select({ cookie: 'ROUTEID=.x' })
    order.push(d.ok ? `${d.member.url} ${String(d.routeChanged)}` : `503 ${d.reason}`)
    if (d.ok) balancer.markFailed(d)
  }
  t.same(order, [`${B} false`, `${C} false`, `${A} false`, `${D} true`],
    'B (first normal), then C, then the standby A, all with route x unchanged; then re-balanced to y')
})

t.test('members sharing a route: failing over inside the request stays on the route, without a cookie', async t => {
  const { balancer } = setup([{ url: A, route: 'x' }, { url: B, route: 'x' }, { url: C, route: 'y' }])
  const first = routed(t, balancer.select({ cookie: 'ROUTEID=.x' }))
  const second = routed(t, balancer.failover(first))
  t.same([second.member.url, second.routeChanged, second.setCookie, second.attempt], [B, false, undefined, 2])
  const third = routed(t, balancer.failover(second))
  t.same([third.member.url, third.routeChanged, third.setCookie], [C, true, cookieOf('y')])
})

// ---------------------------------------------------------------------------------------------
// lbSet tiers
// ---------------------------------------------------------------------------------------------

const TIERS: MemberOptions[] = [
  { url: A, route: 'a', lbSet: 0 },
  { url: B, route: 'b', lbSet: 0, hotStandby: true },
  { url: C, route: 'c', lbSet: 1 },
  { url: D, route: 'd', lbSet: 1 }
]

interface TierRow {
  name: string
  down: string[]
  newClients: string[]
}

const tierRows: TierRow[] = [
  { name: 'all usable: lbSet 0 normal members only', down: [], newClients: ['a', 'a', 'a'] },
  { name: 'a down: the lbSet 0 standby comes before lbSet 1 normal members', down: [A], newClients: ['b', 'b', 'b'] },
  { name: 'tier 0 down: lbSet 1, balanced', down: [A, B], newClients: ['c', 'd', 'c', 'd'] },
  { name: 'tier 0 and c down: d', down: [A, B, C], newClients: ['d', 'd'] },
  { name: 'only the tier 0 standby down: a', down: [B], newClients: ['a', 'a'] }
]

t.test('lbSet: new clients go to the lowest tier with a member that takes them; per tier normal before standby', async t => {
  for (const row of tierRows) {
    const { balancer } = setup(TIERS, { forceRecovery: false })
    for (const url of row.down) balancer.set(url, { inError: true })
    t.same(newClients(balancer, row.newClients.length), row.newClients, row.name)
  }
})

t.test('lbSet: a draining or disabled lower tier sends new clients up', async t => {
  for (const flags of [{ draining: true }, { disabled: true }, { stopped: true }]) {
    const { balancer } = setup(TIERS)
    balancer.set(A, flags)
    balancer.set(B, flags)
    t.same(newClients(balancer, 2), ['c', 'd'], JSON.stringify(flags))
  }
})

t.test('lbSet: a route to a higher-tier member is honoured', async t => {
  const { balancer } = setup(TIERS)
  for (const route of ['c', 'd', 'b']) {
    const d = routed(t, balancer.select({ cookie: `ROUTEID=.${route}` }))
    t.same([d.route, d.routeChanged, d.setCookie], [route, false, undefined], `route ${route}`)
  }
})

t.test('lbSet: failover moves up the tiers (a, its standby b, then lbSet 1), then max-attempts', async t => {
  const { balancer } = setup(TIERS)
  const tried: string[] = []
  let d: Decision = balancer.select({ cookie: 'ROUTEID=.a' })
  while (d.ok) {
    tried.push(`${d.route}#${d.attempt}${d.setCookie === undefined ? '' : ' Set-Cookie'}`)
    d = balancer.failover(d)
  }
  t.same(tried, ['a#1', 'b#2 Set-Cookie', 'c#3 Set-Cookie', 'd#4 Set-Cookie'])
  t.same(d, { ok: false, status: 503, reason: 'max-attempts', clientRoute: 'a', attempt: 5 }, 'maxAttempts: members - 1 = 3')
})

t.test('lbSet: a tier comes back as soon as one of its members is usable again', async t => {
  const { balancer, clock } = setup(TIERS, { retry: 5 })
  balancer.set(A, { inError: true })
  clock.now += 1000
  balancer.set(B, { inError: true })
  t.same(newClients(balancer, 2), ['c', 'd'])
  clock.now += 4001
  t.same(newClients(balancer, 2), ['a', 'a'], 'a is back after retry (b still in error)')
})

// ---------------------------------------------------------------------------------------------
// Going in error
// ---------------------------------------------------------------------------------------------

interface ErrorRow {
  name: string
  options?: Partial<StickyOptions>
  fail: (balancer: Balancer, d: Routed) => unknown
  inError: boolean
  failures: number
  requests: number
  result?: unknown
}

const connectError = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8082'), { code: 'ECONNREFUSED' })
const timeoutError = Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' })
const resetError = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })

const errorRows: ErrorRow[] = [
  { name: 'failover()', fail: (b, d) => outcome(b.failover(d)), inError: true, failures: 1, requests: 0, result: 'a Set-Cookie' },
  { name: 'markFailed()', fail: (b, d) => { b.markFailed(d) }, inError: true, failures: 1, requests: 0 },
  { name: 'upstreamError(connect failure, canRetry)', fail: (b, d) => { const r = b.upstreamError(d, connectError, { canRetry: true }); return r.action === 'retry' ? `retry ${outcome(r.decision)}` : r.action }, inError: true, failures: 1, requests: 0, result: 'retry a Set-Cookie' },
  { name: 'upstreamError(connect failure, body already sent)', fail: (b, d) => { const r = b.upstreamError(d, connectError, { canRetry: false }); return r.action === 'respond' ? [r.response.status, r.close] : r.action }, inError: true, failures: 1, requests: 0, result: [502, true] },
  { name: 'finished() with a status in failOnStatus', options: { failOnStatus: [500, 503] }, fail: (b, d) => { b.finished(d, { status: 503 }) }, inError: true, failures: 1, requests: 1 },
  { name: 'finished() with a status not in failOnStatus', options: { failOnStatus: [500, 503] }, fail: (b, d) => { b.finished(d, { status: 502 }) }, inError: false, failures: 0, requests: 1 },
  { name: 'finished() with a 500 and no failOnStatus', fail: (b, d) => { b.finished(d, { status: 500 }) }, inError: false, failures: 0, requests: 1 },
  { name: 'upstreamError(timeout) with failOnTimeout', options: { failOnTimeout: true }, fail: (b, d) => { const r = b.upstreamError(d, timeoutError, { canRetry: true }); return r.action === 'respond' ? [r.response.status, r.close] : r.action }, inError: true, failures: 1, requests: 0, result: [504, false] },
  { name: 'upstreamError(timeout) without failOnTimeout', fail: (b, d) => { const r = b.upstreamError(d, timeoutError, { canRetry: true }); return r.action === 'respond' ? [r.response.status, r.close] : r.action }, inError: false, failures: 1, requests: 0, result: [504, false] },
  { name: 'upstreamError(reset mid-request)', options: { failOnTimeout: true }, fail: (b, d) => { const r = b.upstreamError(d, resetError, { canRetry: true }); return r.action === 'respond' ? [r.response.status, r.close] : r.action }, inError: false, failures: 1, requests: 0, result: [502, false] }
]

t.test('what puts a member in error (and what only counts a failure)', async t => {
  for (const row of errorRows) {
    for (const ignoreErrors of [false, true]) {
      const name = `${row.name}${ignoreErrors ? ', ignoreErrors' : ''}`
      const { balancer, clock } = setup(members([{}, { ignoreErrors }]), row.options)
      const d = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }), name)
      const result = row.fail(balancer, d)
      if (row.result !== undefined) t.same(result, row.result, `${name}: result (the request still fails over)`)
      const b = balancer.members()[1]
      t.equal(b?.inError, row.inError && !ignoreErrors, `${name}: in error`)
      t.equal(b?.errorSince, row.inError && !ignoreErrors ? clock.now : undefined, `${name}: errorSince`)
      t.equal(b?.failures, row.failures, `${name}: failures counted`)
      t.equal(b?.requests, row.requests, `${name}: requests counted`)
      t.equal(b?.busy, 0, `${name}: busy released`)
      balancer.finished(d, { status: 200 })
      t.equal(balancer.members()[1]?.requests, row.requests, `${name}: a later finished() counts nothing`)
    }
  }
})

t.test('upstreamError(connect failure) with no member left: 503 with the unavailable decision', async t => {
  const { balancer } = setup(members([], 1))
  const d = routed(t, balancer.select({}))
  const r = balancer.upstreamError(d, connectError, { canRetry: true })
  t.equal(r.action, 'respond')
  if (r.action !== 'respond') return
  t.same([r.response.status, r.close], [503, false])
  t.same(r.decision, { ok: false, status: 503, reason: 'max-attempts', clientRoute: undefined, attempt: 2 })
})

t.test('a connect failure in a cause chain counts (undici wraps it)', async t => {
  const { balancer } = setup(members([]))
  const d = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
  const r = balancer.upstreamError(d, new Error('fetch failed', { cause: connectError }), { canRetry: true })
  t.equal(r.action, 'retry')
  t.equal(balancer.member('b').inError, true)
})

t.test('a failure while in error restarts the retry window (Apache sets error_time on every failure)', async t => {
  const { balancer, clock } = setup(members([]), { retry: 10 })
  const start = clock.now
  const d1 = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
  const d2 = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
  balancer.markFailed(d1)
  clock.now = start + 5000
  balancer.markFailed(d2)
  t.equal(balancer.member('b').errorSince, start + 5000)
  clock.now = start + 10_001
  t.equal(outcome(balancer.select({ cookie: 'ROUTEID=.b' })), 'a Set-Cookie', 'still in error 10 s after the first failure')
  clock.now = start + 15_001
  t.equal(outcome(balancer.select({ cookie: 'ROUTEID=.b' })), 'b', 'back 10 s after the last')
})

// ---------------------------------------------------------------------------------------------
// Coming back
// ---------------------------------------------------------------------------------------------

t.test('retry: cleared strictly after retry seconds (> not >=)', async t => {
  const { balancer, clock } = setup(members([]), { retry: 5 })
  const start = clock.now
  balancer.set(B, { inError: true })
  for (const [after, expected] of [[0, 'elsewhere'], [4999, 'elsewhere'], [5000, 'elsewhere'], [5001, 'b']] as const) {
    clock.now = start + after
    const d = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
    t.equal(d.route === 'b' ? 'b' : 'elsewhere', expected, `+${after} ms`)
  }
  t.equal(balancer.member('b').inError, false)
})

t.test('retry: members() shows a member back once retry passed, without a request', async t => {
  const { balancer, clock } = setup(members([]), { retry: 1 })
  balancer.set(B, { inError: true })
  t.equal(balancer.member('b').status, 'E')
  clock.now += 1001
  t.equal(balancer.member('b').status, 'Ok')
  t.equal(balancer.members()[1]?.inError, false)
})

t.test('forceRecovery: only when every member is in error', async t => {
  interface Row { name: string, flags: Array<Partial<MemberOptions>>, inError: string[], expected: string }
  const rows: Row[] = [
    { name: 'all three in error: all put back', flags: [], inError: [A, B, C], expected: 'a Set-Cookie' },
    { name: 'a disabled member not in error blocks it (as Apache)', flags: [{ disabled: true }], inError: [B, C], expected: '503 no-member' },
    { name: 'a stopped member not in error blocks it', flags: [{ stopped: true }], inError: [B, C], expected: '503 no-member' },
    { name: 'a draining member not in error: not needed, it keeps nothing but its clients', flags: [{ draining: true }], inError: [B, C], expected: '503 no-member' },
    { name: 'a disabled member that is in error too: all put back, the disabled one stays disabled', flags: [{ disabled: true }], inError: [A, B, C], expected: 'b Set-Cookie' }
  ]
  for (const row of rows) {
    const { balancer } = setup(members(row.flags))
    for (const url of row.inError) balancer.set(url, { inError: true })
    t.equal(outcome(balancer.select({})), row.expected, row.name)
    if (row.expected !== '503 no-member') t.same(balancer.members().map(m => m.inError), [false, false, false], `${row.name}: errors cleared`)
  }
})

t.test('forceRecovery happens on a request, not on members()', async t => {
  const { balancer } = setup(members([]))
  for (const url of [A, B, C]) balancer.set(url, { inError: true })
  t.same(balancer.members().map(m => m.inError), [true, true, true])
  t.equal(outcome(balancer.select({ cookie: 'ROUTEID=.c' })), 'c', 'the route is honoured at once')
})

t.test('set({ inError: false }) takes a member out of error at once', async t => {
  const { balancer } = setup(members([]), { retry: 3600 })
  balancer.markFailed(routed(t, balancer.select({ cookie: 'ROUTEID=.b' })))
  t.equal(outcome(balancer.select({ cookie: 'ROUTEID=.b' })), 'a Set-Cookie')
  balancer.set('b', { inError: false })
  t.equal(outcome(balancer.select({ cookie: 'ROUTEID=.b' })), 'b')
  t.equal(balancer.member('b').errorSince, undefined)
  t.equal(balancer.member('b').failures, 1, 'the failure stays counted')
})

t.test('ignoreErrors: failures never put it in error, the operator still can', async t => {
  const { balancer } = setup(members([{}, { ignoreErrors: true }]), { failOnStatus: [500], failOnTimeout: true })
  for (let i = 0; i < 3; i++) {
    const d = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
    t.equal(d.route, 'b', `request ${i + 1} still goes to b`)
    const next = routed(t, balancer.failover(d))
    t.not(next.route, 'b', `request ${i + 1} fails over`)
    t.equal(next.setCookie, cookieOf(next.route))
    balancer.finished(next)
  }
  balancer.finished(routed(t, balancer.select({ cookie: 'ROUTEID=.b' })), { status: 500 })
  balancer.upstreamError(routed(t, balancer.select({ cookie: 'ROUTEID=.b' })), timeoutError, { canRetry: false })
  t.same([balancer.member('b').inError, balancer.member('b').failures, balancer.member('b').requests], [false, 5, 1])
  balancer.set('b', { inError: true })
  t.equal(balancer.member('b').status, 'IE', 'set() by the operator is not a failure')
})

// ---------------------------------------------------------------------------------------------
// finished() and failOnStatus
// ---------------------------------------------------------------------------------------------

t.test('finished(): counts requests and bytes once; ignores a 503 decision and empty outcomes', async t => {
  const { balancer } = setup(members([]), { failOnStatus: [503] })
  const d = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))
  t.equal(balancer.member('a').busy, 1)
  balancer.finished(d, { status: 200, bytesSent: 10, bytesReceived: 300 })
  balancer.finished(d, { status: 503, bytesSent: 10, bytesReceived: 300 })
  t.same(pickCounters(balancer, 'a'), { busy: 0, requests: 1, failures: 0, bytesSent: 10, bytesReceived: 300, inError: false }, 'the second call counts nothing')

  const e = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))
  balancer.finished(e)
  t.same(pickCounters(balancer, 'a'), { busy: 0, requests: 1, failures: 0, bytesSent: 10, bytesReceived: 300, inError: false }, 'no outcome: only released')

  const f = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))
  balancer.finished(f, { bytesSent: 0, bytesReceived: -5 })
  t.same(pickCounters(balancer, 'a'), { busy: 0, requests: 1, failures: 0, bytesSent: 10, bytesReceived: 300, inError: false }, 'no status: not an answer; 0 and negative bytes ignored')

  const g = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))
  balancer.finished(g, { status: 503, bytesReceived: 20 })
  t.same(pickCounters(balancer, 'a'), { busy: 0, requests: 2, failures: 1, bytesSent: 10, bytesReceived: 320, inError: true }, 'failOnStatus: answered, failed, in error')

  for (const d of [balancer.select({ cookie: 'ROUTEID=.a', url: '/' }), { ok: false, status: 503, reason: 'no-member', clientRoute: undefined, attempt: 1 } as const]) {
    if (d.ok) balancer.finished(d)
    else t.doesNotThrow(() => { balancer.finished(d, { status: 503 }) }, 'an Unavailable decision is a no-op')
  }
})

function pickCounters (balancer: Balancer, selector: string): Record<string, unknown> {
  const m = balancer.member(selector)
  return { busy: m.busy, requests: m.requests, failures: m.failures, bytesSent: m.bytesSent, bytesReceived: m.bytesReceived, inError: m.inError }
}

t.test('finished() and timeoutOf() reject a decision of another balancer', async t => {
  const one = setup(members([])).balancer
  const two = setup(members([])).balancer
  const d = routed(t, one.select({}))
  t.throws(() => { two.finished(d) }, TypeError)
  t.throws(() => two.timeoutOf(d), TypeError)
  t.throws(() => two.upstreamError(d, connectError, { canRetry: true }), TypeError)
})

// ---------------------------------------------------------------------------------------------
// timeoutOf()
// ---------------------------------------------------------------------------------------------

t.test('timeoutOf(): the member\'s timeout, else the balancer\'s, else undefined', async t => {
  const rows: Array<{ name: string, balancer: number | undefined, member: number | undefined, expected: number | undefined }> = [
    { name: 'neither', balancer: undefined, member: undefined, expected: undefined },
    { name: 'balancer only', balancer: 10, member: undefined, expected: 10_000 },
    { name: 'member only', balancer: undefined, member: 2.5, expected: 2500 },
    { name: 'member overrides (shorter)', balancer: 10, member: 2, expected: 2000 },
    { name: 'member overrides (longer)', balancer: 10, member: 120, expected: 120_000 }
  ]
  for (const row of rows) {
    const { balancer } = setup(members([{}, row.member === undefined ? {} : { timeout: row.member }]), row.balancer === undefined ? {} : { timeout: row.balancer })
    t.equal(balancer.timeoutOf(routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))), row.expected, `${row.name}: member b`)
    t.equal(balancer.timeoutOf(routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))), row.balancer === undefined ? undefined : row.balancer * 1000, `${row.name}: member a has none of its own`)
  }
})

// ---------------------------------------------------------------------------------------------
// Status letters
// ---------------------------------------------------------------------------------------------

t.test('parseStatusLetters: Apache status=+X syntax', async t => {
  const rows: Array<[string, unknown]> = [
    ['+H', { hotStandby: true }],
    ['H', { hotStandby: true }],
    ['+N+D', { draining: true, disabled: true }],
    ['ND', { draining: true, disabled: true }],
    ['-S', { stopped: false }],
    ['+D-N', { disabled: true, draining: false }],
    ['+D-D', { disabled: false }],
    ['+I', { ignoreErrors: true }],
    ['', undefined],
    ['+E', undefined],
    ['+C', undefined],
    ['h', undefined],
    ['+H ', undefined],
    ['+', {}]
  ]
  for (const [text, expected] of rows) t.same(parseStatusLetters(text), expected, JSON.stringify(text))
})

t.test('statusLetters: Apache order I N D S H E C, Ok when none', async t => {
  const none = { disabled: false, draining: false, hotStandby: false, stopped: false, ignoreErrors: false, inError: false, healthCheckFailed: false }
  t.equal(statusLetters(none), 'Ok')
  t.equal(statusLetters({ ...none, hotStandby: true, inError: true }), 'HE')
  t.equal(statusLetters({ disabled: true, draining: true, hotStandby: true, stopped: true, ignoreErrors: true, inError: true, healthCheckFailed: true }), 'INDSHEC')
})

t.test('members(): status letters of combined flags', async t => {
  const { balancer } = setup(members([{ draining: true, hotStandby: true }, { ignoreErrors: true, disabled: true }]))
  balancer.set(C, { stopped: true, inError: true })
  t.same(balancer.members().map(m => m.status), ['NH', 'ID', 'SE'])
})

t.test('MemberState: inError follows errorSince; usable and takesNewClients follow the flags', async t => {
  const m = new MemberState(resolveOptions({ members: [{ url: A, route: 'a', draining: true, ignoreErrors: true }] }).members[0] as ResolvedMember, 0)
  t.same([m.inError, m.usable, m.takesNewClients], [false, true, false], 'draining: usable, takes no new clients')
  m.errorSince = 0
  t.same([m.inError, m.usable, m.takesNewClients], [true, false, false])
  m.errorSince = undefined
  m.healthCheckFailed = true
  t.same([m.inError, m.usable, m.takesNewClients], [false, false, false])
})
