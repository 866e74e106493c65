/**
 * Security model, "no configuration can inject header text": every name or value stickyroute
 * writes into a header (route names, cookie names, cookie attributes, the separator) or into a
 * request line (the health-check uri) is refused at startup (and at runtime, for routes) when it
 * carries CR, LF, NUL, other control characters, non-ASCII, or a character that would end or split
 * its field. What is accepted is written exactly: the Set-Cookie line is always the expected one.
 */
import fc from 'fast-check'
import t from 'tap'
import { createBalancer, resolveOptions, StickyConfigError, type Routed, type StickyOptions } from '@stickyroute/core'
import { Upstreams } from '../helpers/upstreams.js'
import { exchange, headerValues } from '../helpers/raw-http.js'
import { GATEWAYS } from './harness.js'

const A = 'http://127.0.0.1:8081'
const B = 'http://127.0.0.1:8082'

/** Characters that could end a header line, a cookie, an attribute, or leave ASCII. */
const HOSTILE: ReadonlyArray<readonly [string, string]> = [
  ['CR', '\r'], ['LF', '\n'], ['CRLF', '\r\n'], ['CRLF and a header', '\r\nSet-Cookie: admin=1'], ['NUL', '\0'], ['TAB', '\t'], ['DEL', '\x7f'],
  ['";"', ';'], ['","', ','], ['e acute (U+00E9)', '\u00e9'], ['LINE SEPARATOR (U+2028)', '\u2028'], ['an emoji', '\u{1F600}'], ['a lone surrogate', '\ud800'],
  ['byte 0x85 (NEL)', '\x85']
]

interface Target {
  /** Which option the value goes into, as `StickyConfigError.option` names it. */
  option: string
  options: (bad: string) => unknown
  /** Characters legitimately allowed there (a request target may carry ';' and ','). */
  allows?: readonly string[]
}

const TARGETS: Target[] = [
  { option: 'members[0].route', options: bad => ({ members: [{ url: A, route: `n${bad}1` }] }) },
  { option: 'routeCookie', options: bad => ({ members: [{ url: A, route: 'n1' }], routeCookie: `ROUTE${bad}ID` }) },
  { option: 'routeCookie.name', options: bad => ({ members: [{ url: A, route: 'n1' }], routeCookie: { name: `ROUTE${bad}ID` } }) },
  { option: 'stickySession', options: bad => ({ members: [{ url: A, route: 'n1' }], stickySession: `ROUTE${bad}ID` }) },
  { option: 'stickySession', options: bad => ({ members: [{ url: A, route: 'n1' }], stickySession: `JSESSIONID|js${bad}id` }) },
  { option: 'stickySession.cookie', options: bad => ({ members: [{ url: A, route: 'n1' }], stickySession: { cookie: `ROUTE${bad}ID` } }) },
  { option: 'stickySession.urlParam', options: bad => ({ members: [{ url: A, route: 'n1' }], stickySession: { cookie: 'ROUTEID', urlParam: `r${bad}id` } }) },
  { option: 'routeCookie.path', options: bad => ({ members: [{ url: A, route: 'n1' }], routeCookie: { name: 'ROUTEID', path: `/app${bad}` } }) },
  { option: 'routeCookie.domain', options: bad => ({ members: [{ url: A, route: 'n1' }], routeCookie: { name: 'ROUTEID', domain: `example${bad}.com` } }) },
  { option: 'routeSeparator', options: bad => ({ members: [{ url: A, route: 'n1' }], routeSeparator: bad }) },
  { option: 'healthCheck.uri', options: bad => ({ members: [{ url: A, route: 'n1' }], healthCheck: { uri: `/health${bad}` } }), allows: [';', ','] },
  { option: 'members[0].healthCheck.uri', options: bad => ({ members: [{ url: A, route: 'n1', healthCheck: { uri: `/health${bad}` } }] }), allows: [';', ','] }
]

function refusal (options: unknown): StickyConfigError | undefined {
  try {
    resolveOptions(options as StickyOptions)
  } catch (err) {
    if (err instanceof StickyConfigError) return err
    throw err
  }
  return undefined
}

t.test('every hostile character is refused at startup wherever stickyroute writes a configured text', async t => {
  for (const target of TARGETS) {
    for (const [name, bad] of HOSTILE) {
      const allowed = target.allows?.includes(bad) === true
      const error = refusal(target.options(bad))
      if (allowed) {
        t.equal(error, undefined, `${target.option} with ${name}: allowed (a URI character; it cannot end the request line)`)
        continue
      }
      t.ok(error !== undefined, `${target.option} with ${name}: refused`)
      // A route in stickySession's URL part is named by the whole option.
      if (error !== undefined) t.equal(error.option, target.option, `${target.option} with ${name}: the error names the option`)
    }
  }
  // The separator also may not be '=' or more than one character; a space would end the value.
  for (const sep of ['=', '..', '', ' ', '"', '\\']) t.ok(refusal({ members: [{ url: A, route: 'n1' }], routeSeparator: sep }), `routeSeparator ${JSON.stringify(sep)}: refused`)
  // A space in a route or cookie name ends the value or the name.
  for (const options of [{ members: [{ url: A, route: 'n 1' }] }, { members: [{ url: A, route: 'n1' }], routeCookie: 'ROUTE ID' }, { members: [{ url: A, route: 'n1' }], healthCheck: { uri: '/a b' } }]) {
    t.ok(refusal(options), `a space: refused (${JSON.stringify(options).slice(0, 70)})`)
  }
})

