/**
 * Opaque routes (routeCookie.opaque): the balancer cookie carries a keyed hash of the route, a
 * plain route is no route, previous keys still route (and the cookie is re-issued with the
 * current key), and no key ever shows in a log line, an inspected object or an error message.
 */
import { createHmac } from 'node:crypto'
import { inspect } from 'node:util'
import t from 'tap'
import {
  createBalancer,
  MIN_OPAQUE_KEY_LENGTH,
  OpaqueRouteKeys,
  resolveOptions,
  ROUTE_TOKEN_LENGTH,
  routeToken,
  StickyConfigError,
  type Decision,
  type RouteEvent,
  type Routed,
  type StickyOptions
} from '@stickyroute/core'

const KEY = 'k1-0123456789abcdef0123456789abcdef'
const OLD = 'k0-fedcba9876543210fedcba9876543210'
const OLDER = 'k9-00000000000000000000000000000000'
const A = 'http://127.0.0.1:8081'
const B = 'http://127.0.0.1:8082'
const C = 'http://127.0.0.1:8083'
const MEMBERS = [{ url: A, route: 'node1' }, { url: B, route: 'node2' }, { url: C, route: 'node3' }]
const ATTRS = '; Path=/; HttpOnly; SameSite=Lax'

function opaque (extra: Partial<StickyOptions> = {}, previousKeys: string[] = [OLD, OLDER]): StickyOptions {
  return { members: MEMBERS, routeCookie: { name: 'ROUTEID', opaque: { key: KEY, previousKeys } }, ...extra }
}

function routed (d: Decision): Routed {
  if (!d.ok) throw new Error(`expected a member, got ${JSON.stringify(d)}`)
  return d
}

/** The token as documented: the first 22 characters of base64url(HMAC-SHA256(key, route)). */
function documented (key: string, route: string): string {
  return createHmac('sha256', key).update(route).digest('base64url').slice(0, 22)
}

t.test('a token is the first 22 base64url characters of HMAC-SHA256(key, route)', async t => {
  t.equal(ROUTE_TOKEN_LENGTH, 22)
  t.equal(MIN_OPAQUE_KEY_LENGTH, 32)
  for (const route of ['node1', 'node2', 'a', 'x'.repeat(255)]) {
    const token = routeToken(KEY, route)
    t.equal(token, documented(KEY, route), route.slice(0, 10))
    t.match(token, /^[A-Za-z0-9_-]{22}$/, 'cookie-safe, no padding')
    t.not(token, routeToken(OLD, route), 'another key gives another token')
  }
  t.not(routeToken(KEY, 'node1'), routeToken(KEY, 'node2'), 'another route gives another token')
})

t.test('opaque: a new client gets NAME=.<token of its member>, never the route name', async t => {
  const balancer = createBalancer(opaque())
  for (const route of ['node1', 'node2', 'node3']) {
    const d = routed(balancer.select({}))
    t.equal(d.route, route)
    t.equal(d.setCookie, `ROUTEID=.${documented(KEY, route)}${ATTRS}`, `${route}: the exact Set-Cookie line`)
    t.notMatch(d.setCookie, /node/, 'no member name in the cookie')
    t.equal(d.routeChanged, true)
    t.equal(d.rekeyed, false)
  }
  const secure = routed(balancer.select({ secure: true }))
  t.equal(secure.setCookie, `ROUTEID=.${documented(KEY, secure.route)}; Path=/; HttpOnly; Secure; SameSite=Lax`, 'Secure over HTTPS')
})

