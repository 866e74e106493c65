/**
 * Options validation: one test per rule (StickyConfigError, exact code, option path, a message
 * naming the option), and the documented defaults.
 */
import t from 'tap'
import {
  createBalancer,
  DEFAULTS,
  resolveOptions,
  StickyConfigError,
  StickyError,
  type StickyErrorCode,
  type StickyOptions
} from '@stickyroute/core'

const M = [{ url: 'http://127.0.0.1:8081', route: 'a' }, { url: 'http://127.0.0.1:8082', route: 'b' }]

/** Options with valid members plus `extra`. */
function withMembers (extra: Record<string, unknown>): unknown {
  return { members: M, ...extra }
}

/** Options whose only member is `member`. */
function withMember (member: unknown): unknown {
  return { members: [member] }
}

interface Rule {
  name: string
  options: unknown
  code: StickyErrorCode
  option: string
}

const rules: Rule[] = [
  // --- options and members
  { name: 'options not an object', options: 'http://127.0.0.1:8081', code: 'ERR_STICKY_INVALID_OPTION', option: '(options)' },
  { name: 'options undefined', options: undefined, code: 'ERR_STICKY_INVALID_OPTION', option: '(options)' },
  { name: 'options null', options: null, code: 'ERR_STICKY_INVALID_OPTION', option: '(options)' },
  { name: 'options an array', options: [{ url: 'http://127.0.0.1:8081', route: 'a' }], code: 'ERR_STICKY_INVALID_OPTION', option: '(options)' },
  { name: 'no members', options: {}, code: 'ERR_STICKY_NO_MEMBERS', option: 'members' },
  { name: 'members: empty array', options: { members: [] }, code: 'ERR_STICKY_NO_MEMBERS', option: 'members' },
  { name: 'members: not an array', options: { members: { url: 'http://127.0.0.1:8081', route: 'a' } }, code: 'ERR_STICKY_NO_MEMBERS', option: 'members' },
  { name: 'member not an object (string)', options: { members: ['http://127.0.0.1:8081'] }, code: 'ERR_STICKY_INVALID_OPTION', option: 'members[0]' },
  { name: 'member not an object (null), second position', options: { members: [M[0], null] }, code: 'ERR_STICKY_INVALID_OPTION', option: 'members[1]' },
  { name: 'member url not a string', options: withMember({ url: 8081, route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'member url missing', options: withMember({ route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'member url unparsable', options: withMember({ url: '127.0.0.1:8081 x', route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'member url without scheme', options: withMember({ url: 'localhost', route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'member url ws://', options: withMember({ url: 'ws://127.0.0.1:8081', route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'member url ftp://', options: withMember({ url: 'ftp://127.0.0.1:21', route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'member url with a path', options: withMember({ url: 'http://127.0.0.1:8081/app', route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'member url with a query', options: withMember({ url: 'http://127.0.0.1:8081/?x=1', route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'member url with a fragment', options: withMember({ url: 'http://127.0.0.1:8081/#x', route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'member url with credentials', options: withMember({ url: 'http://user:pw@127.0.0.1:8081', route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'member url with a user only', options: withMember({ url: 'http://user@127.0.0.1:8081', route: 'a' }), code: 'ERR_STICKY_MEMBER_URL', option: 'members[0].url' },
  { name: 'duplicate member URLs', options: { members: [M[0], M[1], { url: 'http://127.0.0.1:8081', route: 'c' }] }, code: 'ERR_STICKY_DUPLICATE_MEMBER', option: 'members[2].url' },
  { name: 'duplicate after normalising (:80 is the default port)', options: { members: [{ url: 'http://127.0.0.1:80', route: 'a' }, { url: 'http://127.0.0.1', route: 'b' }] }, code: 'ERR_STICKY_DUPLICATE_MEMBER', option: 'members[1].url' },
  { name: 'duplicate after normalising (trailing slash, case)', options: { members: [{ url: 'http://LOCALHOST:8081/', route: 'a' }, { url: 'http://localhost:8081', route: 'b' }] }, code: 'ERR_STICKY_DUPLICATE_MEMBER', option: 'members[1].url' },
  { name: 'route missing', options: withMember({ url: 'http://127.0.0.1:8081' }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route empty', options: withMember({ url: 'http://127.0.0.1:8081', route: '' }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route not a string', options: withMember({ url: 'http://127.0.0.1:8081', route: 1 }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route with ;', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a;b' }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route with ,', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a,b' }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route with a space', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a b' }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route with "', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a"b' }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route with a backslash', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a\\b' }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route with a control character', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a\u0001b' }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route with DEL', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a\u007fb' }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route with non-ASCII', options: withMember({ url: 'http://127.0.0.1:8081', route: 'nœud' }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'route too long (256)', options: withMember({ url: 'http://127.0.0.1:8081', route: 'r'.repeat(256) }), code: 'ERR_STICKY_ROUTE_NAME', option: 'members[0].route' },
  { name: 'loadFactor 0', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a', loadFactor: 0 }), code: 'ERR_STICKY_LOAD_FACTOR', option: 'members[0].loadFactor' },
  { name: 'loadFactor 0.5', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a', loadFactor: 0.5 }), code: 'ERR_STICKY_LOAD_FACTOR', option: 'members[0].loadFactor' },
  { name: 'loadFactor 101', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a', loadFactor: 101 }), code: 'ERR_STICKY_LOAD_FACTOR', option: 'members[0].loadFactor' },
  { name: 'loadFactor NaN', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a', loadFactor: Number.NaN }), code: 'ERR_STICKY_LOAD_FACTOR', option: 'members[0].loadFactor' },
  { name: 'loadFactor Infinity', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a', loadFactor: Number.POSITIVE_INFINITY }), code: 'ERR_STICKY_LOAD_FACTOR', option: 'members[0].loadFactor' },
  { name: 'loadFactor string', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a', loadFactor: '2' }), code: 'ERR_STICKY_LOAD_FACTOR', option: 'members[0].loadFactor' },
  // --- stickySession
  { name: "stickySession ''", options: withMembers({ stickySession: '' }), code: 'ERR_STICKY_STICKYSESSION', option: 'stickySession' },
  { name: "stickySession '|x'", options: withMembers({ stickySession: '|x' }), code: 'ERR_STICKY_STICKYSESSION', option: 'stickySession' },
  { name: "stickySession 'x|'", options: withMembers({ stickySession: 'x|' }), code: 'ERR_STICKY_STICKYSESSION', option: 'stickySession' },
  { name: "stickySession 'a|b|c'", options: withMembers({ stickySession: 'a|b|c' }), code: 'ERR_STICKY_STICKYSESSION', option: 'stickySession' },
  { name: "stickySession 'JSESSION ID' (not a cookie name)", options: withMembers({ stickySession: 'JSESSION ID' }), code: 'ERR_STICKY_COOKIE_NAME', option: 'stickySession' },
  { name: "stickySession 'JSESSIONID|jsession id' (bad URL parameter)", options: withMembers({ stickySession: 'JSESSIONID|jsession id' }), code: 'ERR_STICKY_STICKYSESSION', option: 'stickySession' },
  { name: 'stickySession a number', options: withMembers({ stickySession: 42 }), code: 'ERR_STICKY_STICKYSESSION', option: 'stickySession' },
  { name: 'stickySession an array', options: withMembers({ stickySession: ['JSESSIONID'] }), code: 'ERR_STICKY_STICKYSESSION', option: 'stickySession' },
  { name: 'stickySession object with a bad cookie', options: withMembers({ stickySession: { cookie: 'A B' } }), code: 'ERR_STICKY_COOKIE_NAME', option: 'stickySession.cookie' },
  { name: 'stickySession object without cookie', options: withMembers({ stickySession: { urlParam: 'x' } }), code: 'ERR_STICKY_COOKIE_NAME', option: 'stickySession.cookie' },
  { name: 'stickySession object with a bad urlParam', options: withMembers({ stickySession: { cookie: 'JSESSIONID', urlParam: 'js;id' } }), code: 'ERR_STICKY_STICKYSESSION', option: 'stickySession.urlParam' },
  { name: 'stickySession object with urlParam true', options: withMembers({ stickySession: { cookie: 'JSESSIONID', urlParam: true } }), code: 'ERR_STICKY_STICKYSESSION', option: 'stickySession.urlParam' },
  { name: 'stickySession object with an unknown key', options: withMembers({ stickySession: { cookie: 'JSESSIONID', param: 'x' } }), code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'stickySession.param' },
  // --- routeSeparator
  { name: "routeSeparator ''", options: withMembers({ routeSeparator: '' }), code: 'ERR_STICKY_SEPARATOR', option: 'routeSeparator' },
  { name: "routeSeparator 'ab'", options: withMembers({ routeSeparator: 'ab' }), code: 'ERR_STICKY_SEPARATOR', option: 'routeSeparator' },
  { name: "routeSeparator '='", options: withMembers({ routeSeparator: '=' }), code: 'ERR_STICKY_SEPARATOR', option: 'routeSeparator' },
  { name: "routeSeparator ';'", options: withMembers({ routeSeparator: ';' }), code: 'ERR_STICKY_SEPARATOR', option: 'routeSeparator' },
  { name: "routeSeparator ' '", options: withMembers({ routeSeparator: ' ' }), code: 'ERR_STICKY_SEPARATOR', option: 'routeSeparator' },
  { name: "routeSeparator ','", options: withMembers({ routeSeparator: ',' }), code: 'ERR_STICKY_SEPARATOR', option: 'routeSeparator' },
  { name: 'routeSeparator true', options: withMembers({ routeSeparator: true }), code: 'ERR_STICKY_SEPARATOR', option: 'routeSeparator' },
  // --- routeCookie
  { name: 'routeCookie bad name (space)', options: withMembers({ routeCookie: 'ROUTE ID' }), code: 'ERR_STICKY_COOKIE_NAME', option: 'routeCookie' },
  { name: 'routeCookie bad name (=)', options: withMembers({ routeCookie: 'ROUTE=ID' }), code: 'ERR_STICKY_COOKIE_NAME', option: 'routeCookie' },
  { name: 'routeCookie empty name', options: withMembers({ routeCookie: '' }), code: 'ERR_STICKY_COOKIE_NAME', option: 'routeCookie' },
  { name: 'routeCookie object with a bad name', options: withMembers({ routeCookie: { name: 'ROUTE;ID' } }), code: 'ERR_STICKY_COOKIE_NAME', option: 'routeCookie.name' },
  { name: 'routeCookie a number', options: withMembers({ routeCookie: 1 }), code: 'ERR_STICKY_INVALID_OPTION', option: 'routeCookie' },
  { name: 'routeCookie.path with ;', options: withMembers({ routeCookie: { path: '/a;b' } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.path' },
  { name: 'routeCookie.path not starting with /', options: withMembers({ routeCookie: { path: 'app' } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.path' },
  { name: 'routeCookie.path with a control character', options: withMembers({ routeCookie: { path: '/a\nb' } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.path' },
  { name: 'routeCookie.domain with ;', options: withMembers({ routeCookie: { domain: 'example.com;x' } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.domain' },
  { name: 'routeCookie.maxAge 1.5', options: withMembers({ routeCookie: { maxAge: 1.5 } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.maxAge' },
  { name: 'routeCookie.maxAge string', options: withMembers({ routeCookie: { maxAge: '60' } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.maxAge' },
  { name: 'routeCookie.expires invalid Date', options: withMembers({ routeCookie: { expires: new Date('not a date') } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.expires' },
  { name: 'routeCookie.expires a string', options: withMembers({ routeCookie: { expires: '2030-01-01' } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.expires' },
  { name: "routeCookie.secure 'yes'", options: withMembers({ routeCookie: { secure: 'yes' } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.secure' },
  { name: "routeCookie.sameSite 'lax' (lower case)", options: withMembers({ routeCookie: { sameSite: 'lax' } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.sameSite' },
  { name: 'routeCookie.sameSite true', options: withMembers({ routeCookie: { sameSite: true } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.sameSite' },
  { name: "routeCookie sameSite 'None' with secure false", options: withMembers({ routeCookie: { sameSite: 'None', secure: false } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.secure' },
  { name: 'routeCookie partitioned with secure false', options: withMembers({ routeCookie: { partitioned: true, secure: false } }), code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.secure' },
  { name: "routeCookie.httpOnly 'true'", options: withMembers({ routeCookie: { httpOnly: 'true' } }), code: 'ERR_STICKY_INVALID_OPTION', option: 'routeCookie.httpOnly' },
  { name: 'routeCookie name differs from the stickySession cookie', options: withMembers({ stickySession: 'JSESSIONID|jsessionid', routeCookie: 'ROUTEID' }), code: 'ERR_STICKY_COOKIE_NAME', option: 'routeCookie' },
  { name: 'routeCookie object name differs from the stickySession cookie', options: withMembers({ stickySession: { cookie: 'SRV' }, routeCookie: { name: 'ROUTEID' } }), code: 'ERR_STICKY_COOKIE_NAME', option: 'routeCookie' },
  { name: 'routeCookie name differs only by case', options: withMembers({ stickySession: 'ROUTEID', routeCookie: 'routeid' }), code: 'ERR_STICKY_COOKIE_NAME', option: 'routeCookie' },
  // --- numbers, functions, booleans
  { name: 'retry negative', options: withMembers({ retry: -1 }), code: 'ERR_STICKY_INVALID_OPTION', option: 'retry' },
  { name: 'retry NaN', options: withMembers({ retry: Number.NaN }), code: 'ERR_STICKY_INVALID_OPTION', option: 'retry' },
  { name: 'retry a string', options: withMembers({ retry: '60' }), code: 'ERR_STICKY_INVALID_OPTION', option: 'retry' },
  { name: 'retry Infinity', options: withMembers({ retry: Number.POSITIVE_INFINITY }), code: 'ERR_STICKY_INVALID_OPTION', option: 'retry' },
  { name: 'maxAttempts -1', options: withMembers({ maxAttempts: -1 }), code: 'ERR_STICKY_INVALID_OPTION', option: 'maxAttempts' },
  { name: 'maxAttempts 1.5', options: withMembers({ maxAttempts: 1.5 }), code: 'ERR_STICKY_INVALID_OPTION', option: 'maxAttempts' },
  { name: 'maxAttempts NaN', options: withMembers({ maxAttempts: Number.NaN }), code: 'ERR_STICKY_INVALID_OPTION', option: 'maxAttempts' },
  { name: 'lbMethod unknown', options: withMembers({ lbMethod: 'roundrobin' }), code: 'ERR_STICKY_LB_METHOD', option: 'lbMethod' },
  { name: 'now not a function', options: withMembers({ now: 1234 }), code: 'ERR_STICKY_INVALID_OPTION', option: 'now' },
  { name: "noFailover 'yes'", options: withMembers({ noFailover: 'yes' }), code: 'ERR_STICKY_INVALID_OPTION', option: 'noFailover' },
  { name: 'forceRecovery 1', options: withMembers({ forceRecovery: 1 }), code: 'ERR_STICKY_INVALID_OPTION', option: 'forceRecovery' },
  { name: 'preserveHost null', options: withMembers({ preserveHost: null }), code: 'ERR_STICKY_INVALID_OPTION', option: 'preserveHost' },
  { name: 'addForwardedHeaders a string', options: withMembers({ addForwardedHeaders: 'off' }), code: 'ERR_STICKY_INVALID_OPTION', option: 'addForwardedHeaders' },
  // --- unknown options
  { name: 'unknown top-level option', options: withMembers({ stickysession: 'ROUTEID' }), code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'stickysession' },
  { name: 'unknown member option', options: withMember({ url: 'http://127.0.0.1:8081', route: 'a', weight: 2 }), code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'members[0].weight' },
  { name: 'unknown routeCookie option', options: withMembers({ routeCookie: { name: 'ROUTEID', sameSites: 'Lax' } }), code: 'ERR_STICKY_UNKNOWN_OPTION', option: 'routeCookie.sameSites' }
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
    t.ok(caught instanceof StickyError, 'which is a StickyError')
    t.ok(caught instanceof Error, 'and an Error')
    if (!(caught instanceof StickyConfigError)) return
    t.equal(caught.code, rule.code, 'code')
    t.equal(caught.option, rule.option, 'option path')
    t.equal(caught.name, 'StickyConfigError', 'name')
    t.ok(caught.message.includes(`\`${rule.option}\``), `message names the option: ${caught.message}`)
    t.ok(caught.message.startsWith('stickyroute: '), 'message is prefixed')
    // createBalancer validates the same way.
    t.throws(() => createBalancer(rule.options as StickyOptions), { code: rule.code, option: rule.option }, 'createBalancer throws the same')
  })
}

t.test('an unparsable member URL keeps the parser error as cause', async t => {
  try {
    resolveOptions({ members: [{ url: 'not a url', route: 'a' }] })
    t.fail('expected a throw')
  } catch (err) {
    t.ok(err instanceof StickyConfigError)
    t.ok((err as Error).cause instanceof TypeError, 'cause is the URL TypeError')
  }
})

t.test('boundary values that are accepted', async t => {
  const ok = (options: unknown, what: string) => t.doesNotThrow(() => resolveOptions(options as StickyOptions), what)
  ok(withMember({ url: 'http://127.0.0.1:8081', route: 'r'.repeat(255) }), 'route of 255 characters')
  ok(withMember({ url: 'http://127.0.0.1:8081', route: 'tomcat_instance-1.x~!' }), 'route with cookie-octets')
  ok(withMember({ url: 'http://127.0.0.1:8081', route: 'a', loadFactor: 1 }), 'loadFactor 1')
  ok(withMember({ url: 'http://127.0.0.1:8081', route: 'a', loadFactor: 100 }), 'loadFactor 100')
  ok(withMember({ url: 'http://127.0.0.1:8081', route: 'a', loadFactor: 2.5 }), 'loadFactor 2.5')
  ok(withMember({ url: 'https://[::1]:8443', route: 'a' }), 'https IPv6 origin')
  ok(withMember({ url: 'http://127.0.0.1:8081/', route: 'a' }), 'trailing slash')
  ok(withMembers({ retry: 0 }), 'retry 0')
  ok(withMembers({ maxAttempts: 0 }), 'maxAttempts 0')
  ok(withMembers({ routeSeparator: false }), 'separator off')
  ok(withMembers({ routeSeparator: '~' }), 'separator ~')
  ok(withMembers({ routeCookie: false }), 'routeCookie false')
  ok(withMembers({ routeCookie: { sameSite: 'None', secure: true, partitioned: true } }), 'SameSite=None with Secure')
  ok(withMembers({ routeCookie: { sameSite: 'None' } }), "SameSite=None with secure 'auto'")
  ok(withMembers({ stickySession: 'JSESSIONID|jsessionid', routeCookie: 'JSESSIONID' }), 'same name in both')
  ok(withMembers({ lbMethod: 'byrequests' }), "lbMethod 'byrequests'")
})

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

const THREE = [
  { url: 'http://127.0.0.1:8081', route: 'a' },
  { url: 'http://127.0.0.1:8082', route: 'b' },
  { url: 'http://127.0.0.1:8083', route: 'c' }
]

t.test('documented defaults', async t => {
  const o = resolveOptions({ members: THREE })
  const member = {
    loadFactor: 1,
    lbSet: 0,
    disabled: false,
    draining: false,
    hotStandby: false,
    stopped: false,
    ignoreErrors: false,
    timeoutMs: undefined,
    healthCheck: undefined
  }
  t.same(o.members, [
    { url: 'http://127.0.0.1:8081', route: 'a', ...member },
    { url: 'http://127.0.0.1:8082', route: 'b', ...member },
    { url: 'http://127.0.0.1:8083', route: 'c', ...member }
  ])
  t.equal(o.retryMs, 60_000, 'retry 60 s')
  t.equal(o.connectTimeoutMs, 10_000, 'connectTimeout 10 s')
  t.equal(o.maxAttempts, undefined, 'maxAttempts: members - 1, as members come and go')
  t.equal(o.separator, '.', "separator '.'")
  t.same(o.session, { cookie: 'ROUTEID', urlParam: 'ROUTEID' }, 'stickySession ROUTEID, for cookie and URL')
  t.equal(o.routeCookie, undefined, 'no balancer cookie (Method 1)')
  t.equal(o.noFailover, false)
  t.equal(o.forceRecovery, true)
  t.equal(o.preserveHost, false)
  t.equal(o.addForwardedHeaders, true, 'X-Forwarded-* added (Apache ProxyAddHeaders On)')
  t.equal(o.lbMethod.name, 'byrequests')
  t.same([...o.failOnStatus], [], 'failOnStatus: none')
  t.equal(o.failOnTimeout, false)
  t.equal(o.timeoutMs, undefined, 'timeout: none of ours')
  t.equal(o.healthCheck, undefined, 'no health checks')
  t.equal(o.now, Date.now)
  t.ok(Object.isFrozen(o), 'resolved options are frozen')
  t.ok(Object.isFrozen(o.members), 'members are frozen')
})

t.test('DEFAULTS constant', async t => {
  t.same({ ...DEFAULTS }, {
    stickySession: 'ROUTEID',
    routeSeparator: '.',
    routeCookie: false,
    noFailover: false,
    retry: 60,
    connectTimeout: 10,
    retryBodyLimit: 1_048_576,
    forceRecovery: true,
    preserveHost: false,
    addForwardedHeaders: true,
    lbMethod: 'byrequests',
    loadFactor: 1,
    lbSet: 0,
    failOnTimeout: false,
    healthCheck: { method: 'GET', uri: '/', interval: 30, maxTimeout: 5, passes: 1, fails: 1 }
  })
})

t.test('maxAttempts: left undefined (members - 1 at the time of the request) unless given', async t => {
  t.equal(resolveOptions({ members: THREE.slice(0, 1) }).maxAttempts, undefined)
  t.equal(resolveOptions({ members: THREE, maxAttempts: 7 }).maxAttempts, 7)
  t.equal(resolveOptions({ members: THREE, maxAttempts: 0 }).maxAttempts, 0)
})

t.test('retry is in seconds', async t => {
  t.equal(resolveOptions({ members: THREE, retry: 1 }).retryMs, 1000)
  t.equal(resolveOptions({ members: THREE, retry: 0 }).retryMs, 0)
  t.equal(resolveOptions({ members: THREE, retry: 2.5 }).retryMs, 2500)
  t.equal(resolveOptions({ members: THREE, connectTimeout: 0.5 }).connectTimeoutMs, 500)
  for (const bad of [0, -1, Number.NaN, 3601, '5']) {
    t.throws(() => resolveOptions({ members: THREE, connectTimeout: bad as number }), { code: 'ERR_STICKY_INVALID_OPTION', option: 'connectTimeout' }, `connectTimeout ${String(bad)}`)
  }
  for (const bad of [0, -5]) {
    t.throws(() => resolveOptions({ members: THREE, routeCookie: { maxAge: bad } }), { code: 'ERR_STICKY_COOKIE_ATTRIBUTE', option: 'routeCookie.maxAge' }, `maxAge ${bad}`)
  }
})

t.test('member URLs are normalised to their origin', async t => {
  const o = resolveOptions({
    members: [
      { url: 'http://127.0.0.1:80', route: 'a' },
      { url: 'HTTPS://Example.COM:443/', route: 'b' },
      { url: 'http://localhost:8081', route: 'c', loadFactor: 2.5 }
    ]
  })
  t.same(o.members.map(m => m.url), ['http://127.0.0.1', 'https://example.com', 'http://localhost:8081'])
  t.same(o.members.map(m => m.loadFactor), [1, 1, 2.5])
})

t.test("stickySession 'JSESSIONID|jsessionid' splits into cookie and URL parameter", async t => {
  t.same(resolveOptions({ members: THREE, stickySession: 'JSESSIONID|jsessionid' }).session, { cookie: 'JSESSIONID', urlParam: 'jsessionid' })
  t.same(resolveOptions({ members: THREE, stickySession: 'JSESSIONID' }).session, { cookie: 'JSESSIONID', urlParam: 'JSESSIONID' })
  t.same(resolveOptions({ members: THREE, stickySession: { cookie: 'JSESSIONID' } }).session, { cookie: 'JSESSIONID', urlParam: 'JSESSIONID' })
  t.same(resolveOptions({ members: THREE, stickySession: { cookie: 'JSESSIONID', urlParam: 'sid' } }).session, { cookie: 'JSESSIONID', urlParam: 'sid' })
  t.same(resolveOptions({ members: THREE, stickySession: { cookie: 'JSESSIONID', urlParam: false } }).session, { cookie: 'JSESSIONID', urlParam: undefined })
})

t.test('routeSeparator', async t => {
  t.equal(resolveOptions({ members: THREE, routeSeparator: false }).separator, undefined)
  t.equal(resolveOptions({ members: THREE, routeSeparator: '~' }).separator, '~')
})

t.test('routeCookie: true uses the stickySession cookie name', async t => {
  t.equal(resolveOptions({ members: THREE, routeCookie: true }).routeCookie?.name, 'ROUTEID')
  const o = resolveOptions({ members: THREE, stickySession: 'SRV|srv', routeCookie: true })
  t.equal(o.routeCookie?.name, 'SRV')
  t.same(o.session, { cookie: 'SRV', urlParam: 'srv' })
  t.equal(resolveOptions({ members: THREE, stickySession: 'SRV', routeCookie: {} }).routeCookie?.name, 'SRV', 'object without name too')
})

t.test('stickySession defaults to the routeCookie name when only routeCookie is given', async t => {
  const s = resolveOptions({ members: THREE, routeCookie: 'SRV' })
  t.same(s.session, { cookie: 'SRV', urlParam: 'SRV' })
  t.equal(s.routeCookie?.name, 'SRV')
  const o = resolveOptions({ members: THREE, routeCookie: { name: 'SRV', sameSite: 'Strict' } })
  t.same(o.session, { cookie: 'SRV', urlParam: 'SRV' })
  t.equal(o.routeCookie?.name, 'SRV')
})

t.test('routeCookie default attributes: Path=/; HttpOnly; SameSite=Lax, Secure on HTTPS', async t => {
  const c = resolveOptions({ members: THREE, routeCookie: 'ROUTEID' }).routeCookie
  t.same(c, { name: 'ROUTEID', suffixInsecure: '; Path=/; HttpOnly; SameSite=Lax', suffixSecure: '; Path=/; HttpOnly; Secure; SameSite=Lax' })
})

function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}

t.test('the input object is not mutated (deep-frozen input resolves)', async t => {
  const expires = new Date(Date.UTC(2030, 0, 1))
  const now = (): number => 0
  const input = {
    members: [
      { url: 'http://127.0.0.1:80', route: 'a', loadFactor: 2 },
      { url: 'http://127.0.0.1:8082/', route: 'b' }
    ],
    stickySession: { cookie: 'SRV', urlParam: 'srv' },
    routeSeparator: '~',
    routeCookie: { name: 'SRV', path: '/app', maxAge: 60, expires, sameSite: 'Strict' as const },
    retry: 5,
    maxAttempts: 1,
    noFailover: true,
    forceRecovery: false,
    preserveHost: true,
    addForwardedHeaders: false,
    now
  }
  const before = JSON.stringify(input)
  deepFreeze(input)
  let o: ReturnType<typeof resolveOptions> | undefined
  t.doesNotThrow(() => { o = resolveOptions(input) }, 'resolves a deep-frozen object')
  t.equal(JSON.stringify(input), before, 'input unchanged')
  t.equal(input.members[1]?.url, 'http://127.0.0.1:8082/', 'member url left as given')
  t.equal(o?.members[0]?.url, 'http://127.0.0.1')
  t.equal(o?.members[1]?.url, 'http://127.0.0.1:8082')
  t.same(o?.session, { cookie: 'SRV', urlParam: 'srv' })
  t.equal(o?.separator, '~')
  t.equal(o?.retryMs, 5000)
  t.equal(o?.maxAttempts, 1)
  t.equal(o?.noFailover, true)
  t.equal(o?.forceRecovery, false)
  t.equal(o?.preserveHost, true)
  t.equal(o?.addForwardedHeaders, false)
  t.equal(o?.now, now)
  t.same(o?.routeCookie, {
    name: 'SRV',
    suffixInsecure: '; Path=/app; Max-Age=60; Expires=Tue, 01 Jan 2030 00:00:00 GMT; HttpOnly; SameSite=Strict',
    suffixSecure: '; Path=/app; Max-Age=60; Expires=Tue, 01 Jan 2030 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict'
  })
  t.doesNotThrow(() => createBalancer(input), 'createBalancer accepts it too')
})
