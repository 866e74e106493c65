/**
 * Active health checks (spec "Member states": mod_proxy_hcheck; "Where we do better":
 * consecutive counts), driven by a manual scheduler and a scripted probe: when checks run, how
 * results move a member in and out of service, expect lists and functions, judge(), and
 * close()/add()/remove() while checks run.
 */
import t from 'tap'
import {
  createBalancer,
  judge,
  resolveOptions,
  type Balancer,
  type HealthCheckOptions,
  type HealthProbe,
  type HealthProbeResult,
  type HealthProbeTarget,
  type StickyOptions,
  type Timers
} from '@stickyroute/core'
import { HealthMonitor, type Checked } from '../src/health.js'
import { A, B, C, D, MEMBERS, newClients, routed } from './fixtures.js'

const PASS: HealthProbeResult = { response: { status: 200, headers: {}, body: '' } }
const FAIL: HealthProbeResult = { error: 'ECONNREFUSED' }

const flush = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** A manual scheduler with its own clock: timers fire only inside advance(), in time order. */
class ManualTimers implements Timers {
  now = 0
  #next = 0
  readonly pending = new Map<number, { at: number, callback: () => void }>()

  setTimeout = (callback: () => void, ms: number): unknown => {
    const id = ++this.#next
    this.pending.set(id, { at: this.now + ms, callback })
    return id
  }

  clearTimeout = (handle: unknown): void => {
    this.pending.delete(handle as number)
  }

  /** Moves the clock forward by `ms`, firing every timer that falls due (and the ones those set). */
  async advance (ms: number): Promise<void> {
    const end = this.now + ms
    for (;;) {
      await flush()
      let first: [number, { at: number, callback: () => void }] | undefined
      for (const entry of this.pending) if (entry[1].at <= end && (first === undefined || entry[1].at < first[1].at)) first = entry
      if (first === undefined) break
      this.pending.delete(first[0])
      this.now = first[1].at
      first[1].callback()
    }
    this.now = end
    await flush()
  }
}

type Step = HealthProbeResult | 'hang' | 'manual' | { delay: number, result: HealthProbeResult } | { throws: unknown }

interface Call {
  target: HealthProbeTarget
  signal: AbortSignal
  at: number
  /** For 'manual' steps: settles the probe. */
  settle?: (result: HealthProbeResult) => void
}

/** A probe answering from a script per member URL (then `fallback`), recording every call. */
class ScriptedProbe {
  readonly calls: Call[] = []
  readonly scripts = new Map<string, Step[]>()
  fallback: HealthProbeResult = PASS

  constructor (readonly timers: ManualTimers) {}

  script (url: string, ...steps: Step[]): this {
    this.scripts.set(url, [...(this.scripts.get(url) ?? []), ...steps])
    return this
  }

  /** When each member was probed. */
  times (url: string): number[] {
    return this.calls.filter(c => c.target.url === url).map(c => c.at)
  }

  probe: HealthProbe = async (target, signal) => {
    const call: Call = { target, signal, at: this.timers.now }
    this.calls.push(call)
    const step = this.scripts.get(target.url)?.shift() ?? this.fallback
    if (step === 'hang') {
      // Honours the signal only (not its own timeout): the monitor's backstop must abort it.
      return await new Promise(resolve => { signal.addEventListener('abort', () => resolve({ error: 'aborted' })) })
    }
    if (step === 'manual') return await new Promise(resolve => { call.settle = resolve })
    if ('throws' in step) throw step.throws
    if ('delay' in step) {
      return await new Promise(resolve => { this.timers.setTimeout(() => resolve(step.result), step.delay) })
    }
    return step
  }
}

interface Harness {
  balancer: Balancer
  timers: ManualTimers
  probe: ScriptedProbe
}