t.test('opaque: the token routes back to its member without a new cookie', async t => {
  const balancer = createBalancer(opaque())
  const events: RouteEvent[] = []
  balancer.on('route', e => events.push(e))
  for (const route of ['node2', 'node3', 'node1']) {
    const d = routed(balancer.select({ cookie: `ROUTEID=.${routeToken(KEY, route)}` }))
    t.equal(d.route, route)
    t.equal(d.routeChanged, false)
    t.equal(d.rekeyed, false)
    t.equal(d.setCookie, undefined)
    t.equal(d.clientRoute, route, 'clientRoute is the route the token stands for')
    t.equal(d.routeSource, 'cookie')
  }
  // Apache's rule for the value: the route (here the token) is the text after the first separator.
  t.equal(routed(balancer.select({ cookie: `ROUTEID=abc.${routeToken(KEY, 'node2')}` })).route, 'node2')
  // The URL parameter of the same name carries a token too, and wins over the cookie.
  const fromUrl = routed(balancer.select({ url: `/x?ROUTEID=.${routeToken(KEY, 'node3')}`, cookie: `ROUTEID=.${routeToken(KEY, 'node1')}` }))
  t.equal(fromUrl.route, 'node3')
  t.equal(fromUrl.routeSource, 'url')
  t.same(events, [], 'no route event')
})

t.test('opaque: a plain route, an unknown token or a token of a dropped key is no route', async t => {
  const balancer = createBalancer(opaque({ noFailover: true }))
  const events: RouteEvent[] = []
  balancer.on('route', e => events.push(e))
  const cases = [
    ['a plain route', 'ROUTEID=.node2'],
    ['a plain route in the URL', undefined, '/?ROUTEID=.node2'],
    ['an unknown token', `ROUTEID=.${'A'.repeat(22)}`],
    ['a token of a key not configured', `ROUTEID=.${routeToken('another-key-0123456789abcdef012345', 'node2')}`],
    ['a token cut short', `ROUTEID=.${routeToken(KEY, 'node2').slice(0, 21)}`],
    ['a token with one more character', `ROUTEID=.${routeToken(KEY, 'node2')}x`],
    ['a token in another letter case', `ROUTEID=.${routeToken(KEY, 'node2').toUpperCase()}`]
  ] as const
  for (const [name, cookie, url] of cases) {
    events.length = 0
    const d = routed(balancer.select({ cookie, url }))
    t.equal(d.routeChanged, true, `${name}: balanced (never a 503, even with noFailover)`)
    t.equal(d.clientRoute, undefined, `${name}: no client route`)
    t.equal(d.setCookie, `ROUTEID=.${routeToken(KEY, d.route)}${ATTRS}`, `${name}: a fresh cookie with the current key`)
    t.match(events, [{ from: undefined, to: d.route, reason: 'unknown-route' }], `${name}: an unknown-route event`)
  }
  // No separator: no token at all, a new client.
  events.length = 0
  const none = routed(balancer.select({ cookie: 'ROUTEID=abc' }))
  t.equal(none.clientRoute, undefined)
  t.match(events, [{ from: undefined, reason: 'new-client' }], 'a value without a separator is a new client')
})

t.test('opaque: a token of a previous key routes to the same member and re-issues the cookie with the current key', async t => {
  const balancer = createBalancer(opaque())
  const events: RouteEvent[] = []
  balancer.on('route', e => events.push(e))
  for (const key of [OLD, OLDER]) {
    for (const route of ['node1', 'node3']) {
      const d = routed(balancer.select({ cookie: `ROUTEID=.${routeToken(key, route)}` }))
      t.equal(d.route, route, `${key.slice(0, 2)} ${route}: the same member`)
      t.equal(d.routeChanged, false, 'the route did not change')
      t.equal(d.rekeyed, true, 'rekeyed')
      t.equal(d.clientRoute, route)
      t.equal(d.setCookie, `ROUTEID=.${routeToken(KEY, route)}${ATTRS}`, 'the cookie re-issued with the current key')
    }
  }
  t.same(events, [], 'no route event: the client was not re-pinned')
  const secure = routed(balancer.select({ cookie: `ROUTEID=.${routeToken(OLD, 'node2')}`, secure: true }))
  t.equal(secure.setCookie, `ROUTEID=.${routeToken(KEY, 'node2')}; Path=/; HttpOnly; Secure; SameSite=Lax`)
  // The re-issued cookie then routes without another cookie.
  const next = routed(balancer.select({ cookie: `ROUTEID=.${routeToken(KEY, 'node2')}` }))
  t.same([next.route, next.rekeyed, next.setCookie], ['node2', false, undefined])
  // Rotating again: the old current key becomes a previous key, the oldest one is dropped.
  const NEW = 'k2-abcdefabcdefabcdefabcdefabcdefab'
  const rotated = createBalancer({ members: MEMBERS, routeCookie: { opaque: { key: NEW, previousKeys: [KEY] } } })
  t.equal(routed(rotated.select({ cookie: `ROUTEID=.${routeToken(KEY, 'node2')}` })).rekeyed, true)
  t.equal(routed(rotated.select({ cookie: `ROUTEID=.${routeToken(OLDER, 'node2')}` })).clientRoute, undefined, 'a dropped key is no route')
})

