/**
 * gatewayConfigFromEnv: the environment interface shared by every example. It checks the form of
 * each variable only; what the values mean is the core's to check (last table).
 */
import { resolveOptions, type StickyErrorCode } from '@stickyroute/core'
import t from 'tap'
import { EnvConfigError, gatewayConfigFromEnv, withMemberSettings, type GatewayConfig } from '../../examples/shared/env.js'

type Env = Record<string, string | undefined>

const DEFAULTS: GatewayConfig = {
  port: 8080,
  host: '127.0.0.1',
  upstreams: undefined,
  options: { routeCookie: false, noFailover: false, retry: 60 },
  memberSettings: {}
}

/** The config for `env`: the defaults with `change` applied. */
const withDefaults = (change: Partial<GatewayConfig>): GatewayConfig =>
  ({ ...DEFAULTS, ...change, options: { ...DEFAULTS.options, ...change.options } })

t.test('defaults', async t => {
  t.same(gatewayConfigFromEnv({}), DEFAULTS, 'nothing set')
  const empty = ['PORT', 'HOST', 'STICKY_UPSTREAMS', 'STICKY_SESSION', 'STICKY_ROUTE_COOKIE', 'STICKY_NOFAILOVER', 'STICKY_RETRY',
    'STICKY_STATUS', 'STICKY_LBMETHOD', 'STICKY_LOADFACTORS', 'STICKY_LBSETS', 'STICKY_FAILONSTATUS', 'STICKY_TIMEOUT',
    'STICKY_HC', 'STICKY_HC_INTERVAL', 'STICKY_HC_PASSES', 'STICKY_HC_FAILS']
  t.same(gatewayConfigFromEnv(Object.fromEntries(empty.map(k => [k, '']))), DEFAULTS, 'every variable empty: as unset')
  t.same(gatewayConfigFromEnv({ PATH: '/usr/bin', ROUTEID: 'x', port: '1' }), DEFAULTS, 'other variables (and other letter cases) are ignored')
  const resolved = resolveOptions({ members: [{ route: 'a', url: 'http://127.0.0.1:1' }], ...DEFAULTS.options })
  t.same(resolved.session, { cookie: 'ROUTEID', urlParam: 'ROUTEID' }, 'STICKY_SESSION unset: the core reads ROUTEID')
  t.equal(resolved.routeCookie, undefined, 'STICKY_ROUTE_COOKIE unset: Method 1, no balancer cookie')
})

