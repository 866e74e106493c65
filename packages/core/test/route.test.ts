/**
 * Reading the route: the spec's "Reading the route" section, one table row per case, checked
 * on the functions that read it (findCookieValue, findUrlParam, routeOf, findSessionRoute) and,
 * for every findSessionRoute row, on a balancer (which member serves the request).
 * Then property tests with fast-check against a reference model written from the spec's words.
 */
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { createBalancer, type SessionRoute, type SessionSource, type StickyOptions } from '@stickyroute/core'
import { findCookieValue, findSessionRoute, findUrlParam, routeOf } from '../src/route.js'

const R1 = 'tomcat_instance_1'
const R2 = 'tomcat_instance_2'
const R3 = 'tomcat_instance_3'
const LONG = '.' + 'x'.repeat(3999) // a 4000-character value
t.equal(LONG.length, 4000)

// ---------------------------------------------------------------------------------------------
// findCookieValue
// ---------------------------------------------------------------------------------------------

interface CookieRow {
  name: string
  header: string | readonly string[] | undefined
  cookie?: string
  expected: string | undefined
}

const cookieRows: CookieRow[] = [
  { name: 'the header is only the cookie', header: `ROUTEID=.${R2}`, expected: `.${R2}` },
  { name: 'id, separator and route', header: `ROUTEID=abc.${R2}`, expected: `abc.${R2}` },
  { name: 'no header', header: undefined, expected: undefined },
  { name: 'empty header', header: '', expected: undefined },
  { name: 'other cookies only', header: 'a=1; b=2', expected: undefined },
  { name: 'after other cookies, "; " boundary', header: `a=1; ROUTEID=.${R2}`, expected: `.${R2}` },
  { name: 'after ";" without space', header: `a=1;ROUTEID=.${R2}`, expected: `.${R2}` },
  { name: 'after "," (comma boundary)', header: `a=1,ROUTEID=.${R2}`, expected: `.${R2}` },
  { name: 'after a space only', header: `a=1 ROUTEID=.${R2}`, expected: `.${R2}` },
  { name: 'value ends at ";"', header: `ROUTEID=.${R2}; a=1`, expected: `.${R2}` },
  { name: 'value ends at ","', header: `ROUTEID=.${R2},a=1`, expected: `.${R2}` },
  { name: 'empty value alone (nothing after "=") is no cookie', header: 'ROUTEID=', expected: undefined },
  { name: 'empty value followed by ";" is an empty value', header: 'ROUTEID=; a=1', expected: '' },
  { name: 'first cookie of the name wins', header: `ROUTEID=.${R2}; ROUTEID=.${R3}`, expected: `.${R2}` },
  { name: 'ROUTEID=; ROUTEID=.x: the empty first one wins', header: `ROUTEID=; ROUTEID=.${R3}`, expected: '' },
  { name: 'XROUTEID= is not ROUTEID=', header: `XROUTEID=.${R2}`, expected: undefined },
  { name: 'XROUTEID= skipped, later ROUTEID= found', header: `XROUTEID=.${R3}; ROUTEID=.${R2}`, expected: `.${R2}` },
  { name: 'ROUTEIDX= is not ROUTEID=', header: `ROUTEIDX=.${R3}; ROUTEID=.${R2}`, expected: `.${R2}` },
  { name: 'name inside another cookie value does not count', header: `a=ROUTEID=.${R3}; ROUTEID=.${R2}`, expected: `.${R2}` },
  { name: 'cookie name in another case (routeid=)', header: `routeid=.${R2}`, expected: undefined },
  { name: 'lower-case cookie skipped, exact name found', header: `routeid=.${R3}; ROUTEID=.${R2}`, expected: `.${R2}` },
  { name: 'white space before "="', header: `ROUTEID =.${R2}`, expected: `.${R2}` },
  { name: 'several spaces before "="', header: `a=1; ROUTEID   =.${R2}`, expected: `.${R2}` },
  { name: 'name without "=" is no cookie', header: 'ROUTEID; a=1', expected: undefined },
  { name: 'quoted value is returned with its quotes', header: `ROUTEID=".${R2}"`, expected: `".${R2}"` },
  { name: '4000-character value', header: `ROUTEID=${LONG}`, expected: LONG },
  { name: 'two Cookie header lines (array): second line', header: ['a=1', `ROUTEID=.${R2}`], expected: `.${R2}` },
  { name: 'two Cookie header lines (array): first line wins', header: [`ROUTEID=.${R2}`, `ROUTEID=.${R3}`], expected: `.${R2}` },
  { name: 'two Cookie header lines (array): value does not run into the next line', header: [`a=1; ROUTEID=.${R2}`, 'b=2'], expected: `.${R2}` },
  { name: 'empty array', header: [], expected: undefined },
  { name: 'JSESSIONID with two dots', header: `JSESSIONID=ABC.123.${R2}`, cookie: 'JSESSIONID', expected: `ABC.123.${R2}` }
]

