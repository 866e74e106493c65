/**
 * Runtime control, the programmatic balancer-manager: members(), member(), set(), update(),
 * add() and remove(), and what each changes for the next request.
 */
import t, { type Test } from 'tap'
import {
  createBalancer,
  StickyConfigError,
  StickyError,
  type Balancer,
  type Decision,
  type MemberOptions,
  type StickyErrorCode,
  type StickyOptions
} from '@stickyroute/core'
import { A, B, C, D, IDLE_STATUS, MEMBERS, newClients, routed } from './fixtures.js'

const cookieOf = (route: string): string => `ROUTEID=.${route}; Path=/; HttpOnly; SameSite=Lax`

function setup (options: Partial<StickyOptions> = {}): { balancer: Balancer, clock: { now: number } } {
  const clock = { now: 5000 }
  const balancer = createBalancer({ members: MEMBERS, routeCookie: 'ROUTEID', now: () => clock.now, ...options })
  return { balancer, clock }
}

/** Calls `fn` and returns the StickyError it throws (failing the test when it throws none). */
function thrown (t: Test, fn: () => unknown, code: StickyErrorCode, what: string): StickyError | undefined {
  try {
    fn()
  } catch (err) {
    t.ok(err instanceof StickyError, `${what}: a StickyError`)
    t.equal((err as StickyError).code, code, `${what}: ${code}`)
    return err as StickyError
  }
  t.fail(`${what}: expected ${code}`)
  return undefined
}

// ---------------------------------------------------------------------------------------------
// members() and member()
// ---------------------------------------------------------------------------------------------

t.test('members(): one status per member, in order, a snapshot', async t => {
  const { balancer } = setup({ healthCheck: { method: 'TCP' }, members: [...MEMBERS.slice(0, 2), { url: C, route: 'c', healthCheck: false, loadFactor: 2, lbSet: 3 }] })
  const list = balancer.members()
  t.same(list.map(m => [m.url, m.route, m.index, m.loadFactor, m.lbSet]), [[A, 'a', 0, 1, 0], [B, 'b', 1, 1, 0], [C, 'c', 2, 2, 3]])
  t.same(list[0], { url: A, route: 'a', index: 0, ...IDLE_STATUS, healthCheck: { passes: 0, fails: 0, last: undefined } })
  t.equal(list[2]?.healthCheck, undefined, 'no health check: undefined')
  balancer.set(A, { draining: true })
  t.equal(list[0]?.draining, false, 'a snapshot: later changes do not show in it')
})

t.test('member(): by URL (any spelling of the origin) or by a unique route', async t => {
  const { balancer } = setup()
  for (const selector of [B, `${B}/`, 'HTTP://127.0.0.1:8082', 'b']) {
    t.equal(balancer.member(selector).url, B, JSON.stringify(selector))
  }
})

t.test('member(): unknown, shared route, non-string: ERR_STICKY_UNKNOWN_MEMBER', async t => {
  const { balancer } = setup({ members: [{ url: A, route: 'x' }, { url: B, route: 'x' }, { url: C, route: 'c' }] })
  const shared = thrown(t, () => balancer.member('x'), 'ERR_STICKY_UNKNOWN_MEMBER', 'shared route')
  t.match(shared?.message, /2 members have the route "x".*http:\/\/127\.0\.0\.1:8081, http:\/\/127\.0\.0\.1:8082/, 'the message lists their URLs')
  t.equal(balancer.member(B).route, 'x', 'by URL it works')
  const unknown = thrown(t, () => balancer.member('zzz'), 'ERR_STICKY_UNKNOWN_MEMBER', 'unknown route')
  t.match(unknown?.message, /x=http:\/\/127\.0\.0\.1:8081/, 'the message lists the members')
  thrown(t, () => balancer.member(D), 'ERR_STICKY_UNKNOWN_MEMBER', 'unknown URL')
  thrown(t, () => balancer.member(42 as unknown as string), 'ERR_STICKY_UNKNOWN_MEMBER', 'a number')
  thrown(t, () => balancer.set('zzz', { draining: true }), 'ERR_STICKY_UNKNOWN_MEMBER', 'set()')
  thrown(t, () => balancer.update('zzz', { loadFactor: 2 }), 'ERR_STICKY_UNKNOWN_MEMBER', 'update()')
  await t.rejects(balancer.remove('zzz'), { code: 'ERR_STICKY_UNKNOWN_MEMBER' }, 'remove()')
})

