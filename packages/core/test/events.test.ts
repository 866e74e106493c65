/**
 * Events: 'state' for every member state transition, 'route' when a client is pinned to another
 * route, 'health' for each check result; on()/off(); and logEvents() with a pino-like logger.
 */
import t from 'tap'
import {
  createBalancer,
  logEvents,
  type Balancer,
  type HealthEvent,
  type HealthProbeResult,
  type RouteEvent,
  type Routed,
  type StateEvent,
  type StickyLogger,
  type StickyOptions,
  type Timers
} from '@stickyroute/core'
import { A, B, C, MEMBERS, routed } from './fixtures.js'

const INFO = {
  a: { url: A, route: 'a', index: 0, loadFactor: 1, lbSet: 0 },
  b: { url: B, route: 'b', index: 1, loadFactor: 1, lbSet: 0 },
  c: { url: C, route: 'c', index: 2, loadFactor: 1, lbSet: 0 }
}

interface Harness {
  balancer: Balancer
  clock: { now: number }
  states: StateEvent[]
  routes: RouteEvent[]
  healths: HealthEvent[]
}

function setup (options: Partial<StickyOptions> = {}): Harness {
  const clock = { now: 10_000 }
  const balancer = createBalancer({ members: MEMBERS, routeCookie: 'ROUTEID', now: () => clock.now, retry: 5, ...options })
  const h: Harness = { balancer, clock, states: [], routes: [], healths: [] }
  balancer.on('state', e => { h.states.push(e) }).on('route', e => { h.routes.push(e) }).on('health', e => { h.healths.push(e) })
  return h
}

/** The state events as `route flag=value reason (detail)` lines, then cleared. */
function drain (h: Harness): string[] {
  const out = h.states.map(e => `${e.member.route} ${e.flag}=${String(e.value)} ${e.reason}${e.detail === undefined ? '' : ` (${e.detail})`}`)
  h.states.length = 0
  return out
}

const connectError = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
const timeoutError = Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' })