t.test('findCookieValue: table', async t => {
  for (const row of cookieRows) {
    t.equal(findCookieValue(row.header, row.cookie ?? 'ROUTEID'), row.expected, row.name)
  }
})

// ---------------------------------------------------------------------------------------------
// findUrlParam
// ---------------------------------------------------------------------------------------------

interface UrlRow {
  name: string
  url: string
  param?: string
  expected: string | undefined
}

const urlRows: UrlRow[] = [
  { name: 'path parameter ;jsessionid=', url: `/app;jsessionid=ABC.${R2}`, expected: `ABC.${R2}` },
  { name: 'query parameter ?jsessionid=', url: `/app?jsessionid=ABC.${R2}`, expected: `ABC.${R2}` },
  { name: 'query parameter &jsessionid=', url: `/app?x=1&jsessionid=ABC.${R2}`, expected: `ABC.${R2}` },
  { name: 'path parameter followed by ?x=1', url: `/app;jsessionid=ABC.${R2}?x=1`, expected: `ABC.${R2}` },
  { name: 'query value ends at &', url: `/app?jsessionid=ABC.${R2}&x=1`, expected: `ABC.${R2}` },
  { name: 'value ends at ; (our difference)', url: `/app;jsessionid=ABC.${R2};x=1`, expected: `ABC.${R2}` },
  { name: 'name is case-sensitive', url: `/app;JSESSIONID=ABC.${R2}`, expected: undefined },
  { name: '/xjsessionid= is not at a parameter boundary (our difference)', url: `/xjsessionid=ABC.${R2}`, expected: undefined },
  { name: '/jsessionid= after a slash is not a parameter', url: `/app/jsessionid=ABC.${R2}`, expected: undefined },
  { name: '?ajsessionid= is another parameter (our difference)', url: `/app?ajsessionid=ABC.${R2}`, expected: undefined },
  { name: 'non-boundary occurrence skipped, boundary one found', url: `/app?ajsessionid=ABC.${R3}&jsessionid=DEF.${R2}`, expected: `DEF.${R2}` },
  { name: 'empty value is skipped', url: '/app;jsessionid=?x=1', expected: undefined },
  { name: 'empty value at the end is skipped', url: '/app?jsessionid=', expected: undefined },
  { name: 'empty value skipped, next occurrence used', url: `/app;jsessionid=?jsessionid=DEF.${R2}`, expected: `DEF.${R2}` },
  { name: 'first occurrence wins', url: `/app?jsessionid=A.${R2}&jsessionid=B.${R3}`, expected: `A.${R2}` },
  { name: 'name without = is no parameter', url: `/app;jsessionid?x=ABC.${R2}`, expected: undefined },
  { name: 'no parameter at all', url: '/app/index.html?x=1', expected: undefined },
  { name: 'empty URL', url: '', expected: undefined },
  { name: 'single name used as parameter', url: `/?ROUTEID=.${R2}`, param: 'ROUTEID', expected: `.${R2}` }
]