t.test('opaque: a previous-key token naming a member that cannot serve fails over like any route', async t => {
  const balancer = createBalancer(opaque())
  balancer.set('node2', { disabled: true })
  const d = routed(balancer.select({ cookie: `ROUTEID=.${routeToken(OLD, 'node2')}` }))
  t.not(d.route, 'node2')
  t.equal(d.routeChanged, true)
  t.equal(d.rekeyed, false, 'routeChanged says why the cookie is written')
  t.equal(d.setCookie, `ROUTEID=.${routeToken(KEY, d.route)}${ATTRS}`)
  const nofailover = createBalancer(opaque({ noFailover: true }))
  nofailover.set('node2', { disabled: true })
  t.match(nofailover.select({ cookie: `ROUTEID=.${routeToken(OLD, 'node2')}` }), { ok: false, reason: 'nofailover', clientRoute: 'node2' }, 'noFailover: 503')
  // Failover after a connect failure, from a re-keyed decision: a new member, a new cookie.
  const b = createBalancer(opaque())
  const first = routed(b.select({ cookie: `ROUTEID=.${routeToken(OLD, 'node1')}` }))
  t.equal(first.rekeyed, true)
  const next = routed(b.failover(first))
  t.not(next.route, 'node1')
  t.same([next.routeChanged, next.rekeyed, next.setCookie], [true, false, `ROUTEID=.${routeToken(KEY, next.route)}${ATTRS}`])
})

t.test('opaque: members sharing a route share its token; a previous key equal to the key changes nothing', async t => {
  const balancer = createBalancer({
    members: [{ url: A, route: 'shared' }, { url: B, route: 'shared' }, { url: C, route: 'other' }],
    routeCookie: { opaque: { key: KEY, previousKeys: [KEY] } }
  })
  const d = routed(balancer.select({ cookie: `ROUTEID=.${routeToken(KEY, 'shared')}` }))
  t.same([d.member.url, d.rekeyed, d.setCookie], [A, false, undefined], 'the current key wins: not rekeyed')
  balancer.set(A, { disabled: true })
  const e = routed(balancer.select({ cookie: `ROUTEID=.${routeToken(KEY, 'shared')}` }))
  t.same([e.member.url, e.routeChanged], [B, false], 'the next member of the route, the same token')
})

t.test('opaque: routes changed or added at runtime get their tokens; the old route\'s token names no member', async t => {
  const balancer = createBalancer(opaque())
  balancer.update(B, { route: 'node2b' })
  const old = routed(balancer.select({ cookie: `ROUTEID=.${routeToken(KEY, 'node2')}` }))
  t.equal(old.clientRoute, 'node2', 'the token still stands for its route')
  t.equal(old.routeChanged, true, 'which names no member now: re-balanced')
  const renamed = routed(balancer.select({ cookie: `ROUTEID=.${routeToken(KEY, 'node2b')}` }))
  t.same([renamed.member.url, renamed.routeChanged], [B, false], 'the new route\'s token routes')
  t.equal(routed(balancer.select({ cookie: `ROUTEID=.${routeToken(OLD, 'node2b')}` })).rekeyed, true, 'previous keys apply to new routes too')
  const D = 'http://127.0.0.1:8084'
  balancer.add({ url: D, route: 'node4', disabled: false })
  const added = routed(balancer.select({ cookie: `ROUTEID=.${routeToken(KEY, 'node4')}` }))
  t.same([added.member.url, added.routeChanged], [D, false])
  // Balancing to the renamed member writes the new route's token.
  const all = [A, C, D]
  for (const url of all) balancer.set(url, { disabled: true })
  t.equal(routed(balancer.select({})).setCookie, `ROUTEID=.${routeToken(KEY, 'node2b')}${ATTRS}`)
})