t.test('each variable', async t => {
  const cases: Array<[string, Env, GatewayConfig]> = [
    ['PORT', { PORT: '3000' }, withDefaults({ port: 3000 })],
    ['PORT=0 (any free port)', { PORT: '0' }, withDefaults({ port: 0 })],
    ['PORT=65535', { PORT: '65535' }, withDefaults({ port: 65535 })],
    ['HOST', { HOST: '0.0.0.0' }, withDefaults({ host: '0.0.0.0' })],
    ['HOST (IPv6)', { HOST: '::1' }, withDefaults({ host: '::1' })],
    ['STICKY_UPSTREAMS, in order', { STICKY_UPSTREAMS: 'node2=http://127.0.0.1:8082,node1=http://127.0.0.1:8081' },
      withDefaults({ upstreams: [{ route: 'node2', url: 'http://127.0.0.1:8082' }, { route: 'node1', url: 'http://127.0.0.1:8081' }] })],
    ['STICKY_UPSTREAMS, one member', { STICKY_UPSTREAMS: 'a=http://h:1' }, withDefaults({ upstreams: [{ route: 'a', url: 'http://h:1' }] })],
    ['STICKY_UPSTREAMS, spaces around the commas', { STICKY_UPSTREAMS: ' a=http://h:1 , b=http://h:2 ' },
      withDefaults({ upstreams: [{ route: 'a', url: 'http://h:1' }, { route: 'b', url: 'http://h:2' }] })],
    ['STICKY_UPSTREAMS, split at the first "="', { STICKY_UPSTREAMS: 'a=http://h:1/?x=y' }, withDefaults({ upstreams: [{ route: 'a', url: 'http://h:1/?x=y' }] })],
    ['STICKY_SESSION', { STICKY_SESSION: 'JSESSIONID|jsessionid' }, withDefaults({ options: { stickySession: 'JSESSIONID|jsessionid' } })],
    ['STICKY_SESSION, one name', { STICKY_SESSION: 'SESSION' }, withDefaults({ options: { stickySession: 'SESSION' } })],
    ['STICKY_ROUTE_COOKIE', { STICKY_ROUTE_COOKIE: 'ROUTEID' }, withDefaults({ options: { routeCookie: 'ROUTEID' } })],
    ['STICKY_ROUTE_COOKIE with STICKY_SESSION', { STICKY_ROUTE_COOKIE: 'SERVERID', STICKY_SESSION: 'SERVERID' },
      withDefaults({ options: { routeCookie: 'SERVERID', stickySession: 'SERVERID' } })],
    ['STICKY_NOFAILOVER=1', { STICKY_NOFAILOVER: '1' }, withDefaults({ options: { noFailover: true } })],
    ['STICKY_NOFAILOVER=0', { STICKY_NOFAILOVER: '0' }, withDefaults({ options: { noFailover: false } })],
    ['STICKY_RETRY', { STICKY_RETRY: '5' }, withDefaults({ options: { retry: 5 } })],
    ['STICKY_RETRY=0', { STICKY_RETRY: '0' }, withDefaults({ options: { retry: 0 } })],
    ['STICKY_RETRY, decimals', { STICKY_RETRY: '0.25' }, withDefaults({ options: { retry: 0.25 } })],
    ['STICKY_STATUS, Apache letters', { STICKY_STATUS: 'node1=+N,node3=+H' },
      withDefaults({ memberSettings: { node1: { draining: true }, node3: { hotStandby: true } } })],
    ['STICKY_STATUS, several letters and a minus', { STICKY_STATUS: 'a=+D+I,b=-S,c=HN' },
      withDefaults({ memberSettings: { a: { disabled: true, ignoreErrors: true }, b: { stopped: false }, c: { hotStandby: true, draining: true } } })],
    ['STICKY_LBMETHOD', { STICKY_LBMETHOD: 'bybusyness' }, withDefaults({ options: { lbMethod: 'bybusyness' } })],
    ['STICKY_LBMETHOD bytraffic', { STICKY_LBMETHOD: 'bytraffic' }, withDefaults({ options: { lbMethod: 'bytraffic' } })],
    ['STICKY_LOADFACTORS', { STICKY_LOADFACTORS: 'node1=2,node2=1.5' }, withDefaults({ memberSettings: { node1: { loadFactor: 2 }, node2: { loadFactor: 1.5 } } })],
    ['STICKY_LBSETS', { STICKY_LBSETS: 'node3=1' }, withDefaults({ memberSettings: { node3: { lbSet: 1 } } })],
    ['STICKY_STATUS, STICKY_LOADFACTORS and STICKY_LBSETS together', { STICKY_STATUS: 'b=+H', STICKY_LOADFACTORS: 'b=3', STICKY_LBSETS: 'b=2' },
      withDefaults({ memberSettings: { b: { hotStandby: true, loadFactor: 3, lbSet: 2 } } })],
    ['STICKY_FAILONSTATUS', { STICKY_FAILONSTATUS: '500,503' }, withDefaults({ options: { failOnStatus: [500, 503] } })],
    ['STICKY_FAILONSTATUS, spaces', { STICKY_FAILONSTATUS: '500, 503' }, withDefaults({ options: { failOnStatus: [500, 503] } })],
    ['STICKY_TIMEOUT', { STICKY_TIMEOUT: '2.5' }, withDefaults({ options: { timeout: 2.5 } })],
    ['STICKY_HC GET', { STICKY_HC: 'GET /health' }, withDefaults({ options: { healthCheck: { method: 'GET', uri: '/health' } } })],
    ['STICKY_HC HEAD with interval, passes, fails', { STICKY_HC: 'HEAD /', STICKY_HC_INTERVAL: '0.5', STICKY_HC_PASSES: '2', STICKY_HC_FAILS: '3' },
      withDefaults({ options: { healthCheck: { method: 'HEAD', uri: '/', interval: 0.5, passes: 2, fails: 3 } } })],
    ['STICKY_HC OPTIONS', { STICKY_HC: 'OPTIONS /ping?x=1' }, withDefaults({ options: { healthCheck: { method: 'OPTIONS', uri: '/ping?x=1' } } })],
    ['STICKY_HC TCP', { STICKY_HC: 'TCP' }, withDefaults({ options: { healthCheck: { method: 'TCP' } } })],
    ['STICKY_HC_* without STICKY_HC: no checks', { STICKY_HC_INTERVAL: '5' }, DEFAULTS]
  ]
  for (const [name, env, expected] of cases) t.same(gatewayConfigFromEnv(env), expected, name)

  const everything = gatewayConfigFromEnv({
    PORT: '9000',
    HOST: 'localhost',
    STICKY_UPSTREAMS: 'a=http://127.0.0.1:1,b=http://127.0.0.1:2',
    STICKY_SESSION: 'JSESSIONID|jsessionid',
    STICKY_NOFAILOVER: '1',
    STICKY_RETRY: '1.5'
  })
  t.same(everything, {
    port: 9000,
    host: 'localhost',
    upstreams: [{ route: 'a', url: 'http://127.0.0.1:1' }, { route: 'b', url: 'http://127.0.0.1:2' }],
    options: { stickySession: 'JSESSIONID|jsessionid', routeCookie: false, noFailover: true, retry: 1.5 },
    memberSettings: {}
  }, 'all together')
})