/** A manual scheduler: `run()` fires every timer due at the current time (0 ms only; no clock). */
function manualTimers (): Timers & { run: () => Promise<void>, pending: number } {
  const due = new Map<number, () => void>()
  let next = 0
  return {
    setTimeout: (callback, ms) => { const id = ++next; if (ms === 0) due.set(id, callback); return id },
    clearTimeout: handle => { due.delete(handle as number) },
    get pending () { return due.size },
    async run () {
      for (const [id, callback] of [...due]) { due.delete(id); callback() }
      await new Promise(resolve => setImmediate(resolve))
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 'state'
// ---------------------------------------------------------------------------------------------

t.test('state: the event object', async t => {
  const h = setup()
  h.balancer.set('b', { draining: true })
  t.same(h.states, [{ member: INFO.b, flag: 'draining', value: true, reason: 'operator', detail: undefined }])
  t.ok(Object.isFrozen(h.states[0]?.member), 'the member view is frozen')
})

t.test('state: operator flags, on and off; setting the current value emits nothing', async t => {
  const h = setup()
  for (const flag of ['disabled', 'draining', 'hotStandby', 'stopped', 'ignoreErrors', 'inError'] as const) {
    h.balancer.set('c', { [flag]: true })
    h.balancer.set('c', { [flag]: true })
    h.balancer.set('c', { [flag]: false })
    h.balancer.set('c', { [flag]: false })
    t.same(drain(h), [`c ${flag}=true operator`, `c ${flag}=false operator`], flag)
  }
  h.balancer.set('a', { draining: true, disabled: true })
  t.same(drain(h), ['a draining=true operator', 'a disabled=true operator'], 'one event per flag, in the given order')
})

t.test('state: going in error, by each cause', async t => {
  interface Row { name: string, options?: Partial<StickyOptions>, fail: (h: Harness, d: Routed) => void, expected: string[] }
  const rows: Row[] = [
    { name: 'failover()', fail: (h, d) => { h.balancer.failover(d) }, expected: ['b inError=true connect-failure'] },
    { name: 'markFailed()', fail: (h, d) => { h.balancer.markFailed(d) }, expected: ['b inError=true connect-failure'] },
    { name: 'finished() with a failOnStatus status', options: { failOnStatus: [503] }, fail: (h, d) => { h.balancer.finished(d, { status: 503 }) }, expected: ['b inError=true fail-on-status (status 503)'] },
    { name: 'finished() with another status', options: { failOnStatus: [503] }, fail: (h, d) => { h.balancer.finished(d, { status: 500 }) }, expected: [] },
    { name: 'upstreamError(timeout) with failOnTimeout', options: { failOnTimeout: true }, fail: (h, d) => { h.balancer.upstreamError(d, timeoutError, { canRetry: true }) }, expected: ['b inError=true timeout'] },
    { name: 'upstreamError(timeout) with failOnTimeout and a timeout: the detail says it', options: { failOnTimeout: true, timeout: 2 }, fail: (h, d) => { h.balancer.upstreamError(d, timeoutError, { canRetry: true }) }, expected: ['b inError=true timeout (no answer within 2000 ms)'] },
    { name: 'upstreamError(timeout) without failOnTimeout', fail: (h, d) => { h.balancer.upstreamError(d, timeoutError, { canRetry: true }) }, expected: [] },
    { name: 'a failure of an ignoreErrors member', fail: (h, d) => { h.balancer.set('b', { ignoreErrors: true }); h.states.length = 0; h.balancer.markFailed(d) }, expected: [] }
  ]
  for (const row of rows) {
    const h = setup(row.options)
    row.fail(h, routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' })))
    t.same(drain(h), row.expected, row.name)
  }
})

t.test('state: a connect failure seen by upstreamError() names the error code', async t => {
  // StateEvent.detail: "the status, the error code, the health-check detail".
  for (const canRetry of [true, false]) {
    const h = setup()
    h.balancer.upstreamError(routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' })), connectError, { canRetry })
    t.same(drain(h), ['b inError=true connect-failure (ECONNREFUSED)'], `canRetry ${String(canRetry)}`)
  }
})

t.test('state: a second failure while in error emits nothing', async t => {
  const h = setup()
  const d1 = routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' }))
  const d2 = routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' }))
  h.balancer.markFailed(d1)
  h.balancer.markFailed(d2)
  h.balancer.set('b', { inError: true })
  t.same(drain(h), ['b inError=true connect-failure'])
})

t.test('state: coming back after retry (on a request, or on members())', async t => {
  for (const look of ['select', 'members', 'member'] as const) {
    const h = setup()
    h.balancer.markFailed(routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' })))
    h.clock.now += 5000
    if (look === 'select') h.balancer.select({})
    else if (look === 'members') h.balancer.members()
    else h.balancer.member('a')
    t.same(drain(h), ['b inError=true connect-failure'], `${look}: not yet at +5000 ms`)
    h.clock.now += 1
    if (look === 'select') h.balancer.select({})
    else if (look === 'members') h.balancer.members()
    else h.balancer.member('a')
    t.same(drain(h), ['b inError=false retry-elapsed'], `${look}: at +5001 ms`)
  }
})

t.test('state: forceRecovery clears every member, in order', async t => {
  const h = setup()
  for (const m of ['c', 'a', 'b']) h.balancer.set(m, { inError: true })
  drain(h)
  h.balancer.select({})
  t.same(drain(h), ['a inError=false force-recovery', 'b inError=false force-recovery', 'c inError=false force-recovery'])
})

t.test('state: the retry window of one member passes while the others are in error: retry-elapsed, no force-recovery', async t => {
  const h = setup()
  h.balancer.set('a', { inError: true })
  h.clock.now += 3000
  h.balancer.set('b', { inError: true })
  h.balancer.set('c', { inError: true })
  drain(h)
  h.clock.now += 2001
  h.balancer.select({})
  t.same(drain(h), ['a inError=false retry-elapsed'])
})

t.test('state: removed members emit nothing', async t => {
  const h = setup({ failOnStatus: [500] })
  const d = routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' }))
  const removing = h.balancer.remove('b')
  h.balancer.finished(d, { status: 500 })
  await removing
  t.same(drain(h), [])
})

t.test('state: health checks: failed and passed', async t => {
  const timers = manualTimers()
  const results: HealthProbeResult[] = [{ error: 'ECONNREFUSED' }, { response: { status: 200, headers: {}, body: '' } }]
  const h = setup({ members: [{ url: A, route: 'a' }], healthCheck: { method: 'GET' } })
  const d = routed(t, h.balancer.select({}))
  h.balancer.startHealthChecks({ probe: async () => results.shift() ?? { error: 'none left' }, timers: { ...timers, setTimeout: (cb, ms) => timers.setTimeout(cb, ms === 30_000 ? 0 : ms) } })
  await timers.run()
  t.same(drain(h), ['a healthCheckFailed=true health-check-failed (ECONNREFUSED)'])
  h.balancer.markFailed(d)
  drain(h)
  await timers.run()
  t.same(drain(h), ['a healthCheckFailed=false health-check-passed (status 200)', 'a inError=false health-check-passed'], 'a pass clears both')
  t.same(h.healths.map(e => [e.member.route, e.ok, e.detail, e.passes, e.fails]), [['a', false, 'ECONNREFUSED', 0, 1], ['a', true, 'status 200', 1, 0]])
  await h.balancer.close()
})

// ---------------------------------------------------------------------------------------------
// 'route'
// ---------------------------------------------------------------------------------------------

function routeLines (h: Harness): string[] {
  const out = h.routes.map(e => `${e.from ?? '-'}>${e.to} ${e.reason}`)
  for (const e of h.routes) t.equal(e.member.route, e.to, 'member is the one routed to')
  h.routes.length = 0
  return out
}

t.test('route: new-client, unknown-route, member-unusable, failover', async t => {
  const h = setup()
  h.balancer.select({})
  t.same(h.routes, [{ from: undefined, to: 'a', member: INFO.a, reason: 'new-client' }])
  h.routes.length = 0
  h.balancer.select({ cookie: 'ROUTEID=.zzz' })
  h.balancer.select({ cookie: 'ROUTEID=nosep' })
  t.same(routeLines(h), ['zzz>b unknown-route', '->c new-client'], 'a value without separator carries no route')
  const sticky = routed(t, h.balancer.select({ cookie: 'ROUTEID=.c' }))
  t.same(routeLines(h), [], 'a sticky hit: no event')
  const moved = routed(t, h.balancer.failover(sticky))
  t.same(routeLines(h), [`c>${moved.route} failover`])
  h.balancer.set('c', { inError: false })
  h.balancer.set('a', { disabled: true })
  const unusable = routed(t, h.balancer.select({ cookie: 'ROUTEID=.a' }))
  t.same(routeLines(h), [`a>${unusable.route} member-unusable`])
  const again = routed(t, h.balancer.failover(unusable))
  t.same(routeLines(h), [`a>${again.route} failover`], 'failing over after member-unusable: failover')

  const h2 = setup()
  const fresh = routed(t, h2.balancer.select({}))
  routeLines(h2)
  const next = routed(t, h2.balancer.failover(fresh))
  t.same(routeLines(h2), [`->${next.route} failover`], 'a new client failed over: from undefined')
})

t.test('route: no event when the route did not change', async t => {
  const h = setup({ members: [{ url: A, route: 'x' }, { url: B, route: 'x' }, { url: C, route: 'y' }] })
  const d = routed(t, h.balancer.select({ cookie: 'ROUTEID=.x' }))
  const same = routed(t, h.balancer.failover(d))
  t.equal(same.member.url, B)
  t.same(routeLines(h), [], 'failed over to another member with the same route')
  h.balancer.set(B, { disabled: true })
  h.balancer.set(A, { inError: false })
  h.balancer.set(A, { disabled: true })
  h.balancer.select({ cookie: 'ROUTEID=.x' })
  t.same(routeLines(h), ['x>y member-unusable'])
})

t.test('route: Method 1 (no balancer cookie) emits the same events', async t => {
  const h = setup({ routeCookie: false, stickySession: 'JSESSIONID|jsessionid' })
  h.balancer.select({ cookie: 'JSESSIONID=abc.zzz' })
  h.balancer.select({ url: '/;jsessionid=abc.b' })
  t.same(routeLines(h), ['zzz>a unknown-route'])
})

t.test('route: a 503 emits nothing', async t => {
  const h = setup({ noFailover: true })
  h.balancer.set('b', { disabled: true })
  t.equal(h.balancer.select({ cookie: 'ROUTEID=.b' }).ok, false)
  t.same(routeLines(h), [])
})

// ---------------------------------------------------------------------------------------------
// on() / off()
// ---------------------------------------------------------------------------------------------

t.test('off() removes a listener; unknown listeners are ignored; on() and off() chain', async t => {
  const balancer = createBalancer({ members: MEMBERS })
  const seen: string[] = []
  const one = (e: RouteEvent): void => { seen.push(`one ${e.to}`) }
  const two = (e: RouteEvent): void => { seen.push(`two ${e.to}`) }
  t.equal(balancer.on('route', one).on('route', two), balancer)
  balancer.select({})
  t.equal(balancer.off('route', one), balancer)
  balancer.select({})
  balancer.off('route', one).off('state', () => {}).off('health', () => {})
  balancer.off('route', two)
  balancer.select({})
  t.same(seen, ['one a', 'two a', 'two b'])
})

t.test('a listener removing itself while called does not make the next one miss the event', async t => {
  const balancer = createBalancer({ members: MEMBERS })
  const seen: string[] = []
  const once = (e: StateEvent): void => { seen.push(`once ${e.flag}`); balancer.off('state', once) }
  balancer.on('state', once).on('state', e => { seen.push(`always ${e.flag}`) })
  balancer.set('a', { draining: true })
  balancer.set('a', { disabled: true })
  t.same(seen, ['once draining', 'always draining', 'always disabled'])
  const routeSeen: string[] = []
  const onceRoute = (e: RouteEvent): void => { routeSeen.push(`once ${e.to}`); balancer.off('route', onceRoute) }
  balancer.on('route', onceRoute).on('route', e => { routeSeen.push(`always ${e.to}`) })
  balancer.select({})
  balancer.select({})
  t.same(routeSeen, ['once b', 'always b', 'always c'])
})

t.test('the same listener added twice is called twice, removed once per off()', async t => {
  const balancer = createBalancer({ members: MEMBERS })
  let n = 0
  const count = (): void => { n++ }
  balancer.on('route', count).on('route', count)
  balancer.select({})
  balancer.off('route', count)
  balancer.select({})
  t.equal(n, 3)
})

// ---------------------------------------------------------------------------------------------
// logEvents()
// ---------------------------------------------------------------------------------------------

interface Line { level: 'debug' | 'info' | 'warn', obj: Record<string, unknown>, msg: string }

function fakeLogger (withDebug = true): StickyLogger & { lines: Line[] } {
  const lines: Line[] = []
  const log = (level: Line['level']) => (obj: object, msg: string): void => { lines.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return withDebug ? { lines, debug: log('debug'), info: log('info'), warn: log('warn') } : { lines, info: log('info'), warn: log('warn') }
}

t.test('logEvents: warn when a member goes out of service, info for other state changes', async t => {
  const h = setup()
  const logger = fakeLogger()
  logEvents(h.balancer, logger)
  const rows: Array<[() => void, Line['level'], string]> = [
    [() => { h.balancer.markFailed(routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' }))) }, 'warn', 'stickyroute: member b (http://127.0.0.1:8082) is now inError: connect-failure'],
    [() => { h.clock.now += 5001; h.balancer.members() }, 'info', 'stickyroute: member b (http://127.0.0.1:8082) is no longer inError: retry-elapsed'],
    [() => { h.balancer.set('a', { disabled: true }) }, 'warn', 'stickyroute: member a (http://127.0.0.1:8081) is now disabled: operator'],
    [() => { h.balancer.set('a', { disabled: false }) }, 'info', 'stickyroute: member a (http://127.0.0.1:8081) is no longer disabled: operator'],
    [() => { h.balancer.set('a', { stopped: true }) }, 'warn', 'stickyroute: member a (http://127.0.0.1:8081) is now stopped: operator'],
    [() => { h.balancer.set('a', { stopped: false }) }, 'info', 'stickyroute: member a (http://127.0.0.1:8081) is no longer stopped: operator'],
    [() => { h.balancer.set('c', { draining: true }) }, 'info', 'stickyroute: member c (http://127.0.0.1:8083) is now draining: operator'],
    [() => { h.balancer.set('c', { hotStandby: true }) }, 'info', 'stickyroute: member c (http://127.0.0.1:8083) is now hotStandby: operator'],
    [() => { h.balancer.set('c', { ignoreErrors: true }) }, 'info', 'stickyroute: member c (http://127.0.0.1:8083) is now ignoreErrors: operator']
  ]
  for (const [act, level, msg] of rows) {
    logger.lines.length = 0
    act()
    const state = logger.lines.filter(l => l.obj['stickyroute'] === 'state')
    t.same(state.map(l => [l.level, l.msg]), [[level, msg]], msg)
  }
})

t.test('logEvents: the logged object', async t => {
  const h = setup({ failOnStatus: [503] })
  const logger = fakeLogger()
  logEvents(h.balancer, logger)
  h.balancer.finished(routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' })), { status: 503 })
  t.same(logger.lines, [{
    level: 'warn',
    obj: { stickyroute: 'state', route: 'b', url: B, flag: 'inError', value: true, reason: 'fail-on-status', detail: 'status 503' },
    msg: 'stickyroute: member b (http://127.0.0.1:8082) is now inError: fail-on-status (status 503)'
  }])
})

t.test('logEvents: new clients at debug, re-pinned clients at info, a sticky request logs nothing', async t => {
  const h = setup()
  const logger = fakeLogger()
  logEvents(h.balancer, logger)
  h.balancer.select({})
  h.balancer.select({ cookie: 'ROUTEID=.zzz' })
  h.balancer.select({ cookie: 'ROUTEID=.a' })
  h.balancer.failover(routed(t, h.balancer.select({ cookie: 'ROUTEID=.a' })))
  logger.lines.splice(logger.lines.findIndex(l => l.obj['stickyroute'] === 'state'), 1)
  t.same(logger.lines, [
    { level: 'debug', obj: { stickyroute: 'route', from: undefined, to: 'a', url: A, reason: 'new-client' }, msg: 'stickyroute: client without a route pinned to a: new-client' },
    { level: 'info', obj: { stickyroute: 'route', from: 'zzz', to: 'b', url: B, reason: 'unknown-route' }, msg: 'stickyroute: client of route zzz pinned to b: unknown-route' },
    { level: 'info', obj: { stickyroute: 'route', from: 'a', to: 'c', url: C, reason: 'failover' }, msg: 'stickyroute: client of route a pinned to c: failover' }
  ])
})

t.test('logEvents: health-check results at debug', async t => {
  const timers = manualTimers()
  const h = setup({ members: [{ url: A, route: 'a' }], healthCheck: { method: 'TCP' } })
  const logger = fakeLogger()
  logEvents(h.balancer, logger)
  const results: HealthProbeResult[] = [{ connected: true }, { error: 'ECONNREFUSED' }]
  h.balancer.startHealthChecks({ probe: async () => results.shift() ?? { error: 'none left' }, timers: { ...timers, setTimeout: (cb, ms) => timers.setTimeout(cb, ms === 30_000 ? 0 : ms) } })
  await timers.run()
  await timers.run()
  t.same(logger.lines.map(l => [l.level, l.msg]), [
    ['debug', 'stickyroute: health check of a passed: connected'],
    ['warn', 'stickyroute: member a (http://127.0.0.1:8081) is now healthCheckFailed: health-check-failed (ECONNREFUSED)'],
    ['debug', 'stickyroute: health check of a failed: ECONNREFUSED']
  ], 'the state change is logged before the result that caused it')
  t.same(logger.lines[2]?.obj, { stickyroute: 'health', route: 'a', url: A, ok: false, detail: 'ECONNREFUSED', passes: 0, fails: 1 })
  await h.balancer.close()
})

t.test('logEvents: a logger without debug works (new clients and health results are not logged)', async t => {
  const timers = manualTimers()
  const h = setup({ healthCheck: { method: 'TCP' } })
  const logger = fakeLogger(false)
  logEvents(h.balancer, logger)
  h.balancer.startHealthChecks({ probe: async () => ({ connected: true }), timers })
  await timers.run()
  h.balancer.select({})
  h.balancer.select({ cookie: 'ROUTEID=.zzz' })
  h.balancer.set('a', { draining: true })
  t.same(logger.lines.map(l => l.level), ['info', 'info'])
  t.equal(h.healths.length, 3, 'the checks did run')
  await h.balancer.close()
})