t.test('findUrlParam: table', async t => {
  for (const row of urlRows) {
    t.equal(findUrlParam(row.url, row.param ?? 'jsessionid'), row.expected, row.name)
  }
})

// ---------------------------------------------------------------------------------------------
// routeOf
// ---------------------------------------------------------------------------------------------

const routeRows: Array<{ name: string, value: string, separator: string | undefined, expected: string | undefined }> = [
  { name: 'separator then route', value: `.${R2}`, separator: '.', expected: R2 },
  { name: 'id, separator, route', value: `abc.${R2}`, separator: '.', expected: R2 },
  { name: 'text after the FIRST separator', value: `ABC.123.${R2}`, separator: '.', expected: `123.${R2}` },
  { name: 'extra text after the route stays in the route', value: `.${R2}.x`, separator: '.', expected: `${R2}.x` },
  { name: 'no separator in the value: no route', value: R2, separator: '.', expected: undefined },
  { name: 'empty value: no route', value: '', separator: '.', expected: undefined },
  { name: 'separator at the end: empty route is no route', value: 'abc.', separator: '.', expected: undefined },
  { name: 'letter case is kept', value: '.TOMCAT_INSTANCE_2', separator: '.', expected: 'TOMCAT_INSTANCE_2' },
  { name: 'quoted value keeps the closing quote', value: `".${R2}"`, separator: '.', expected: `${R2}"` },
  { name: 'other separator', value: `abc~${R2}`, separator: '~', expected: R2 },
  { name: 'other separator: a dot is not it', value: `abc.${R2}`, separator: '~', expected: undefined },
  { name: 'separator off: whole value', value: R2, separator: undefined, expected: R2 },
  { name: 'separator off: .r2 stays .r2', value: `.${R2}`, separator: undefined, expected: `.${R2}` },
  { name: 'separator off: empty value is no route', value: '', separator: undefined, expected: undefined }
]

t.test('routeOf: table', async t => {
  for (const row of routeRows) {
    t.equal(routeOf(row.value, row.separator), row.expected, row.name)
  }
})

// ---------------------------------------------------------------------------------------------
// findSessionRoute + balancer: the spec's "Reading the route" rows end to end
// ---------------------------------------------------------------------------------------------

const M2: SessionSource = { cookie: 'ROUTEID', urlParam: 'ROUTEID' }
const M1: SessionSource = { cookie: 'JSESSIONID', urlParam: 'jsessionid' }

interface SessionRow {
  name: string
  cookie?: string | readonly string[]
  url?: string
  /** Method 2 (`ROUTEID`) unless said otherwise. */
  source?: SessionSource
  /** `'.'` unless said otherwise; `false` = switched off. */
  separator?: string | false
  session: SessionRoute | undefined
  /** The member route that serves the request, or `null` when the client is treated as having no route (balanced). */
  sticksTo: string | null
}