t.test('STICKY_ROUTE_COOKIE alone: the core reads the cookie it writes', async t => {
  const { options } = gatewayConfigFromEnv({ STICKY_ROUTE_COOKIE: 'SERVERID' })
  const resolved = resolveOptions({ members: [{ route: 'a', url: 'http://127.0.0.1:1' }], ...options })
  t.equal(resolved.routeCookie?.name, 'SERVERID')
  t.same(resolved.session, { cookie: 'SERVERID', urlParam: 'SERVERID' })
})

t.test('malformed values: an EnvConfigError naming the variable and the expected form', async t => {
  const cases: Array<[string, string, RegExp]> = [
    ['PORT', 'x', /^PORT must be a port number from 0 to 65535 \(e\.g\. 8080\), got "x"\.$/],
    ['PORT', '65536', /^PORT must be a port number/],
    ['PORT', '-1', /^PORT must be a port number/],
    ['PORT', '80.5', /^PORT must be a port number/],
    ['PORT', ' 80', /^PORT must be a port number/],
    ['STICKY_UPSTREAMS', 'foo', /^STICKY_UPSTREAMS must be route=url pairs separated by commas \(e\.g\. node1=http:\/\/127\.0\.0\.1:8081,node2=http:\/\/127\.0\.0\.1:8082\), got "foo"\.$/],
    ['STICKY_UPSTREAMS', 'nonsense', /^STICKY_UPSTREAMS must be route=url pairs/],
    ['STICKY_UPSTREAMS', 'a=http://h:1,b', /^STICKY_UPSTREAMS must be route=url pairs.*, got "a=http:\/\/h:1,b"\.$/],
    ['STICKY_UPSTREAMS', 'a=http://h:1,', /^STICKY_UPSTREAMS must be route=url pairs/],
    ['STICKY_NOFAILOVER', 'yes', /^STICKY_NOFAILOVER must be 1 \(on\) or 0 \(off\), got "yes"\.$/],
    ['STICKY_NOFAILOVER', 'true', /^STICKY_NOFAILOVER must be 1 \(on\) or 0 \(off\)/],
    ['STICKY_NOFAILOVER', 'On', /^STICKY_NOFAILOVER must be 1 \(on\) or 0 \(off\)/],
    ['STICKY_NOFAILOVER', '2', /^STICKY_NOFAILOVER must be 1 \(on\) or 0 \(off\)/],
    ['STICKY_RETRY', 'abc', /^STICKY_RETRY must be a number of seconds \(e\.g\. 60 or 0\.5\), got "abc"\.$/],
    ['STICKY_RETRY', '60s', /^STICKY_RETRY must be a number of seconds/],
    ['STICKY_RETRY', '1e3', /^STICKY_RETRY must be a number of seconds/],
    ['STICKY_RETRY', '.5', /^STICKY_RETRY must be a number of seconds/],
    ['STICKY_RETRY', 'Infinity', /^STICKY_RETRY must be a number of seconds/],
    ['STICKY_STATUS', 'node1', /^STICKY_STATUS must be route=status pairs with Apache status letters D, N, H, S, I/],
    ['STICKY_STATUS', 'node1=+X', /^STICKY_STATUS must be route=status pairs/],
    ['STICKY_STATUS', 'node1=', /^STICKY_STATUS must be route=status pairs/],
    ['STICKY_STATUS', '=+N', /^STICKY_STATUS must be route=status pairs/],
    ['STICKY_LBMETHOD', 'roundrobin', /^STICKY_LBMETHOD must be byrequests, bybusyness or bytraffic, got "roundrobin"\.$/],
    ['STICKY_LOADFACTORS', 'node1=two', /^STICKY_LOADFACTORS must be route=weight pairs/],
    ['STICKY_LOADFACTORS', 'node1', /^STICKY_LOADFACTORS must be route=weight pairs/],
    ['STICKY_LBSETS', 'node1=1.5', /^STICKY_LBSETS must be route=tier pairs of whole numbers/],
    ['STICKY_FAILONSTATUS', '5xx', /^STICKY_FAILONSTATUS must be HTTP statuses separated by commas/],
    ['STICKY_FAILONSTATUS', '500,', /^STICKY_FAILONSTATUS must be HTTP statuses/],
    ['STICKY_TIMEOUT', '10s', /^STICKY_TIMEOUT must be a number of seconds/],
    ['STICKY_HC', 'GET', /^STICKY_HC must be 'GET \/health', 'HEAD \/', 'OPTIONS \/' or 'TCP'/],
    ['STICKY_HC', 'POST /', /^STICKY_HC must be/],
    ['STICKY_HC', 'get /health', /^STICKY_HC must be/],
    ['STICKY_HC', 'GET health', /^STICKY_HC must be/],
    ['STICKY_HC_INTERVAL', 'often', /^STICKY_HC_INTERVAL must be a number of seconds/],
    ['STICKY_HC_PASSES', '1.5', /^STICKY_HC_PASSES must be a whole number/],
    ['STICKY_HC_FAILS', 'x', /^STICKY_HC_FAILS must be a whole number/]
  ]
  for (const [variable, value, message] of cases) {
    let error: unknown
    try {
      gatewayConfigFromEnv({ [variable]: value })
    } catch (e) {
      error = e
    }
    t.type(error, EnvConfigError, `${variable}=${JSON.stringify(value)} throws`)
    t.match(error, { name: 'EnvConfigError', variable, message }, `${variable}=${JSON.stringify(value)}: the message`)
  }
})