t.test('opaque without a separator: the whole value is the token', async t => {
  const balancer = createBalancer(opaque({ routeSeparator: false }))
  const d = routed(balancer.select({}))
  t.equal(d.setCookie, `ROUTEID=${routeToken(KEY, d.route)}${ATTRS}`)
  t.equal(routed(balancer.select({ cookie: `ROUTEID=${routeToken(KEY, 'node3')}` })).route, 'node3')
  t.equal(routed(balancer.select({ cookie: 'ROUTEID=node3' })).clientRoute, undefined, 'a plain route is no route')
})

t.test('opaque: no key in logs, inspected options or decisions; no raw session id in a decision', async t => {
  const balancer = createBalancer(opaque())
  const options = resolveOptions(opaque())
  for (const [name, text] of [
    ['JSON of the balancer options', JSON.stringify(balancer.options)],
    ['JSON of resolved options', JSON.stringify(options)],
    ['inspected options', inspect(options, { depth: Infinity, showHidden: true })],
    ['inspected balancer', inspect(balancer, { depth: Infinity, showHidden: true })]
  ] as const) {
    for (const key of [KEY, OLD, OLDER]) t.notOk(text.includes(key), `${name}: no key`)
  }
  t.same(JSON.parse(JSON.stringify(options.routeCookie)).opaque, { opaque: true, previousKeys: 2 }, 'the options show that routes are opaque')
  const d = balancer.select({ cookie: `ROUTEID=SECRETSESSION.${routeToken(OLD, 'node2')}` })
  const line = JSON.stringify(d)
  t.same(Object.keys(JSON.parse(line)).sort(), ['attempt', 'clientRoute', 'member', 'ok', 'rekeyed', 'route', 'routeChanged', 'routeSource', 'setCookie'])
  t.notOk(line.includes('SECRETSESSION'), 'no raw session id')
  t.notOk(line.includes(routeToken(OLD, 'node2')), 'not the token the client sent')
  for (const key of [KEY, OLD, OLDER]) t.notOk(line.includes(key), 'no key')
  t.notOk(inspect(d, { depth: Infinity }).includes(KEY), 'inspected decision: no key')
  const keys = new OpaqueRouteKeys(KEY, [OLD])
  t.same([keys.previousKeys, keys.token('x'), keys.previousTokens('x')], [1, routeToken(KEY, 'x'), [routeToken(OLD, 'x')]])
})

interface Refusal { name: string, routeCookie?: unknown, stickySession?: unknown, option: string, secret?: string }