function setup (healthCheck: HealthCheckOptions | undefined, options: Partial<StickyOptions> = {}, start = true): Harness {
  const timers = new ManualTimers()
  const probe = new ScriptedProbe(timers)
  const balancer = createBalancer({
    members: MEMBERS,
    routeCookie: 'ROUTEID',
    now: () => timers.now,
    ...(healthCheck === undefined ? {} : { healthCheck }),
    ...options
  })
  if (start) balancer.startHealthChecks({ probe: probe.probe, timers })
  return { balancer, timers, probe }
}

// ---------------------------------------------------------------------------------------------
// When checks run
// ---------------------------------------------------------------------------------------------

t.test('the first check runs right away, then one every interval, per member', async t => {
  const h = setup({ interval: 10 })
  t.equal(h.balancer.checking, true)
  t.same(h.probe.calls, [], 'nothing before the scheduler runs (start never blocks)')
  await h.timers.advance(0)
  await h.timers.advance(9999)
  await h.timers.advance(1)
  await h.timers.advance(10_000)
  for (const url of [A, B, C]) t.same(h.probe.times(url), [0, 10_000, 20_000], url)
  t.same(h.probe.calls[0]?.target, { url: A, method: 'GET', uri: '/', timeoutMs: 5000, readBody: false }, 'the target')
  await h.balancer.close()
})

t.test('the interval counts from the end of a check; a slow check delays only its own member', async t => {
  const h = setup({ interval: 10, method: 'TCP' })
  h.probe.script(A, { delay: 3000, result: { connected: true } })
  await h.timers.advance(30_000)
  t.same(h.probe.times(A), [0, 13_000, 23_000])
  t.same(h.probe.times(B), [0, 10_000, 20_000, 30_000])
  await h.balancer.close()
})

t.test('a probe that ignores its timeout is aborted by the monitor\'s backstop (timeout + 1 s); the others go on', async t => {
  const h = setup({ interval: 10, timeout: 2 })
  h.probe.script(A, 'hang')
  await h.timers.advance(25_000)
  const first = h.probe.calls[0]
  t.equal(first?.signal.aborted, true, 'aborted')
  t.same(h.probe.times(A), [0, 13_000, 23_000], 'aborted at 3000 ms, next check 10 s later')
  t.same(h.probe.times(B), [0, 10_000, 20_000], 'b unaffected')
  t.same(h.balancer.member('a').healthCheck, { passes: 2, fails: 0, last: 'status 200' })
  t.equal(h.probe.calls.filter(c => c.target.url === A)[0]?.target.timeoutMs, 2000)
  await h.balancer.close()
})

t.test('startHealthChecks() is idempotent; checking tells whether checks run', async t => {
  const h = setup({ interval: 10 }, {}, false)
  t.equal(h.balancer.checking, false)
  h.balancer.startHealthChecks({ probe: h.probe.probe, timers: h.timers })
  h.balancer.startHealthChecks({ probe: h.probe.probe, timers: h.timers })
  await h.timers.advance(0)
  t.equal(h.probe.calls.length, 3, 'one check per member')
  await h.balancer.close()
  t.equal(h.balancer.checking, false)
  h.balancer.startHealthChecks({ probe: h.probe.probe, timers: h.timers })
  await h.timers.advance(0)
  t.equal(h.probe.calls.length, 6, 'started again after close()')
  await h.balancer.close()
})

t.test('without a healthCheck nothing is probed; members[].healthCheck: false opts out; overrides apply', async t => {
  const none = setup(undefined)
  await none.timers.advance(60_000)
  t.same(none.probe.calls, [])
  t.same(none.timers.pending.size, 0)
  t.equal(none.balancer.member('a').healthCheck, undefined)
  await none.balancer.close()

  const h = setup({ interval: 10, uri: '/health' }, {
    members: [
      { url: A, route: 'a', healthCheck: false },
      { url: B, route: 'b', healthCheck: { method: 'HEAD', uri: '/ping' } },
      { url: C, route: 'c', healthCheck: { interval: 5 } }
    ]
  })
  await h.timers.advance(10_000)
  t.same(h.probe.times(A), [])
  t.same(h.probe.times(B), [0, 10_000])
  t.same(h.probe.times(C), [0, 5000, 10_000])
  t.same(h.probe.calls.find(c => c.target.url === B)?.target, { url: B, method: 'HEAD', uri: '/ping', timeoutMs: 5000, readBody: false })
  t.same(h.probe.calls.find(c => c.target.url === C)?.target, { url: C, method: 'GET', uri: '/health', timeoutMs: 5000, readBody: false })
  await h.balancer.close()
})