t.test('well-formed values the core rejects pass through, and the core names the option', async t => {
  const cases: Array<[string, Env, StickyErrorCode, string]> = [
    ['a route with a space', { STICKY_UPSTREAMS: 'a b=http://127.0.0.1:1' }, 'ERR_STICKY_ROUTE_NAME', 'members[0].route'],
    ['an empty route', { STICKY_UPSTREAMS: 'a=http://127.0.0.1:1,=http://127.0.0.1:2' }, 'ERR_STICKY_ROUTE_NAME', 'members[1].route'],
    ['a URL that is not http', { STICKY_UPSTREAMS: 'a=ftp://127.0.0.1:1' }, 'ERR_STICKY_MEMBER_URL', 'members[0].url'],
    ['an empty URL', { STICKY_UPSTREAMS: 'a=' }, 'ERR_STICKY_MEMBER_URL', 'members[0].url'],
    ['pairs separated by ";"', { STICKY_UPSTREAMS: 'a=http://127.0.0.1:1;b=http://127.0.0.1:2' }, 'ERR_STICKY_MEMBER_URL', 'members[0].url'],
    ['a URL with a query', { STICKY_UPSTREAMS: 'a=http://127.0.0.1:1/?x=y' }, 'ERR_STICKY_MEMBER_URL', 'members[0].url'],
    ['the same URL twice', { STICKY_UPSTREAMS: 'a=http://127.0.0.1:1,b=http://127.0.0.1:1' }, 'ERR_STICKY_DUPLICATE_MEMBER', 'members[1].url'],
    ['STICKY_SESSION=a|b|c', { STICKY_SESSION: 'a|b|c' }, 'ERR_STICKY_STICKYSESSION', 'stickySession'],
    ['STICKY_SESSION with a space', { STICKY_SESSION: 'a b' }, 'ERR_STICKY_COOKIE_NAME', 'stickySession'],
    ['STICKY_ROUTE_COOKIE with a space', { STICKY_ROUTE_COOKIE: 'a b' }, 'ERR_STICKY_COOKIE_NAME', 'routeCookie'],
    ['STICKY_ROUTE_COOKIE other than STICKY_SESSION', { STICKY_ROUTE_COOKIE: 'SERVERID', STICKY_SESSION: 'JSESSIONID' }, 'ERR_STICKY_COOKIE_NAME', 'routeCookie'],
    ['STICKY_RETRY=-1', { STICKY_RETRY: '-1' }, 'ERR_STICKY_INVALID_OPTION', 'retry'],
    ['STICKY_FAILONSTATUS=700', { STICKY_FAILONSTATUS: '700' }, 'ERR_STICKY_INVALID_OPTION', 'failOnStatus'],
    ['STICKY_TIMEOUT=0', { STICKY_TIMEOUT: '0' }, 'ERR_STICKY_INVALID_OPTION', 'timeout'],
    ['STICKY_HC_INTERVAL=0', { STICKY_HC: 'TCP', STICKY_HC_INTERVAL: '0' }, 'ERR_STICKY_HEALTH_CHECK', 'healthCheck.interval'],
    ['STICKY_HC_FAILS=0', { STICKY_HC: 'TCP', STICKY_HC_FAILS: '0' }, 'ERR_STICKY_HEALTH_CHECK', 'healthCheck.fails']
  ]
  for (const [name, env, code, option] of cases) {
    const { upstreams, options } = gatewayConfigFromEnv(env)
    t.throws(() => resolveOptions({ members: upstreams ?? [{ route: 'a', url: 'http://127.0.0.1:1' }], ...options }),
      { name: 'StickyConfigError', code, option }, `${name}: ${code} on ${option}`)
  }
})

t.test('per-route settings are applied to the members they name', async t => {
  const members = [{ route: 'a', url: 'http://127.0.0.1:1' }, { route: 'b', url: 'http://127.0.0.1:2' }]
  const { memberSettings } = gatewayConfigFromEnv({ STICKY_STATUS: 'b=+N', STICKY_LOADFACTORS: 'a=2', STICKY_LBSETS: 'b=1' })
  t.same(withMemberSettings(members, memberSettings), [
    { route: 'a', url: 'http://127.0.0.1:1', loadFactor: 2 },
    { route: 'b', url: 'http://127.0.0.1:2', draining: true, lbSet: 1 }
  ])
  t.same(withMemberSettings(members, {}), members, 'nothing set: the members as they are')
  t.throws(() => withMemberSettings(members, { c: { draining: true } }),
    { name: 'EnvConfigError', message: /must be routes of the members \(a, b\), got "c"/ }, 'a route no member has')
  const big = gatewayConfigFromEnv({ STICKY_LBSETS: 'a=100' })
  t.throws(() => resolveOptions({ members: withMemberSettings(members, big.memberSettings) }), { code: 'ERR_STICKY_INVALID_OPTION', option: 'members[0].lbSet' },
    'the core checks the range')
})