t.test('routes set at runtime are checked the same way', async t => {
  const balancer = createBalancer({ members: [{ url: A, route: 'n1' }], routeCookie: 'ROUTEID' })
  for (const [name, bad] of HOSTILE) {
    t.throws(() => balancer.update(A, { route: `n${bad}1` }), { code: 'ERR_STICKY_ROUTE_NAME', option: 'route' }, `update() with ${name}: refused`)
    t.throws(() => balancer.add({ url: B, route: `n${bad}2` }), { code: 'ERR_STICKY_ROUTE_NAME', option: 'member.route' }, `add() with ${name}: refused`)
  }
  t.equal(balancer.members().length, 1, 'nothing was added')
  t.equal(balancer.member(A).route, 'n1', 'nothing was changed')
})

t.test('a member URL is reduced to its origin: no control character survives into a Host header', async t => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }), (a, b) => {
    const url = `http://exa${a}mple.test:8081${b}`
    let resolved: string | undefined
    try {
      resolved = resolveOptions({ members: [{ url, route: 'n1' }] }).members[0]?.url
    } catch (err) {
      if (!(err instanceof StickyConfigError)) throw err
      return
    }
    if (resolved === undefined || !/^http:\/\/[\x21-\x7e]+$/.test(resolved)) throw new Error(`${JSON.stringify(url)} resolved to ${JSON.stringify(resolved)}`)
  }), { numRuns: 2000 })
  t.pass('2,000 member URLs with arbitrary text: refused, or a printable origin')
})

/** RFC 6265 set-cookie-string: cookie-pair, then "; " attributes made of printable ASCII without ';'. */
const SET_COOKIE_GRAMMAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+=[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*(; [\x20-\x2B\x2D-\x3A\x3C-\x7E]+)*$/

t.test('whatever route, path or domain is accepted, the Set-Cookie line is exactly the expected one', async t => {
  const text = fc.oneof(
    { arbitrary: fc.string({ unit: fc.constantFrom(...'aZ09.-_~!#$%&*+^`|:/?@[]'), minLength: 1, maxLength: 10 }), weight: 4 },
    { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), weight: 1 },
    { arbitrary: fc.string({ unit: fc.constantFrom(...'abc.;,= "\\\r\n\0\u00e9/-_'), minLength: 1, maxLength: 8 }), weight: 1 })
  let accepted = 0
  fc.assert(fc.property(text, fc.option(text), fc.option(text), fc.boolean(), (route, path, domain, secure) => {
    const routeCookie = { name: 'ROUTEID', ...(path === null ? {} : { path: `/${path}` }), ...(domain === null ? {} : { domain }) }
    let balancer
    try {
      balancer = createBalancer({ members: [{ url: A, route }], routeCookie })
    } catch (err) {
      if (!(err instanceof StickyConfigError)) throw err
      return
    }
    accepted++
    const d = balancer.select({ secure }) as Routed
    const expected = `ROUTEID=.${route}; Path=${path === null ? '/' : `/${path}`}${domain === null ? '' : `; Domain=${domain}`}; HttpOnly${secure ? '; Secure' : ''}; SameSite=Lax`
    if (d.setCookie !== expected) throw new Error(`got ${JSON.stringify(d.setCookie)}, expected ${JSON.stringify(expected)}`)
    if (!SET_COOKIE_GRAMMAR.test(expected)) throw new Error(`not a well-formed Set-Cookie: ${JSON.stringify(expected)}`)
  }), { numRuns: 3000 })
  t.ok(accepted > 100, `some configurations were accepted (${accepted}) and wrote exactly the expected line`)
})

for (const gateway of GATEWAYS) {
  t.test(`${gateway.name}: the Set-Cookie line on the wire is exactly the configured one`, async t => {
    const upstreams = await Upstreams.start(['node-1_a.b~c'])
    const options: StickyOptions = {
      members: upstreams.members,
      routeCookie: { name: 'ROUTEID', path: '/app/x', domain: 'example.test', maxAge: 3600, httpOnly: true, secure: true, sameSite: 'Strict', partitioned: true }
    }
    const gw = await gateway.start(options, { prefix: '' })
    t.teardown(async () => {
      await gw.close()
      await upstreams.close()
    })
    const outcome = await exchange(gw.origin, { target: '/', headers: [['Host', new URL(gw.origin).host], ['Cookie', 'ROUTEID=.gone']] })
    if (!outcome.ok) throw new Error(outcome.problem)
    t.same(headerValues(outcome.response, 'set-cookie'), ['ROUTEID=.node-1_a.b~c; Path=/app/x; Domain=example.test; Max-Age=3600; HttpOnly; Secure; SameSite=Strict; Partitioned'])
  })
}