const rows: SessionRow[] = [
  // --- cookie forms and the first separator
  { name: 'ROUTEID=.route', cookie: `ROUTEID=.${R2}`, session: { source: 'cookie', value: `.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'ROUTEID=abc.route', cookie: `ROUTEID=abc.${R2}`, session: { source: 'cookie', value: `abc.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'JSESSIONID=ABC.123.route: route after the FIRST separator matches nothing', source: M1, cookie: `JSESSIONID=ABC.123.${R2}`, session: { source: 'cookie', value: `ABC.123.${R2}`, route: `123.${R2}` }, sticksTo: null },
  { name: 'JSESSIONID=ABC.route (Method 1)', source: M1, cookie: `JSESSIONID=ABC.${R2}`, session: { source: 'cookie', value: `ABC.${R2}`, route: R2 }, sticksTo: R2 },
  // --- separator switched off
  { name: 'separator off: whole value is the route', separator: false, cookie: `ROUTEID=${R2}`, session: { source: 'cookie', value: R2, route: R2 }, sticksTo: R2 },
  { name: 'separator off: .r2 does not match r2', separator: false, cookie: `ROUTEID=.${R2}`, session: { source: 'cookie', value: `.${R2}`, route: `.${R2}` }, sticksTo: null },
  // --- other separator
  { name: 'separator ~: id~route', separator: '~', cookie: `ROUTEID=abc~${R2}`, session: { source: 'cookie', value: `abc~${R2}`, route: R2 }, sticksTo: R2 },
  // --- no route
  { name: 'value without separator', cookie: `ROUTEID=${R2}`, session: { source: 'cookie', value: R2, route: undefined }, sticksTo: null },
  { name: 'empty value', cookie: 'ROUTEID=', session: undefined, sticksTo: null },
  { name: 'empty value then another cookie', cookie: 'ROUTEID=; a=1', session: { source: 'cookie', value: '', route: undefined }, sticksTo: null },
  { name: 'unknown route (handled by the balancer: balanced)', cookie: 'ROUTEID=.tomcat_instance_9', session: { source: 'cookie', value: '.tomcat_instance_9', route: 'tomcat_instance_9' }, sticksTo: null },
  { name: 'route in another letter case', cookie: 'ROUTEID=.TOMCAT_INSTANCE_2', session: { source: 'cookie', value: '.TOMCAT_INSTANCE_2', route: 'TOMCAT_INSTANCE_2' }, sticksTo: null },
  { name: 'extra text after the route', cookie: `ROUTEID=.${R2}.x`, session: { source: 'cookie', value: `.${R2}.x`, route: `${R2}.x` }, sticksTo: null },
  { name: 'quoted value', cookie: `ROUTEID=".${R2}"`, session: { source: 'cookie', value: `".${R2}"`, route: `${R2}"` }, sticksTo: null },
  { name: 'cookie name in another case (routeid=)', cookie: `routeid=.${R2}`, session: undefined, sticksTo: null },
  { name: '4000-character value', cookie: `ROUTEID=${LONG}`, session: { source: 'cookie', value: LONG, route: LONG.slice(1) }, sticksTo: null },
  { name: '4000-character value without separator', cookie: `ROUTEID=${'x'.repeat(4000)}`, session: { source: 'cookie', value: 'x'.repeat(4000), route: undefined }, sticksTo: null },
  { name: 'no cookie, no URL', session: undefined, sticksTo: null },
  // --- boundaries
  { name: 'XROUTEID= is not ROUTEID=', cookie: `XROUTEID=.${R2}`, session: undefined, sticksTo: null },
  { name: 'XROUTEID= then ROUTEID=', cookie: `XROUTEID=.${R3}; ROUTEID=.${R2}`, session: { source: 'cookie', value: `.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'first cookie wins', cookie: `ROUTEID=.${R2}; ROUTEID=.${R3}`, session: { source: 'cookie', value: `.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'ROUTEID=; ROUTEID=.x: the empty first one wins (no route)', cookie: `ROUTEID=; ROUTEID=.${R3}`, session: { source: 'cookie', value: '', route: undefined }, sticksTo: null },
  { name: 'two Cookie header lines (array)', cookie: ['a=1; b=2', `ROUTEID=.${R2}`], session: { source: 'cookie', value: `.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'white space before =', cookie: `a=1; ROUTEID =.${R2}`, session: { source: 'cookie', value: `.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'comma boundary', cookie: `a=1,ROUTEID=.${R2},b=2`, session: { source: 'cookie', value: `.${R2}`, route: R2 }, sticksTo: R2 },
  // --- URL session ids (Method 1: JSESSIONID|jsessionid)
  { name: 'URL ;jsessionid= path parameter', source: M1, url: `/app;jsessionid=ABC.${R2}`, session: { source: 'url', value: `ABC.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'URL ?jsessionid=', source: M1, url: `/app?jsessionid=ABC.${R2}`, session: { source: 'url', value: `ABC.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'URL &jsessionid=', source: M1, url: `/app?x=1&jsessionid=ABC.${R2}`, session: { source: 'url', value: `ABC.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'URL ;jsessionid= followed by ?x=1', source: M1, url: `/app;jsessionid=ABC.${R2}?x=1`, session: { source: 'url', value: `ABC.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'URL value ends at ;', source: M1, url: `/app;jsessionid=ABC.${R2};x=1`, session: { source: 'url', value: `ABC.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'URL value ends at &', source: M1, url: `/app?jsessionid=ABC.${R2}&x=1`, session: { source: 'url', value: `ABC.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'URL name is case-sensitive', source: M1, url: `/app;JSESSIONID=ABC.${R2}`, session: undefined, sticksTo: null },
  { name: 'URL wins over cookie', source: M1, url: `/app;jsessionid=ABC.${R2}`, cookie: `JSESSIONID=XYZ.${R3}`, session: { source: 'url', value: `ABC.${R2}`, route: R2 }, sticksTo: R2 },
  { name: '/xjsessionid= does not count: cookie used', source: M1, url: `/xjsessionid=ABC.${R2}`, cookie: `JSESSIONID=XYZ.${R3}`, session: { source: 'cookie', value: `XYZ.${R3}`, route: R3 }, sticksTo: R3 },
  { name: '/xjsessionid= does not count: no route', source: M1, url: `/xjsessionid=ABC.${R2}`, session: undefined, sticksTo: null },
  { name: '?ajsessionid= does not count', source: M1, url: `/app?ajsessionid=ABC.${R2}`, cookie: `JSESSIONID=XYZ.${R3}`, session: { source: 'cookie', value: `XYZ.${R3}`, route: R3 }, sticksTo: R3 },
  { name: 'empty URL value falls back to the cookie', source: M1, url: '/app;jsessionid=?x=1', cookie: `JSESSIONID=XYZ.${R3}`, session: { source: 'cookie', value: `XYZ.${R3}`, route: R3 }, sticksTo: R3 },
  { name: 'URL value without separator: no route, cookie not consulted', source: M1, url: '/app;jsessionid=ABC', cookie: `JSESSIONID=XYZ.${R3}`, session: { source: 'url', value: 'ABC', route: undefined }, sticksTo: null },
  { name: 'single name (ROUTEID) is used for the URL too', url: `/app?ROUTEID=.${R2}`, session: { source: 'url', value: `.${R2}`, route: R2 }, sticksTo: R2 },
  { name: 'cookie named like the URL parameter (jsessionid=) is not the cookie', source: M1, cookie: `jsessionid=ABC.${R2}`, session: undefined, sticksTo: null },
  { name: 'URL ignored when urlParam is off', source: { cookie: 'JSESSIONID', urlParam: undefined }, url: `/app;jsessionid=ABC.${R2}`, cookie: `JSESSIONID=XYZ.${R3}`, session: { source: 'cookie', value: `XYZ.${R3}`, route: R3 }, sticksTo: R3 }
]

function membersOptions (row: SessionRow): StickyOptions {
  const source = row.source ?? M2
  return {
    members: [
      { url: 'http://127.0.0.1:8081', route: R1 },
      { url: 'http://127.0.0.1:8082', route: R2 },
      { url: 'http://127.0.0.1:8083', route: R3 }
    ],
    stickySession: { cookie: source.cookie, urlParam: source.urlParam ?? false },
    routeSeparator: row.separator ?? '.',
    now: () => 0
  }
}

t.test('findSessionRoute: table', async t => {
  for (const row of rows) {
    const sep = row.separator === false ? undefined : row.separator ?? '.'
    t.same(findSessionRoute(row.cookie, row.url, row.source ?? M2, sep), row.session, row.name)
  }
})

t.test('findSessionRoute: rows through a balancer (which member serves)', async t => {
  for (const row of rows) {
    // A fresh balancer: a balanced (new) client goes to the first member, tomcat_instance_1.
    const balancer = createBalancer(membersOptions(row))
    const d = balancer.select({ cookie: row.cookie, url: row.url })
    if (!d.ok) {
      t.fail(`${row.name}: expected a member, got ${JSON.stringify(d)}`)
      continue
    }
    t.same([d.routeSource, d.clientRoute], [row.session?.source, row.session?.route], `${row.name}: where the route came from`)
    if (row.sticksTo === null) {
      t.equal(d.route, R1, `${row.name}: balanced to the first member`)
      t.equal(d.routeChanged, true, `${row.name}: route changed`)
    } else {
      t.equal(d.route, row.sticksTo, `${row.name}: sticks to ${row.sticksTo}`)
      t.equal(d.routeChanged, false, `${row.name}: route not changed`)
    }
  }
})

t.test('findSessionRoute: no URL parameter name reads only the cookie', async t => {
  t.same(findSessionRoute(undefined, `/a;ROUTEID=.${R2}`, { cookie: 'ROUTEID', urlParam: undefined }, '.'), undefined)
  t.same(findSessionRoute(`ROUTEID=.${R3}`, undefined, M2, '.'), { source: 'cookie', value: `.${R3}`, route: R3 })
})

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const NAMES = fc.constantFrom('ROUTEID', 'JSESSIONID', 'jsessionid', 'a', 'ab', 'aa', 'x.y')
const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii', maxLength: 200 }))
const anyName = fc.oneof(NAMES, fc.string({ minLength: 1, maxLength: 8 }))
// Arbitrary text mixed with the usual names and the characters that matter, so names are found often.
const pieces = fc.array(fc.oneof(anyString, NAMES, NAMES.map(n => `${n}=`), fc.constantFrom(';', ',', ' ', '=', '?', '&', '.')), { maxLength: 12 })
  .map(p => p.join(''))
const anyText = fc.oneof(anyString, pieces)
const anyHeader = fc.oneof(anyText, fc.array(anyText, { maxLength: 4 }))
const optHeader = fc.option(anyHeader, { nil: undefined })
const optUrl = fc.option(anyText, { nil: undefined })
const optParam = fc.option(anyName, { nil: undefined })
const anySeparator = fc.oneof(fc.constant<string | undefined>(undefined), fc.constantFrom('.', '~', '-', 'a'))

/** Runs a property; on failure the test fails with fast-check's report (seed and counterexample). */
function holds<Ts extends [unknown, ...unknown[]]> (t: Test, name: string, property: fc.IPropertyWithHooks<Ts>, numRuns: number): void {
  const out = fc.check(property, { numRuns })
  t.equal(out.failed, false, out.failed ? `${name}\n${fc.defaultReportMessage(out) ?? ''}` : name)
}

function joined (h: string | readonly string[]): string {
  return typeof h === 'string' ? h : h.join('; ')
}

t.test('property: never throws on arbitrary input', async t => {
  holds(t, 'findCookieValue', fc.property(anyHeader, anyName, (h, name) => {
    findCookieValue(h, name)
  }), 2000)
  holds(t, 'findUrlParam', fc.property(anyText, anyName, (url, name) => {
    findUrlParam(url, name)
  }), 2000)
  holds(t, 'findSessionRoute', fc.property(optHeader, optUrl, anyName, optParam, anySeparator, (h, url, cookie, urlParam, sep) => {
    findSessionRoute(h, url, { cookie, urlParam }, sep)
  }), 2000)
})

t.test('property: the value returned is a substring of the input', async t => {
  holds(t, 'findCookieValue', fc.property(anyHeader, anyName, (h, name) => {
    const v = findCookieValue(h, name)
    return v === undefined || joined(h).includes(v)
  }), 2000)
  holds(t, 'findUrlParam', fc.property(anyText, anyName, (url, name) => {
    const v = findUrlParam(url, name)
    return v === undefined || url.includes(v)
  }), 2000)
  holds(t, 'findSessionRoute', fc.property(optHeader, optUrl, anyName, optParam, anySeparator, (h, url, cookie, urlParam, sep) => {
    const s = findSessionRoute(h, url, { cookie, urlParam }, sep)
    if (s === undefined) return true
    const from = s.source === 'url' ? url : h === undefined ? undefined : joined(h)
    return from !== undefined && from.includes(s.value) && (s.route === undefined || s.value.endsWith(s.route))
  }), 2000)
})

t.test('property: a cookie value never contains ";" or ","', async t => {
  holds(t, 'findCookieValue', fc.property(anyHeader, anyName, (h, name) => {
    const v = findCookieValue(h, name)
    return v === undefined || (!v.includes(';') && !v.includes(','))
  }), 3000)
})

t.test('property: a URL value is non-empty and never contains ";", "?" or "&"', async t => {
  holds(t, 'findUrlParam', fc.property(anyText, anyName, (url, name) => {
    const v = findUrlParam(url, name)
    return v === undefined || (v !== '' && !/[;?&]/.test(v))
  }), 3000)
})

t.test('property: "<junk>; NAME=<v>" gives v when junk does not contain NAME', async t => {
  const value = fc.string({ minLength: 1, maxLength: 40 }).filter(v => !v.includes(';') && !v.includes(','))
  holds(t, 'junk; NAME=v', fc.property(NAMES, anyText, value, (name, junk, v) => {
    fc.pre(!junk.includes(name))
    return findCookieValue(`${junk}; ${name}=${v}`, name) === v
  }), 3000)
  holds(t, 'junk lines, then NAME=v as its own header line', fc.property(NAMES, fc.array(anyText, { maxLength: 3 }), value, (name, lines, v) => {
    fc.pre(lines.every(l => !l.includes(name)))
    return findCookieValue([...lines, `${name}=${v}`], name) === v
  }), 2000)
})

t.test('property: ;NAME=v, ?NAME=v and &NAME=v in a URL give v', async t => {
  const value = fc.string({ minLength: 1, maxLength: 40 }).filter(v => !/[;?&#]/.test(v))
  holds(t, 'junk<sep>NAME=v', fc.property(NAMES, anyText, fc.constantFrom(';', '?', '&'), value, (name, junk, sep, v) => {
    fc.pre(!junk.includes(name) && !junk.includes('#'))
    return findUrlParam(`${junk}${sep}${name}=${v}`, name) === v
  }), 3000)
})

/**
 * Reference model, written from the spec's words: the first cookie of that name that starts the
 * header or follows ';', ',' or a space (case-sensitive); spaces may stand before '='; its value
 * ends at ';' or ','. An '=' with nothing at all after it (end of the header) carries no value
 * and is passed over, as Apache's `get_cookie_param` does (`start_cookie[1]` check).
 */
function modelCookie (header: string, name: string): string | undefined {
  for (let p = 0; p + name.length <= header.length; p++) {
    const atBoundary = p === 0 || [';', ',', ' '].includes(header[p - 1] as string)
    if (!atBoundary || header.slice(p, p + name.length) !== name) continue
    const rest = header.slice(p + name.length).replace(/^ +/, '')
    if (!rest.startsWith('=') || rest.length === 1) continue
    return rest.slice(1).split(/[;,]/)[0]
  }
  return undefined
}

/** Reference model for the URL: `name=` right after ';', '?' or '&'; value up to ';', '?' or '&'; an empty value does not count. */
function modelUrl (url: string, name: string): string | undefined {
  for (let p = 1; p + name.length <= url.length; p++) {
    if (![';', '?', '&'].includes(url[p - 1] as string) || !url.startsWith(`${name}=`, p)) continue
    const v = url.slice(p + name.length + 1).split(/[;?&]/)[0] as string
    if (v !== '') return v
  }
  return undefined
}

t.test('model: the reference models agree with the spec rows', async t => {
  for (const row of cookieRows) {
    if (typeof row.header === 'string') t.equal(modelCookie(row.header, row.cookie ?? 'ROUTEID'), row.expected, `cookie model: ${row.name}`)
  }
  for (const row of urlRows) t.equal(modelUrl(row.url, row.param ?? 'jsessionid'), row.expected, `url model: ${row.name}`)
})

t.test('property: findCookieValue agrees with the reference model on collision-heavy headers', async t => {
  // Character level: a short name over a tiny alphabet (plus the name and `name=` as units, so that
  // it occurs often), giving partial, overlapping and badly bounded names in abundance.
  const charHeader = (letters: string[], name: string) => fc.array(
    fc.constantFrom(';', ',', ' ', '=', '.', ...letters, name, `${name}=`, ` ${name} =`), { maxLength: 16 }).map(p => p.join(''))
  // Token level: pieces of the real name glued with separators.
  const tokenHeader = fc.array(fc.constantFrom('ROUTEID', 'ROUTEID=', 'XROUTEID=', 'ROUTE', 'ID', 'ID=', 'routeid=', 'ROUTEIDROUTEID=',
    ';', ',', ' ', '=', '.', '.r2', 'x'), { maxLength: 14 }).map(parts => parts.join(''))
  const cookieName = fc.constantFrom('a', 'ab', 'ba', 'aba', 'aa')
  holds(t, 'names a/ab/ba/aba/aa over {;, =.ab}', fc.property(cookieName.chain(name => fc.tuple(fc.constant(name), charHeader(['a', 'b'], name))),
    ([name, h]) => findCookieValue(h, name) === modelCookie(h, name)), 20000)
  holds(t, 'ROUTEID over name fragments', fc.property(tokenHeader, h => findCookieValue(h, 'ROUTEID') === modelCookie(h, 'ROUTEID')), 20000)
  holds(t, 'several header lines = one header joined with "; "', fc.property(fc.array(tokenHeader, { minLength: 1, maxLength: 3 }),
    lines => findCookieValue(lines, 'ROUTEID') === modelCookie(lines.join('; '), 'ROUTEID')), 5000)
})

t.test('property: findUrlParam agrees with the reference model on collision-heavy URLs', async t => {
  const url = (name: string) => fc.array(fc.constantFrom('/', ';', '?', '&', '=', '.', 'j', 's', name, `${name}=`), { maxLength: 16 }).map(p => p.join(''))
  holds(t, 'names js/j/sj/jsj', fc.property(fc.constantFrom('js', 'j', 'sj', 'jsj').chain(name => fc.tuple(fc.constant(name), url(name))),
    ([name, u]) => findUrlParam(u, name) === modelUrl(u, name)), 20000)
})

t.test('property: the route is the text after the first separator', async t => {
  holds(t, 'routeOf', fc.property(fc.string({ unit: fc.constantFrom('.', 'a', 'b', '~') }), fc.constantFrom('.', '~'), (v, sep) => {
    const at = v.indexOf(sep)
    const expected = at === -1 || at === v.length - 1 ? undefined : v.slice(at + 1)
    return routeOf(v, sep) === expected
  }), 3000)
})

t.test('nothing after a fragment mark counts as a URL parameter', async t => {
  t.equal(findUrlParam('/x#;jsessionid=z.b', 'jsessionid'), undefined)
  t.equal(findUrlParam('/x?a=1#&jsessionid=z.b', 'jsessionid'), undefined)
  t.equal(findUrlParam('/x;jsessionid=z.b#frag', 'jsessionid'), 'z.b')
})

t.test('an empty name finds nothing (and does not loop)', async t => {
  t.equal(findUrlParam('/x?=1', ''), undefined)
  t.equal(findCookieValue('=1; a=2', ''), undefined)
})