// ---------------------------------------------------------------------------------------------
// set()
// ---------------------------------------------------------------------------------------------

t.test('set(): every operator flag, on and off, effective on the next request', async t => {
  const { balancer } = setup()
  for (const flag of ['disabled', 'draining', 'hotStandby', 'stopped', 'ignoreErrors', 'inError'] as const) {
    const on = balancer.set('b', { [flag]: true })
    t.equal(on[flag], true, `${flag} on`)
    t.equal(balancer.member('b')[flag], true, `${flag} on, read back`)
    const takesNew = newClients(balancer, 4).includes('b')
    t.equal(takesNew, flag === 'ignoreErrors', `${flag}: b takes new clients?`)
    const off = balancer.set(B, { [flag]: false })
    t.equal(off[flag], false, `${flag} off`)
    t.equal(off.status, 'Ok')
  }
  t.same(newClients(balancer, 3).sort(), ['a', 'b', 'c'])
})

t.test('set(): several flags at once; setting a flag to its value is a no-op', async t => {
  const { balancer } = setup()
  t.equal(balancer.set('a', { draining: true, hotStandby: true }).status, 'NH')
  t.equal(balancer.set('a', { draining: true }).status, 'NH')
  t.equal(balancer.set('a', {}).status, 'NH', 'an empty object changes nothing')
})

t.test('set(): bad flags are refused before anything changes', async t => {
  const { balancer } = setup()
  const rows: Array<{ name: string, flags: unknown, code: StickyErrorCode, option: string }> = [
    { name: 'unknown flag', flags: { drain: true }, code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'drain' },
    { name: 'healthCheckFailed belongs to the checks', flags: { healthCheckFailed: false }, code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'healthCheckFailed' },
    { name: 'a member option that is not a flag', flags: { loadFactor: 2 }, code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'loadFactor' },
    { name: 'a string', flags: { draining: 'true' }, code: 'ERR_STICKY_INVALID_OPTION', option: 'draining' },
    { name: 'a number', flags: { disabled: 1 }, code: 'ERR_STICKY_INVALID_OPTION', option: 'disabled' },
    { name: 'undefined', flags: { inError: undefined }, code: 'ERR_STICKY_INVALID_OPTION', option: 'inError' },
    { name: 'a good flag before a bad one', flags: { draining: true, stopped: 'yes' }, code: 'ERR_STICKY_INVALID_OPTION', option: 'stopped' },
    { name: 'a good flag before an unknown one', flags: { draining: true, drained: true }, code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'drained' },
    { name: 'null', flags: null, code: 'ERR_STICKY_INVALID_OPTION', option: 'flags' },
    { name: 'a string instead of an object', flags: 'draining', code: 'ERR_STICKY_INVALID_OPTION', option: 'flags' }
  ]
  for (const row of rows) {
    const err = thrown(t, () => balancer.set('a', row.flags as { draining: boolean }), row.code, row.name)
    t.ok(err instanceof StickyConfigError, `${row.name}: StickyConfigError`)
    t.equal((err as StickyConfigError | undefined)?.option, row.option, `${row.name}: option`)
  }
  t.equal(balancer.member('a').status, 'Ok', 'nothing was changed')
})

// ---------------------------------------------------------------------------------------------
// update()
// ---------------------------------------------------------------------------------------------