const SHORT = 'short-secret-31-characters-long'
t.test('opaque options are validated, and an error never prints a key', async t => {
  t.equal(SHORT.length, 31)
  const refusals: Refusal[] = [
    { name: 'opaque true', routeCookie: { opaque: true }, option: 'routeCookie.opaque' },
    { name: 'opaque a string (the key itself)', routeCookie: { opaque: KEY }, option: 'routeCookie.opaque', secret: KEY },
    { name: 'opaque an array', routeCookie: { opaque: [KEY] }, option: 'routeCookie.opaque' },
    { name: 'key missing', routeCookie: { opaque: {} }, option: 'routeCookie.opaque.key' },
    { name: 'key not a string', routeCookie: { opaque: { key: 1234 } }, option: 'routeCookie.opaque.key' },
    { name: 'key 31 characters', routeCookie: { opaque: { key: SHORT } }, option: 'routeCookie.opaque.key', secret: SHORT },
    { name: 'key empty', routeCookie: { opaque: { key: '' } }, option: 'routeCookie.opaque.key' },
    { name: 'previousKeys a string', routeCookie: { opaque: { key: KEY, previousKeys: OLD } }, option: 'routeCookie.opaque.previousKeys', secret: OLD },
    { name: 'previousKeys with a number', routeCookie: { opaque: { key: KEY, previousKeys: [OLD, 42] } }, option: 'routeCookie.opaque.previousKeys[1]' },
    { name: 'previousKeys with a short key', routeCookie: { opaque: { key: KEY, previousKeys: [SHORT] } }, option: 'routeCookie.opaque.previousKeys[0]', secret: SHORT },
    { name: 'an unknown opaque option', routeCookie: { opaque: { key: KEY, keys: [OLD] } }, option: 'routeCookie.opaque.keys' },
    { name: 'stickySession JSESSIONID|jsessionid (Method 1)', stickySession: 'JSESSIONID|jsessionid', routeCookie: { opaque: { key: KEY } }, option: 'routeCookie.opaque' },
    { name: 'stickySession JSESSIONID|jsessionid, routeCookie named JSESSIONID', stickySession: 'JSESSIONID|jsessionid', routeCookie: { name: 'JSESSIONID', opaque: { key: KEY } }, option: 'routeCookie.opaque' },
    { name: 'stickySession with another URL parameter', stickySession: { cookie: 'ROUTEID', urlParam: 'rid' }, routeCookie: { opaque: { key: KEY } }, option: 'routeCookie.opaque' }
  ]
  for (const r of refusals) {
    const options = { members: MEMBERS, routeCookie: r.routeCookie, ...(r.stickySession === undefined ? {} : { stickySession: r.stickySession }) }
    let error: unknown
    try { resolveOptions(options as StickyOptions) } catch (err) { error = err }
    if (!(error instanceof StickyConfigError)) {
      t.fail(`${r.name}: expected a StickyConfigError, got ${String(error)}`)
      continue
    }
    t.equal(error.option, r.option, `${r.name}: names ${r.option}`)
    t.equal(error.code, r.option === 'routeCookie.opaque.keys' ? 'ERR_STICKY_UNKNOWN_OPTION' : 'ERR_STICKY_COOKIE_ATTRIBUTE', `${r.name}: code`)
    t.match(error.message, r.option, `${r.name}: the message names the option`)
    for (const secret of [KEY, OLD, SHORT, r.secret].filter(s => s !== undefined)) {
      t.notOk(error.message.includes(secret) || String(error.stack).includes(secret), `${r.name}: no key in the message`)
    }
  }
  // Accepted shapes.
  for (const [name, extra] of [
    ['opaque: false', { routeCookie: { opaque: false } }],
    ['stickySession: ROUTEID', { stickySession: 'ROUTEID', routeCookie: { opaque: { key: KEY } } }],
    ['stickySession without a URL parameter', { stickySession: { cookie: 'ROUTEID', urlParam: false }, routeCookie: { opaque: { key: KEY } } }],
    ['stickySession naming the cookie twice', { stickySession: 'ROUTEID|ROUTEID', routeCookie: { opaque: { key: KEY, previousKeys: [] } } }]
  ] as const) {
    t.doesNotThrow(() => resolveOptions({ members: MEMBERS, ...extra } as StickyOptions), name)
  }
  t.equal(resolveOptions({ members: MEMBERS, routeCookie: { opaque: false } }).routeCookie?.opaque, undefined, 'opaque: false is off')
  t.equal(resolveOptions({ members: MEMBERS, routeCookie: 'ROUTEID' }).routeCookie?.opaque, undefined, 'off by default')
})
