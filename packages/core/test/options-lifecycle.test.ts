/**
 * Validation and defaults of the member-lifecycle options: lbSet, the state flags, timeouts,
 * failOnStatus, failOnTimeout and healthCheck (balancer-wide, and per member with inheritance).
 */
import t from 'tap'
import {
  createBalancer,
  resolveOptions,
  StickyConfigError,
  type HealthCheckOptions,
  type ResolvedHealthCheck,
  type StickyErrorCode,
  type StickyOptions
} from '@stickyroute/core'

const URL1 = 'http://127.0.0.1:8081'
const M = [{ url: URL1, route: 'a' }, { url: 'http://127.0.0.1:8082', route: 'b' }]

const withMembers = (extra: Record<string, unknown>): unknown => ({ members: M, ...extra })
const withMember = (extra: Record<string, unknown>): unknown => ({ members: [{ url: URL1, route: 'a', ...extra }] })

interface Rule {
  name: string
  options: unknown
  code: StickyErrorCode
  option: string
}

const rules: Rule[] = [
  // --- lbSet
  ...[-1, 100, 1.5, '1', Number.NaN, null, true].map((lbSet): Rule => ({ name: `lbSet ${String(lbSet)}`, options: withMember({ lbSet }), code: 'ERR_STICKY_INVALID_OPTION', option: 'members[0].lbSet' })),
  // --- flags
  ...(['disabled', 'draining', 'hotStandby', 'stopped', 'ignoreErrors'] as const).flatMap(flag => ['yes', 1, 0, null, 'true'].map((value): Rule => ({
    name: `${flag} ${JSON.stringify(value)}`, options: withMember({ [flag]: value }), code: 'ERR_STICKY_INVALID_OPTION', option: `members[0].${flag}`
  }))),
  { name: 'a flag of the second member', options: { members: [M[0], { ...M[1], draining: 'on' }] }, code: 'ERR_STICKY_INVALID_OPTION', option: 'members[1].draining' },
  { name: 'inError is not a member option', options: withMember({ inError: true }), code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'members[0].inError' },
  { name: 'healthCheckFailed is not a member option', options: withMember({ healthCheckFailed: true }), code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'members[0].healthCheckFailed' },
  { name: 'status letters are not a member option', options: withMember({ status: '+H' }), code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'members[0].status' },
  // --- timeouts
  ...[0, -1, '5', Number.NaN, Number.POSITIVE_INFINITY, 86_401, null].map((timeout): Rule => ({ name: `member timeout ${String(timeout)}`, options: withMember({ timeout }), code: 'ERR_STICKY_INVALID_OPTION', option: 'members[0].timeout' })),
  ...[0, -1, '5', Number.NaN, 86_401, false].map((timeout): Rule => ({ name: `timeout ${String(timeout)}`, options: withMembers({ timeout }), code: 'ERR_STICKY_INVALID_OPTION', option: 'timeout' })),
  // --- failOnStatus / failOnTimeout
  ...[500, '500,503', ['500'], [99], [600], [500.5], null, [Number.NaN], { 500: true }].map((failOnStatus): Rule => ({
    name: `failOnStatus ${JSON.stringify(failOnStatus)}`, options: withMembers({ failOnStatus }), code: 'ERR_STICKY_INVALID_OPTION', option: 'failOnStatus'
  })),
  { name: "failOnTimeout 'yes'", options: withMembers({ failOnTimeout: 'yes' }), code: 'ERR_STICKY_INVALID_OPTION', option: 'failOnTimeout' },
  { name: 'failOnTimeout 1', options: withMembers({ failOnTimeout: 1 }), code: 'ERR_STICKY_INVALID_OPTION', option: 'failOnTimeout' },
  // --- healthCheck: shape
  ...['GET', true, false, null, [], 30].map((healthCheck): Rule => ({ name: `healthCheck ${JSON.stringify(healthCheck)}`, options: withMembers({ healthCheck }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'healthCheck' })),
  { name: 'unknown healthCheck option', options: withMembers({ healthCheck: { hcuri: '/' } }), code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'healthCheck.hcuri' },
  // --- healthCheck.method
  ...['get', 'POST', 'tcp', '', 1, null].map((method): Rule => ({ name: `healthCheck.method ${JSON.stringify(method)}`, options: withMembers({ healthCheck: { method } }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'healthCheck.method' })),
  // --- healthCheck.uri: a path, printable ASCII, no space or CRLF (no header injection)
  ...['health', '', '/a b', '/a\r\nX-Injected: 1', '/a\nb', '/a\tb', '/é', 'http://x/health', '//\u007f', 1, null].map((uri): Rule => ({
    name: `healthCheck.uri ${JSON.stringify(uri)}`, options: withMembers({ healthCheck: { uri } }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'healthCheck.uri'
  })),
  // --- healthCheck.interval / timeout
  ...[0, -1, '30', Number.NaN, 86_401, null].map((interval): Rule => ({ name: `healthCheck.interval ${String(interval)}`, options: withMembers({ healthCheck: { interval } }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'healthCheck.interval' })),
  ...[0, -2, '5', 86_401].map((timeout): Rule => ({ name: `healthCheck.timeout ${String(timeout)}`, options: withMembers({ healthCheck: { timeout } }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'healthCheck.timeout' })),
  // --- healthCheck.passes / fails
  ...(['passes', 'fails'] as const).flatMap(field => [0, -1, 1.5, 1001, '2', null, Number.NaN].map((value): Rule => ({
    name: `healthCheck.${field} ${String(value)}`, options: withMembers({ healthCheck: { [field]: value } }), code: 'ERR_STICKY_HEALTH_CHECK', option: `healthCheck.${field}`
  }))),
  // --- healthCheck.expect
  ...[[], [99], [600], ['200'], [200.5], 200, 'ok', {}, null, true].map((expect): Rule => ({
    name: `healthCheck.expect ${JSON.stringify(expect)}`, options: withMembers({ healthCheck: { expect } }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'healthCheck.expect'
  })),
  // --- members[].healthCheck
  ...[true, null, 'GET', []].map((healthCheck): Rule => ({ name: `member healthCheck ${JSON.stringify(healthCheck)}`, options: withMember({ healthCheck }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'members[0].healthCheck' })),
  { name: 'member healthCheck.uri with a space', options: withMember({ healthCheck: { uri: '/a b' } }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'members[0].healthCheck.uri' },
  { name: 'member healthCheck.method', options: withMember({ healthCheck: { method: 'PUT' } }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'members[0].healthCheck.method' },
  { name: 'member healthCheck.fails', options: withMember({ healthCheck: { fails: 0 } }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'members[0].healthCheck.fails' },
  { name: 'member healthCheck.interval', options: withMember({ healthCheck: { interval: -5 } }), code: 'ERR_STICKY_HEALTH_CHECK', option: 'members[0].healthCheck.interval' },
  { name: 'member healthCheck unknown key', options: withMember({ healthCheck: { path: '/' } }), code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'members[0].healthCheck.path' },
  { name: 'member healthCheck bad, with a balancer check', options: { ...(withMember({ healthCheck: { passes: 'x' } }) as object), healthCheck: { method: 'TCP' } }, code: 'ERR_STICKY_HEALTH_CHECK', option: 'members[0].healthCheck.passes' }
]

for (const rule of rules) {
  t.test(`rejects: ${rule.name}`, async t => {
    let caught: unknown
    try {
      resolveOptions(rule.options as StickyOptions)
    } catch (err) {
      caught = err
    }
    t.ok(caught instanceof StickyConfigError, 'throws a StickyConfigError')
    if (!(caught instanceof StickyConfigError)) return
    t.equal(caught.code, rule.code, 'code')
    t.equal(caught.option, rule.option, 'option path')
    t.ok(caught.message.includes(`\`${rule.option}\``), `message names the option: ${caught.message}`)
    t.throws(() => createBalancer(rule.options as StickyOptions), { code: rule.code, option: rule.option }, 'createBalancer throws the same')
  })
}

t.test('the healthCheck shape error offers false only for a member', async t => {
  t.throws(() => resolveOptions(withMembers({ healthCheck: true }) as StickyOptions), { message: /interval: 10 \}, got true/ })
  t.throws(() => resolveOptions(withMember({ healthCheck: true }) as StickyOptions), { message: /interval: 10 \} or false, got true/ })
})

// ---------------------------------------------------------------------------------------------
// Accepted values and defaults
// ---------------------------------------------------------------------------------------------

t.test('accepted boundary values', async t => {
  const ok = (options: unknown, what: string): void => { t.doesNotThrow(() => resolveOptions(options as StickyOptions), what) }
  ok(withMember({ lbSet: 0 }), 'lbSet 0')
  ok(withMember({ lbSet: 99 }), 'lbSet 99')
  for (const flag of ['disabled', 'draining', 'hotStandby', 'stopped', 'ignoreErrors']) ok(withMember({ [flag]: true }), `${flag}: true`)
  ok(withMember({ timeout: 86_400 }), 'member timeout 86400')
  ok(withMembers({ timeout: 0.0001 }), 'timeout 0.0001')
  ok(withMembers({ failOnStatus: [] }), 'failOnStatus []')
  ok(withMembers({ failOnStatus: [100, 599] }), 'failOnStatus [100, 599]')
  ok(withMembers({ failOnTimeout: true }), 'failOnTimeout')
  ok(withMembers({ healthCheck: {} }), 'healthCheck {}')
  ok(withMembers({ healthCheck: { uri: "/health?x=1&y=%20~!$'()*+,;=:@" } }), 'uri with a query and sub-delims')
  ok(withMembers({ healthCheck: { passes: 1000, fails: 1000, interval: 86_400, timeout: 86_400 } }), 'maxima')
  ok(withMembers({ healthCheck: { expect: [100, 599] } }), 'expect boundaries')
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'TCP']) ok(withMembers({ healthCheck: { method } }), `method ${method}`)
  ok(withMember({ healthCheck: false }), 'member healthCheck false without a balancer check')
})

t.test('resolved values: member flags, lbSet, timeouts in ms, failOnStatus as a set', async t => {
  const o = resolveOptions({
    members: [{ url: URL1, route: 'a', lbSet: 3, hotStandby: true, draining: true, stopped: true, ignoreErrors: true, disabled: true, timeout: 2.5 }],
    timeout: 0.0001,
    failOnStatus: [503, 500, 503],
    failOnTimeout: true
  })
  t.match(o.members[0], { lbSet: 3, hotStandby: true, draining: true, stopped: true, ignoreErrors: true, disabled: true, timeoutMs: 2500, healthCheck: undefined })
  t.equal(o.timeoutMs, 1, 'rounded to whole ms, at least 1')
  t.same([...o.failOnStatus].sort(), [500, 503])
  t.ok(o.failOnStatus.has(503))
  t.equal(o.failOnTimeout, true)
  t.ok(Object.isFrozen(o.members[0]))
})

t.test('healthCheck defaults: GET /, every 30 s, timeout the smaller of interval and 5 s, 1 pass, 1 fail', async t => {
  const check = (healthCheck: HealthCheckOptions): ResolvedHealthCheck => {
    const c = resolveOptions({ members: M, healthCheck }).healthCheck
    if (c === undefined) throw new Error('no check')
    return c
  }
  const d = check({})
  t.match(d, { method: 'GET', uri: '/', intervalMs: 30_000, timeoutMs: 5000, passes: 1, fails: 1, readBody: false })
  t.ok(Object.isFrozen(d))
  t.equal(d.expect({ status: 204, headers: {}, body: '' }), true)
  t.equal(d.expect({ status: 404, headers: {}, body: '' }), false)
  const rows: Array<[HealthCheckOptions, number, number]> = [
    [{ interval: 2 }, 2000, 2000],
    [{ interval: 0.5 }, 500, 500],
    [{ interval: 5 }, 5000, 5000],
    [{ interval: 60 }, 60_000, 5000],
    [{ interval: 10, timeout: 8 }, 10_000, 8000],
    [{ interval: 1, timeout: 3 }, 1000, 3000],
    [{ timeout: 1 }, 30_000, 1000],
    [{ interval: 0.0001 }, 1, 1]
  ]
  for (const [options, intervalMs, timeoutMs] of rows) {
    t.match(check(options), { intervalMs, timeoutMs }, JSON.stringify(options))
  }
  t.equal(resolveOptions({ members: M }).healthCheck, undefined, 'no healthCheck: none')
})

t.test('readBody: only a GET judged by the application\'s own function reads the body', async t => {
  const fn = (): boolean => true
  const rows: Array<[HealthCheckOptions, boolean]> = [
    [{}, false],
    [{ expect: [200] }, false],
    [{ expect: fn }, true],
    [{ expect: fn, method: 'HEAD' }, false],
    [{ expect: fn, method: 'OPTIONS' }, false],
    [{ expect: fn, method: 'TCP' }, false]
  ]
  for (const [healthCheck, readBody] of rows) {
    t.equal(resolveOptions({ members: M, healthCheck }).healthCheck?.readBody, readBody, JSON.stringify({ ...healthCheck, expect: typeof healthCheck.expect }))
  }
})

// ---------------------------------------------------------------------------------------------
// members[].healthCheck: inherits the balancer's
// ---------------------------------------------------------------------------------------------

function memberChecks (healthCheck: HealthCheckOptions | undefined, overrides: Array<HealthCheckOptions | false | undefined>): Array<ResolvedHealthCheck | undefined> {
  const members = overrides.map((hc, i) => ({ url: `http://127.0.0.1:${8081 + i}`, route: `m${i}`, ...(hc === undefined ? {} : { healthCheck: hc }) }))
  return resolveOptions({ members, ...(healthCheck === undefined ? {} : { healthCheck }) }).members.map(m => m.healthCheck)
}

t.test('members[].healthCheck: left out = the balancer\'s, false = none, an object overrides field by field', async t => {
  const expect = (r: { status: number }): boolean => r.status === 299
  const base: HealthCheckOptions = { method: 'HEAD', uri: '/base', interval: 12, timeout: 3, passes: 4, fails: 6, expect }
  const [same, none, empty, uri, passes] = memberChecks(base, [undefined, false, {}, { uri: '/mine', method: 'GET' }, { passes: 1 }])
  const balancer = resolveOptions({ members: M, healthCheck: base }).healthCheck
  t.match(same, { method: 'HEAD', uri: '/base', intervalMs: 12_000, timeoutMs: 3000, passes: 4, fails: 6 }, 'left out: the balancer\'s')
  t.same(same, balancer)
  t.equal(none, undefined, 'false: none')
  t.same(empty, balancer, '{}: the same fields')
  t.match(uri, { method: 'GET', uri: '/mine', intervalMs: 12_000, timeoutMs: 3000, passes: 4, fails: 6, readBody: true }, 'uri and method overridden, the rest inherited (the function now reads GET bodies)')
  t.equal(uri?.expect, expect, 'expect inherited')
  t.match(passes, { passes: 1, fails: 6 })
  const [list] = memberChecks(base, [{ expect: [200] }])
  t.equal(list?.expect({ status: 200, headers: {}, body: '' }), true, 'a member list replaces the balancer function')
  t.equal(list?.readBody, false)
})

t.test('members[].healthCheck without a balancer check: the defaults', async t => {
  const [own, none] = memberChecks(undefined, [{ uri: '/own' }, undefined])
  t.match(own, { method: 'GET', uri: '/own', intervalMs: 30_000, timeoutMs: 5000, passes: 1, fails: 1 })
  t.equal(none, undefined, 'the others have none')
})

t.test('members[].healthCheck: a default timeout follows the member\'s own interval', async t => {
  // The balancer's timeout was not given: it is the smaller of its interval and 5 s, and so is the member's.
  const [short, long] = memberChecks({ interval: 60 }, [{ interval: 2 }, { interval: 120 }])
  t.match(short, { intervalMs: 2000, timeoutMs: 2000 })
  t.match(long, { intervalMs: 120_000, timeoutMs: 5000 })
  const [fromShort] = memberChecks({ interval: 2 }, [{ interval: 60 }])
  t.match(fromShort, { intervalMs: 60_000, timeoutMs: 5000 }, 'a 2 s default timeout does not stick to a 60 s interval')
  const [own] = memberChecks({ timeout: 1 }, [{ interval: 60, timeout: 4 }])
  t.match(own, { intervalMs: 60_000, timeoutMs: 4000 }, 'the member\'s own timeout wins')
})

t.test('members[].healthCheck: an explicit balancer timeout is inherited even when the member sets its interval', async t => {
  // healthCheck.timeout "Defaults to the smaller of interval and 5": the balancer's timeout was given,
  // so the member, which overrides only the interval, must keep it.
  const [m] = memberChecks({ interval: 10, timeout: 2 }, [{ interval: 20 }])
  t.match(m, { intervalMs: 20_000, timeoutMs: 2000 })
  const [n] = memberChecks({ timeout: 1 }, [{ interval: 60 }])
  t.match(n, { intervalMs: 60_000, timeoutMs: 1000 })
})