t.test('update(loadFactor): the next picks follow the new weight', async t => {
  const { balancer } = setup()
  const status = balancer.update('c', { loadFactor: 2 })
  t.equal(status.loadFactor, 2)
  t.same(newClients(balancer, 8), ['c', 'a', 'b', 'c', 'c', 'a', 'b', 'c'], 'like weights 1, 1, 2 from the start')
  const d = routed(t, balancer.select({ cookie: 'ROUTEID=.c' }))
  t.equal(d.member.loadFactor, 2, 'the decision shows the new weight')
})

t.test('update(lbSet): new clients follow the tiers at once', async t => {
  const { balancer } = setup()
  balancer.update('a', { lbSet: 1 })
  balancer.update(B, { lbSet: 1 })
  t.same(newClients(balancer, 3), ['c', 'c', 'c'])
  balancer.update('c', { lbSet: 2 })
  t.same(newClients(balancer, 2), ['a', 'b'])
  t.same(balancer.members().map(m => m.lbSet), [1, 1, 2])
})

t.test('update(route): the old route names no member (re-balanced), the new one is written and sticks', async t => {
  const { balancer } = setup()
  const events: string[] = []
  balancer.on('route', e => { events.push(`${e.from ?? '-'}>${e.to} ${e.reason}`) })
  const status = balancer.update('b', { route: 'b2' })
  t.same([status.route, status.url], ['b2', B])
  const old = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
  t.equal(old.routeChanged, true, 'old route: changed')
  t.equal(old.setCookie, cookieOf(old.route))
  t.same(events, [`b>${old.route} unknown-route`])
  const toB = routed(t, balancer.select({ cookie: 'ROUTEID=.b2' }))
  t.same([toB.member.url, toB.route, toB.routeChanged, toB.setCookie], [B, 'b2', false, undefined], 'the new route routes to B')
  balancer.set('a', { disabled: true })
  balancer.set('c', { disabled: true })
  t.equal(routed(t, balancer.select({ secure: true })).setCookie, 'ROUTEID=.b2; Path=/; HttpOnly; Secure; SameSite=Lax', 'the HTTPS cookie too')
  t.equal(balancer.member('b2').url, B, 'member() finds it by its new route')
  thrown(t, () => balancer.member('b'), 'ERR_STICKY_UNKNOWN_MEMBER', 'not by its old one')
})

t.test('update(route) to a route another member has: they share it', async t => {
  const { balancer } = setup()
  balancer.update('c', { route: 'a' })
  balancer.set(A, { disabled: true })
  const d = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))
  t.same([d.member.url, d.routeChanged], [C, false], 'the next member with route a')
})

t.test('update(): several changes at once; no change keeps the member as it is', async t => {
  const { balancer } = setup()
  t.same(pick(balancer.update('a', { loadFactor: 50, lbSet: 7, route: 'alpha' })), { loadFactor: 50, lbSet: 7, route: 'alpha' })
  t.same(pick(balancer.update('alpha', {})), { loadFactor: 50, lbSet: 7, route: 'alpha' })
})

function pick (m: { loadFactor: number, lbSet: number, route: string }): Record<string, unknown> {
  return { loadFactor: m.loadFactor, lbSet: m.lbSet, route: m.route }
}