// ---------------------------------------------------------------------------------------------
// Results: consecutive fails take a member out, consecutive passes bring it back
// ---------------------------------------------------------------------------------------------

t.test('fails in a row set healthCheckFailed: no new clients, sticky clients fail over; passes in a row bring it back', async t => {
  const h = setup({ interval: 10, fails: 3, passes: 2 })
  h.probe.script(B, FAIL, FAIL, FAIL, PASS, PASS)
  const earlier = routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' }))
  await h.timers.advance(0)
  await h.timers.advance(10_000)
  t.same([h.balancer.member('b').healthCheckFailed, h.balancer.member('b').healthCheck], [false, { passes: 0, fails: 2, last: 'ECONNREFUSED' }], 'two fails: still in')
  t.ok(newClients(h.balancer, 6).includes('b'))
  await h.timers.advance(10_000)
  t.same([h.balancer.member('b').status, h.balancer.member('b').healthCheck], ['C', { passes: 0, fails: 3, last: 'ECONNREFUSED' }], 'third fail in a row: out')
  t.notOk(newClients(h.balancer, 4).includes('b'), 'no new clients')
  const sticky = routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' }))
  t.same([sticky.route !== 'b', sticky.setCookie], [true, `ROUTEID=.${sticky.route}; Path=/; HttpOnly; SameSite=Lax`], 'its sticky client fails over with a cookie')
  const strict = createBalancer({ members: MEMBERS, noFailover: true })
  t.equal(strict.select({ cookie: 'ROUTEID=.b' }).ok, true, '(another balancer is not affected)')
  h.balancer.markFailed(earlier)
  t.equal(h.balancer.member('b').status, 'EC', 'a request that was under way failed too: in error as well')

  await h.timers.advance(10_000)
  t.equal(h.balancer.member('b').status, 'EC', 'one pass of two: still out')
  await h.timers.advance(10_000)
  t.same([h.balancer.member('b').status, h.balancer.member('b').healthCheck], ['Ok', { passes: 2, fails: 0, last: 'status 200' }], 'two passes in a row: back, in error cleared too')
  t.equal(routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' })).route, 'b', 'its route goes back to it (retry not over)')
  await h.balancer.close()
})

t.test('with noFailover, a member failing its checks answers its sticky clients with 503 nofailover', async t => {
  const h = setup({ interval: 10 }, { noFailover: true })
  h.probe.script(B, FAIL)
  await h.timers.advance(0)
  t.same(h.balancer.select({ cookie: 'ROUTEID=.b' }), { ok: false, status: 503, reason: 'nofailover', clientRoute: 'b', attempt: 1 })
  await h.balancer.close()
})

interface StreakRow {
  name: string
  check: HealthCheckOptions
  results: HealthProbeResult[]
  /** healthCheckFailed after each result. */
  expected: boolean[]
}

const streakRows: StreakRow[] = [
  { name: 'defaults (1 and 1): one fail out, one pass back', check: {}, results: [FAIL, PASS, FAIL, FAIL, PASS], expected: [true, false, true, true, false] },
  { name: 'flapping pass, fail, pass, fail with fails: 2 never takes it out', check: { fails: 2 }, results: [PASS, FAIL, PASS, FAIL, PASS, FAIL, PASS, FAIL], expected: [false, false, false, false, false, false, false, false] },
  { name: 'fails: 2 then two fails in a row', check: { fails: 2 }, results: [FAIL, PASS, FAIL, FAIL], expected: [false, false, false, true] },
  { name: 'passes: 3 counted in a row: a fail restarts the count', check: { passes: 3 }, results: [FAIL, PASS, PASS, FAIL, PASS, PASS, PASS], expected: [true, true, true, true, true, true, false] },
  { name: 'fails once out, further fails keep it out', check: { fails: 2, passes: 2 }, results: [FAIL, FAIL, FAIL, PASS, FAIL, PASS, PASS], expected: [false, true, true, true, true, true, false] }
]

t.test('consecutive counts (HAProxy rise/fall, not Apache\'s cumulative counts)', async t => {
  for (const row of streakRows) {
    const h = setup({ interval: 1, method: 'TCP', ...row.check }, { members: [{ url: A, route: 'a' }] })
    h.probe.script(A, ...row.results)
    const seen: boolean[] = []
    await h.timers.advance(0)
    seen.push(h.balancer.member('a').healthCheckFailed)
    for (let i = 1; i < row.results.length; i++) {
      await h.timers.advance(1000)
      seen.push(h.balancer.member('a').healthCheckFailed)
    }
    t.same(seen, row.expected, row.name)
    await h.balancer.close()
  }
})

t.test('a single pass clears inError of a member not failing its checks (before retry is over)', async t => {
  const h = setup({ interval: 10, passes: 3 }, { retry: 3600 })
  h.balancer.markFailed(routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' })))
  t.equal(h.balancer.member('b').inError, true)
  await h.timers.advance(0)
  t.equal(h.balancer.member('b').inError, false, 'passes: 3 is for members out of their checks only')
  t.equal(routed(t, h.balancer.select({ cookie: 'ROUTEID=.b' })).route, 'b')
  await h.balancer.close()
})

t.test('a failed check does not put a member in error (only healthCheckFailed, after fails)', async t => {
  const h = setup({ interval: 10, fails: 2 })
  h.probe.script(B, FAIL)
  await h.timers.advance(0)
  t.equal(h.balancer.member('b').status, 'Ok')
  await h.balancer.close()
})

t.test('disabled members are probed (their state shows), stopped ones are not', async t => {
  const h = setup({ interval: 10, fails: 1 }, { members: [{ url: A, route: 'a', disabled: true }, { url: B, route: 'b', stopped: true }, { url: C, route: 'c' }] })
  h.probe.script(A, FAIL, PASS)
  await h.timers.advance(20_000)
  t.same(h.probe.times(A), [0, 10_000, 20_000], 'disabled: probed')
  t.same(h.probe.times(B), [], 'stopped: not probed')
  t.same(h.balancer.member('a').healthCheck, { passes: 2, fails: 0, last: 'status 200' })
  t.same(h.balancer.member('b').healthCheck, { passes: 0, fails: 0, last: undefined })
  h.balancer.set('b', { stopped: false })
  await h.timers.advance(10_000)
  t.same(h.probe.times(B), [30_000], 'no longer stopped: probed on its next turn')
  h.balancer.set('a', { stopped: true })
  await h.timers.advance(30_000)
  t.same(h.probe.times(A), [0, 10_000, 20_000, 30_000], 'stopped at runtime: no more probes')
  await h.balancer.close()
})

// ---------------------------------------------------------------------------------------------
// expect
// ---------------------------------------------------------------------------------------------

const response = (status: number, body = '', headers: Record<string, string> = {}): HealthProbeResult => ({ response: { status, headers, body } })

t.test('expect: a list of statuses', async t => {
  const h = setup({ interval: 1, expect: [200, 204] }, { members: [{ url: A, route: 'a' }] })
  h.probe.script(A, response(204), response(302), response(200), response(503))
  const seen: string[] = []
  for (let i = 0; i < 4; i++) {
    await h.timers.advance(i === 0 ? 0 : 1000)
    const m = h.balancer.member('a')
    seen.push(`${m.healthCheck?.last ?? '-'} ${m.status}`)
  }
  t.same(seen, ['status 204 Ok', 'status 302 not expected C', 'status 200 Ok', 'status 503 not expected C'])
  t.equal(h.probe.calls[0]?.target.readBody, false, 'a list never reads the body')
  await h.balancer.close()
})

t.test('expect: the default passes 2xx and 3xx', async t => {
  const statuses = [200, 204, 299, 301, 302, 399, 400, 404, 500, 503, 101]
  const h = setup({ interval: 1 }, { members: [{ url: A, route: 'a' }] })
  h.probe.script(A, ...statuses.map(s => response(s)))
  const seen: boolean[] = []
  for (let i = 0; i < statuses.length; i++) {
    await h.timers.advance(i === 0 ? 0 : 1000)
    seen.push(!h.balancer.member('a').healthCheckFailed)
  }
  t.same(seen, [true, true, true, true, true, true, false, false, false, false, false])
  await h.balancer.close()
})

t.test('expect: a function gets status, headers and body (GET reads the body; HEAD does not)', async t => {
  const seen: unknown[] = []
  const expect = (r: { status: number, headers: object, body: string }): boolean => { seen.push(r); return r.body.includes('"ok"') }
  const h = setup({ interval: 1, expect }, { members: [{ url: A, route: 'a' }, { url: B, route: 'b', healthCheck: { method: 'HEAD' } }] })
  h.probe.script(A, response(200, '{"status":"ok"}', { 'content-type': 'application/json' }), response(200, '{"status":"down"}'))
  h.probe.script(B, response(200))
  await h.timers.advance(0)
  t.same(seen.slice(0, 2), [{ status: 200, headers: { 'content-type': 'application/json' }, body: '{"status":"ok"}' }, { status: 200, headers: {}, body: '' }])
  t.same(h.probe.calls.map(c => [c.target.url, c.target.readBody]), [[A, true], [B, false]])
  t.same([h.balancer.member('a').status, h.balancer.member('b').status], ['Ok', 'C'], 'the function judges the HEAD answer too')
  await h.timers.advance(1000)
  t.same([h.balancer.member('a').status, h.balancer.member('a').healthCheck?.last], ['C', 'status 200 not expected'])
  await h.balancer.close()
})

t.test('expect: a throwing function counts as a fail, with the error in the detail; only true passes', async t => {
  const rows: Array<[string, () => unknown, string, boolean]> = [
    ['throws an Error', () => { throw new Error('boom') }, 'status 200, expect threw: boom', false],
    ['throws a string', () => { throw 'nope' }, 'status 200, expect threw: nope', false], // eslint-disable-line no-throw-literal
    ['returns 1', () => 1, 'status 200 not expected', false],
    ['returns "yes"', () => 'yes', 'status 200 not expected', false],
    ['returns true', () => true, 'status 200', true]
  ]
  for (const [name, fn, detail, ok] of rows) {
    const h = setup({ interval: 1, expect: fn as () => boolean }, { members: [{ url: A, route: 'a' }] })
    const healths: string[] = []
    h.balancer.on('health', e => { healths.push(`${String(e.ok)} ${e.detail}`) })
    await h.timers.advance(0)
    t.same(healths, [`${String(ok)} ${detail}`], name)
    t.equal(h.balancer.member('a').healthCheckFailed, !ok, `${name}: flag`)
    await h.balancer.close()
  }
})

t.test('a probe that rejects (it should not) counts as a fail', async t => {
  for (const [thrown, detail] of [[new Error('probe bug'), 'probe bug'], [42, '42']] as const) {
    const h = setup({ interval: 1 }, { members: [{ url: A, route: 'a' }] })
    h.probe.script(A, { throws: thrown })
    await h.timers.advance(0)
    t.same(h.balancer.member('a').healthCheck, { passes: 0, fails: 1, last: detail })
    await h.timers.advance(1000)
    t.same(h.balancer.member('a').healthCheck, { passes: 1, fails: 0, last: 'status 200' }, 'the loop goes on')
    await h.balancer.close()
  }
})

// ---------------------------------------------------------------------------------------------
// judge()
// ---------------------------------------------------------------------------------------------

function checkOf (healthCheck: HealthCheckOptions): NonNullable<ReturnType<typeof resolveOptions>['healthCheck']> {
  const check = resolveOptions({ members: MEMBERS, healthCheck }).healthCheck
  if (check === undefined) throw new Error('no check')
  return check
}

t.test('judge(): table', async t => {
  const rows: Array<[string, HealthCheckOptions, HealthProbeResult, [boolean, string]]> = [
    ['TCP connected', { method: 'TCP' }, { connected: true }, [true, 'connected']],
    ['connect refused', { method: 'TCP' }, { error: 'ECONNREFUSED' }, [false, 'ECONNREFUSED']],
    ['timeout', {}, { error: 'timeout after 5000 ms' }, [false, 'timeout after 5000 ms']],
    ['200', {}, response(200), [true, 'status 200']],
    ['302', {}, response(302), [true, 'status 302']],
    ['399', {}, response(399), [true, 'status 399']],
    ['400', {}, response(400), [false, 'status 400 not expected']],
    ['199', {}, response(199), [false, 'status 199 not expected']],
    ['503', {}, response(503), [false, 'status 503 not expected']],
    ['503 expected', { expect: [503] }, response(503), [true, 'status 503']],
    ['200 not in the list', { expect: [204] }, response(200), [false, 'status 200 not expected']],
    ['function on the body', { expect: r => r.body === 'UP' }, response(200, 'UP'), [true, 'status 200']],
    ['function on a header', { expect: r => r.headers['x-ready'] === '1' }, response(200, '', { 'x-ready': '0' }), [false, 'status 200 not expected']],
    ['error wins over expect', { expect: () => true }, { error: 'aborted' }, [false, 'aborted']]
  ]
  for (const [name, check, result, expected] of rows) t.same(judge(checkOf(check), result), expected, name)
})

// ---------------------------------------------------------------------------------------------
// close(), add(), remove() while checks run
// ---------------------------------------------------------------------------------------------

t.test('close(): clears the timers, aborts the check in flight, resolves once it settled; nothing is left pending', async t => {
  const h = setup({ interval: 10 })
  h.probe.script(A, 'manual')
  h.probe.script(B, FAIL)
  await h.timers.advance(0)
  const inFlight = h.probe.calls.find(c => c.target.url === A)
  t.equal(inFlight?.signal.aborted, false)
  t.ok(h.timers.pending.size > 0, 'timers pending while checks run')
  let closed = false
  const closing = h.balancer.close().then(() => { closed = true })
  t.equal(inFlight?.signal.aborted, true, 'the check in flight is aborted')
  t.equal(h.balancer.checking, false)
  await flush()
  t.equal(closed, false, 'close() waits for the aborted check to settle')
  inFlight?.settle?.(FAIL)
  await closing
  t.equal(closed, true)
  t.equal(h.timers.pending.size, 0, 'no timer left (interval timers and the backstop)')
  t.equal(h.balancer.member('a').healthCheckFailed, false, 'the result of the aborted check is not applied')
  t.equal(h.balancer.member('b').healthCheckFailed, false, 'a member out by its checks is put back: no check would clear it any more')
  const before = h.probe.calls.length
  await h.timers.advance(100_000)
  t.equal(h.probe.calls.length, before, 'no check after close()')
})

t.test('close() without checks, or twice, resolves', async t => {
  const h = setup({ interval: 10 }, {}, false)
  await h.balancer.close()
  h.balancer.startHealthChecks({ probe: h.probe.probe, timers: h.timers })
  await h.timers.advance(0)
  await Promise.all([h.balancer.close(), h.balancer.close()])
  t.equal(h.timers.pending.size, 0)
})

t.test('add() while checks run starts the new member\'s check (disabled members are probed); remove() stops it', async t => {
  const h = setup({ interval: 10, method: 'TCP' })
  await h.timers.advance(0)
  h.balancer.add({ url: D, route: 'd' })
  await h.timers.advance(0)
  t.same(h.probe.times(D), [0], 'checked at once')
  t.same(h.probe.calls.find(c => c.target.url === D)?.target, { url: D, method: 'TCP', uri: '/', timeoutMs: 5000, readBody: false }, 'with the balancer\'s check')
  h.balancer.add({ url: 'http://127.0.0.1:8085', route: 'e', healthCheck: false })
  await h.timers.advance(10_000)
  t.same(h.probe.times(D), [0, 10_000])
  t.same(h.probe.times('http://127.0.0.1:8085'), [], 'healthCheck: false')
  h.probe.script(D, 'manual')
  await h.timers.advance(10_000)
  const inFlight = h.probe.calls.at(-1)
  t.equal(inFlight?.target.url, D)
  const removing = h.balancer.remove('d')
  t.equal(inFlight?.signal.aborted, true, 'its check in flight is aborted')
  await removing
  inFlight?.settle?.(FAIL)
  await h.timers.advance(30_000)
  t.same(h.probe.times(D), [0, 10_000, 20_000], 'no more checks')
  await h.balancer.close()
  t.equal(h.timers.pending.size, 0)
})

t.test('add() while checks do not run: its check starts with startHealthChecks()', async t => {
  const h = setup({ interval: 10 }, {}, false)
  h.balancer.add({ url: 'http://127.0.0.1:8084', route: 'd' })
  await h.timers.advance(10_000)
  t.same(h.probe.calls, [])
  await h.balancer.remove('d')
  h.balancer.add({ url: 'http://127.0.0.1:8085', route: 'e' })
  h.balancer.startHealthChecks({ probe: h.probe.probe, timers: h.timers })
  await h.timers.advance(0)
  t.same(h.probe.calls.map(c => c.target.url), [A, B, C, 'http://127.0.0.1:8085'])
  await h.balancer.remove(A)
  await h.timers.advance(10_000)
  t.same(h.probe.times(A), [10_000], 'removed: not checked again')
  await h.balancer.close()
})

t.test('a health listener sees every result with the streaks so far', async t => {
  const h = setup({ interval: 1, fails: 2, method: 'TCP' }, { members: [{ url: A, route: 'a' }] })
  h.probe.script(A, { connected: true }, FAIL, FAIL, { connected: true })
  const seen: unknown[] = []
  h.balancer.on('health', e => { seen.push({ ...e }) })
  await h.timers.advance(3000)
  const info = { url: A, route: 'a', index: 0, loadFactor: 1, lbSet: 0 }
  t.same(seen, [
    { member: info, ok: true, detail: 'connected', passes: 1, fails: 0 },
    { member: info, ok: false, detail: 'ECONNREFUSED', passes: 0, fails: 1 },
    { member: info, ok: false, detail: 'ECONNREFUSED', passes: 0, fails: 2 },
    { member: info, ok: true, detail: 'connected', passes: 1, fails: 0 }
  ])
  await h.balancer.close()
})

// ---------------------------------------------------------------------------------------------
// HealthMonitor on its own
// ---------------------------------------------------------------------------------------------

t.test('HealthMonitor: watch() twice checks once; unwatch() of an unknown member and watch() after close() do nothing', async t => {
  const timers = new ManualTimers()
  const probe = new ScriptedProbe(timers)
  const results: string[] = []
  const monitor = new HealthMonitor({ probe: probe.probe, timers }, (m, passed, detail) => { results.push(`${m.url} ${String(passed)} ${detail}`) })
  const check = checkOf({ interval: 10 })
  const member: Checked = { check, url: A, paused: false }
  monitor.watch(member)
  monitor.watch(member)
  monitor.unwatch({ check, url: B, paused: false })
  await timers.advance(0)
  t.same(results, [`${A} true status 200`])
  monitor.unwatch(member)
  t.equal(timers.pending.size, 0, 'unwatch() clears its timer')
  await monitor.close()
  monitor.watch({ check, url: C, paused: false })
  await timers.advance(20_000)
  t.same(results, [`${A} true status 200`])
  t.same(probe.times(C), [])
})