t.test('update(): bad changes are refused before anything changes', async t => {
  const { balancer } = setup()
  const rows: Array<{ name: string, changes: unknown, code: StickyErrorCode, option: string }> = [
    { name: 'loadFactor 0', changes: { loadFactor: 0 }, code: 'ERR_STICKY_LOAD_FACTOR', option: 'loadFactor' },
    { name: 'loadFactor 101', changes: { loadFactor: 101 }, code: 'ERR_STICKY_LOAD_FACTOR', option: 'loadFactor' },
    { name: 'loadFactor a string', changes: { loadFactor: '2' }, code: 'ERR_STICKY_LOAD_FACTOR', option: 'loadFactor' },
    { name: 'lbSet -1', changes: { lbSet: -1 }, code: 'ERR_STICKY_INVALID_OPTION', option: 'lbSet' },
    { name: 'lbSet 100', changes: { lbSet: 100 }, code: 'ERR_STICKY_INVALID_OPTION', option: 'lbSet' },
    { name: 'lbSet 0.5', changes: { lbSet: 0.5 }, code: 'ERR_STICKY_INVALID_OPTION', option: 'lbSet' },
    { name: 'route empty', changes: { route: '' }, code: 'ERR_STICKY_ROUTE_NAME', option: 'route' },
    { name: 'route with a space', changes: { route: 'a b' }, code: 'ERR_STICKY_ROUTE_NAME', option: 'route' },
    { name: 'route with ;', changes: { route: 'a;b' }, code: 'ERR_STICKY_ROUTE_NAME', option: 'route' },
    { name: 'url cannot change', changes: { url: D }, code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'url' },
    { name: 'flags go through set()', changes: { draining: true }, code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'draining' },
    { name: 'a good change with a bad one', changes: { loadFactor: 5, route: 'bad route' }, code: 'ERR_STICKY_ROUTE_NAME', option: 'route' },
    { name: 'a good lbSet with a bad loadFactor', changes: { lbSet: 4, loadFactor: -1 }, code: 'ERR_STICKY_LOAD_FACTOR', option: 'loadFactor' },
    { name: 'null', changes: null, code: 'ERR_STICKY_INVALID_OPTION', option: 'changes' },
    { name: 'a number', changes: 2, code: 'ERR_STICKY_INVALID_OPTION', option: 'changes' }
  ]
  for (const row of rows) {
    const err = thrown(t, () => balancer.update('a', row.changes as { loadFactor: number }), row.code, row.name)
    t.equal((err as StickyConfigError | undefined)?.option, row.option, `${row.name}: option`)
  }
  t.same(pick(balancer.member('a')), { loadFactor: 1, lbSet: 0, route: 'a' }, 'nothing was changed')
})

// ---------------------------------------------------------------------------------------------
// add()
// ---------------------------------------------------------------------------------------------

t.test('add(): starts disabled (as Apache) until enabled; then takes new clients and routes', async t => {
  const { balancer } = setup()
  const added = balancer.add({ url: `${D}/`, route: 'd' })
  t.same([added.url, added.index, added.disabled, added.status], [D, 3, true, 'D'])
  t.notOk(newClients(balancer, 6).includes('d'), 'disabled: no new clients')
  const sticky = routed(t, balancer.select({ cookie: 'ROUTEID=.d' }))
  t.same([sticky.routeChanged, sticky.setCookie], [true, cookieOf(sticky.route)], 'disabled: its route fails over')
  balancer.set('d', { disabled: false })
  t.ok(newClients(balancer, 4).includes('d'), 'enabled: new clients')
  const back = routed(t, balancer.select({ cookie: 'ROUTEID=.d' }))
  t.same([back.member.url, back.routeChanged, back.setCookie], [D, false, undefined])
})

t.test('add({ disabled: false }) takes clients at once; other flags and options apply', async t => {
  const { balancer } = setup()
  balancer.set(A, { disabled: true })
  balancer.set(B, { disabled: true })
  balancer.set(C, { disabled: true })
  t.equal(balancer.select({}).ok, false, 'no member')
  const added = balancer.add({ url: D, route: 'd', disabled: false, loadFactor: 4, lbSet: 2, ignoreErrors: true, timeout: 3 })
  t.same([added.status, added.loadFactor, added.lbSet], ['I', 4, 2])
  const d = routed(t, balancer.select({}))
  t.same([d.member.url, d.setCookie], [D, cookieOf('d')])
  t.equal(balancer.timeoutOf(d), 3000, 'its timeout')
  const h = balancer.add({ url: 'http://127.0.0.1:8085', route: 'e', hotStandby: true, draining: true, stopped: true })
  t.equal(h.status, 'NDSH', 'disabled by default, plus its own flags')
})

t.test('add(): duplicate URL and bad options are refused, named as member.*', async t => {
  const { balancer } = setup()
  const rows: Array<{ name: string, member: unknown, code: StickyErrorCode, option: string }> = [
    { name: 'duplicate URL', member: { url: B, route: 'x' }, code: 'ERR_STICKY_DUPLICATE_MEMBER', option: 'member.url' },
    { name: 'duplicate URL in another spelling', member: { url: 'http://127.0.0.1:8082/', route: 'x' }, code: 'ERR_STICKY_DUPLICATE_MEMBER', option: 'member.url' },
    { name: 'no URL', member: { route: 'x' }, code: 'ERR_STICKY_MEMBER_URL', option: 'member.url' },
    { name: 'URL with a path', member: { url: `${D}/app`, route: 'x' }, code: 'ERR_STICKY_MEMBER_URL', option: 'member.url' },
    { name: 'bad route', member: { url: D, route: 'x y' }, code: 'ERR_STICKY_ROUTE_NAME', option: 'member.route' },
    { name: 'bad loadFactor', member: { url: D, route: 'x', loadFactor: 0 }, code: 'ERR_STICKY_LOAD_FACTOR', option: 'member.loadFactor' },
    { name: 'bad lbSet', member: { url: D, route: 'x', lbSet: 'one' }, code: 'ERR_STICKY_INVALID_OPTION', option: 'member.lbSet' },
    { name: 'bad flag', member: { url: D, route: 'x', disabled: 'no' }, code: 'ERR_STICKY_INVALID_OPTION', option: 'member.disabled' },
    { name: 'unknown option', member: { url: D, route: 'x', weight: 2 }, code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'member.weight' },
    { name: 'bad health check', member: { url: D, route: 'x', healthCheck: { interval: 0 } }, code: 'ERR_STICKY_HEALTH_CHECK', option: 'member.healthCheck.interval' },
    { name: 'not an object', member: D, code: 'ERR_STICKY_INVALID_OPTION', option: 'member' }
  ]
  for (const row of rows) {
    const err = thrown(t, () => balancer.add(row.member as MemberOptions), row.code, row.name)
    t.ok(err instanceof StickyConfigError, `${row.name}: StickyConfigError`)
    t.equal((err as StickyConfigError | undefined)?.option, row.option, `${row.name}: option`)
  }
  t.equal(balancer.members().length, 3, 'nothing was added')
})

t.test('add(): maxAttempts (default members - 1) follows the member count', async t => {
  const { balancer } = setup()
  const tries = (): number => {
    let n = 0
    let d: Decision = balancer.select({ cookie: 'ROUTEID=.a' })
    while (d.ok) {
      n++
      d = balancer.failover(d)
    }
    for (const m of balancer.members()) balancer.set(m.url, { inError: false })
    return n
  }
  t.equal(tries(), 3, 'three members: a and two more')
  balancer.add({ url: D, route: 'd', disabled: false })
  t.equal(tries(), 4, 'four members: three more')
  await balancer.remove('b')
  await balancer.remove('c')
  t.equal(tries(), 2, 'two members: one more')
  await balancer.remove('d')
  t.equal(tries(), 1, 'one member: no failover')
})

t.test('an explicit maxAttempts does not follow the member count', async t => {
  const { balancer } = setup({ maxAttempts: 1 })
  balancer.add({ url: D, route: 'd', disabled: false })
  let n = 0
  let d: Decision = balancer.select({ cookie: 'ROUTEID=.a' })
  while (d.ok) {
    n++
    d = balancer.failover(d)
  }
  t.equal(n, 2)
})

// ---------------------------------------------------------------------------------------------
// remove()
// ---------------------------------------------------------------------------------------------

t.test('remove(): never chosen again, its sticky clients re-balanced with a cookie, indices renumbered', async t => {
  const { balancer } = setup()
  const events: string[] = []
  balancer.on('route', e => { events.push(`${e.from ?? '-'}>${e.to} ${e.reason}`) })
  const removed = await balancer.remove('b')
  t.same([removed.url, removed.route, removed.busy], [B, 'b', 0])
  t.same(balancer.members().map(m => [m.route, m.index]), [['a', 0], ['c', 1]])
  const routes = newClients(balancer, 6)
  t.notOk(routes.includes('b'), `never b: ${routes.join(',')}`)
  const sticky = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
  t.same([sticky.routeChanged, sticky.setCookie], [true, cookieOf(sticky.route)])
  t.equal(events.at(-1), `b>${sticky.route} unknown-route`, 'its route now names no member')
  const c = routed(t, balancer.select({ cookie: 'ROUTEID=.c' }))
  t.same(c.member, { url: C, route: 'c', index: 1, loadFactor: 1, lbSet: 0 }, 'decisions show the new index')
  thrown(t, () => balancer.member(B), 'ERR_STICKY_UNKNOWN_MEMBER', 'member() no longer finds it')
  t.same(balancer.add({ url: B, route: 'b' }).index, 2, 'its URL may be added again, at the end')
})

t.test('remove(): resolves only once its requests in flight are finished', async t => {
  const { balancer } = setup({ failOnStatus: [500] })
  const d1 = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
  const d2 = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }))
  const other = routed(t, balancer.select({ cookie: 'ROUTEID=.a' }))
  let done = false
  const removing = balancer.remove('b').then(status => { done = true; return status })
  await new Promise(resolve => setImmediate(resolve))
  t.equal(done, false, 'two requests in flight: pending')
  t.notOk(newClients(balancer, 4).includes('b'), 'yet no new request goes to it')
  balancer.finished(d1, { status: 500 })
  balancer.finished(other)
  await new Promise(resolve => setImmediate(resolve))
  t.equal(done, false, 'one left: pending; a failOnStatus answer of a removed member does not put it in error')
  const next = balancer.failover(d2)
  t.equal(next.ok && next.member.url !== B, true, 'failing over from a removed member goes elsewhere')
  const status = await removing
  t.equal(done, true, 'the last one released (by failover): resolved')
  t.same([status.busy, status.requests, status.failures, status.inError], [0, 1, 2, false], 'its final counters')
  balancer.finished(d1)
  balancer.finished(d2)
  t.equal(status.busy, 0)
})

t.test('remove() of a member in error: forceRecovery still sees every remaining member in error', async t => {
  const { balancer } = setup()
  balancer.set('b', { inError: true })
  await balancer.remove('b')
  balancer.set('a', { inError: true })
  balancer.set('c', { inError: true })
  t.equal(balancer.select({}).ok, true, 'a and c put back')
  t.same(balancer.members().map(m => m.inError), [false, false])
})

t.test('remove() every member: 503 no-member; members() is empty', async t => {
  const { balancer } = setup()
  for (const url of [A, B, C]) await balancer.remove(url)
  t.same(balancer.members(), [])
  t.same(balancer.select({ cookie: 'ROUTEID=.a' }), { ok: false, status: 503, reason: 'no-member', clientRoute: 'a', attempt: 1 })
  const err = thrown(t, () => balancer.member('a'), 'ERR_STICKY_UNKNOWN_MEMBER', 'no members')
  t.match(err?.message, /Members: none/)
})

t.test('a member removed and re-added has fresh state', async t => {
  const { balancer } = setup()
  balancer.finished(routed(t, balancer.select({ cookie: 'ROUTEID=.b' })), { status: 200 })
  balancer.set('b', { inError: true })
  await balancer.remove('b')
  const again = balancer.add({ url: B, route: 'b', disabled: false })
  t.same([again.requests, again.elected, again.inError, again.status], [0, 0, false, 'Ok'])
})
