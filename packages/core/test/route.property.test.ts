/**
 * Hardening, route extraction: for arbitrary Cookie headers and request targets (realistic and
 * hostile: collisions of names, separators only, quotes, %00, NUL, non-ASCII, very long values)
 * the readers never throw and agree with the reference model written from the spec
 * (spec-model.ts). Fixed seed; a failure prints fast-check's counterexample.
 */
import fc from 'fast-check'
import t from 'tap'
import { findCookieValue, findSessionRoute, findUrlParam, routeOf } from '../src/route.js'
import { cookieHeader, cookieInput, holds, separator, sessionSource, urlInput } from './property.js'
import { modelCookie, modelRoute, modelSession, modelUrl } from './spec-model.js'

const names = fc.constantFrom('ROUTEID', 'JSESSIONID', 'jsessionid', 'routeid', 'ROUTE', 'ID', 'x', 'r1')
const anyName = fc.oneof(names, fc.string({ maxLength: 4 }))

t.test('the model follows the spec\'s examples', async t => {
  // A few of the spec's own sentences, to make sure the model says what the spec says.
  t.equal(modelCookie('ROUTEID=.tomcat_instance_2; ROUTEID=.tomcat_instance_3', 'ROUTEID'), '.tomcat_instance_2', 'first cookie wins')
  t.equal(modelCookie('ROUTEID=; ROUTEID=.tomcat_instance_3', 'ROUTEID'), '', 'the empty first one wins')
  t.equal(modelCookie('XROUTEID=.r2', 'ROUTEID'), undefined, 'XROUTEID is not ROUTEID')
  t.equal(modelCookie('a=1,ROUTEID=.r2', 'ROUTEID'), '.r2', 'after a comma')
  t.equal(modelCookie('a=1 ROUTEID=.r2', 'ROUTEID'), '.r2', 'after a space')
  t.equal(modelCookie('routeid=.r2', 'ROUTEID'), undefined, 'case-sensitive')
  t.equal(modelCookie(['a=1', 'ROUTEID=.r3'], 'ROUTEID'), '.r3', 'two lines merged')
  t.equal(modelRoute('ABC.123.tomcat_instance_2', '.'), '123.tomcat_instance_2', 'first separator')
  t.equal(modelRoute('.r2', undefined), '.r2', 'separator off')
  t.equal(modelRoute('r2', '.'), undefined, 'no separator')
  t.equal(modelUrl('/app;jsessionid=ABC.r2?x=1', 'jsessionid'), 'ABC.r2', 'path parameter then query')
  t.equal(modelUrl('/app?x=1&jsessionid=ABC.r2', 'jsessionid'), 'ABC.r2', '&name=')
  t.equal(modelUrl('/xjsessionid=ABC.r2', 'jsessionid'), undefined, 'only at a parameter boundary')
  t.equal(modelUrl('/app;jsessionid=ABC.r2;x=1', 'jsessionid'), 'ABC.r2', 'value ends at ;')
  t.equal(modelUrl('/app?jsessionid=&jsessionid=B.r2', 'jsessionid'), 'B.r2', 'empty value skipped')
  t.equal(modelUrl('/app#;jsessionid=B.r2', 'jsessionid'), undefined, 'nothing after # counts')
  t.same(modelSession('JSESSIONID=X.r3', '/a;jsessionid=ABC', 'JSESSIONID', 'jsessionid', '.'),
    { source: 'url', value: 'ABC', route: undefined }, 'the URL wins, even without a route')
})

t.test('never throws, on anything', async t => {
  const anything = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), cookieHeader)
  holds(t, 'findCookieValue', fc.property(fc.oneof(anything, fc.array(anything, { maxLength: 3 })), anyName, (h, name) => {
    findCookieValue(h, name)
  }), 2000)
  holds(t, 'findUrlParam', fc.property(fc.oneof(anything, urlInput.map(u => u ?? '')), anyName, (u, name) => {
    findUrlParam(u, name)
  }), 2000)
  holds(t, 'routeOf', fc.property(anything, fc.option(fc.string({ maxLength: 3 }), { nil: undefined }), (v, sep) => {
    routeOf(v, sep)
  }), 1000)
})

t.test('findCookieValue agrees with the model', async t => {
  holds(t, 'hostile headers', fc.property(cookieInput, names, (h, name) => findCookieValue(h, name) === modelCookie(h, name)), 2000)
  holds(t, 'arbitrary strings and names', fc.property(fc.string(), fc.string({ maxLength: 3 }), (h, name) =>
    findCookieValue(h, name) === modelCookie(h, name)), 2000)
})

t.test('findUrlParam agrees with the model', async t => {
  holds(t, 'hostile targets', fc.property(urlInput, fc.constantFrom('jsessionid', 'ROUTEID', 'JSESSIONID', 'x'), (u, name) =>
    findUrlParam(u ?? '', name) === modelUrl(u ?? '', name)), 2000)
  // URL parameter names are validated (no ';', '?', '&', '#', '='): any other text is fair.
  holds(t, 'arbitrary strings and names', fc.property(fc.string(), fc.string({ maxLength: 3 }).filter(n => !/[;?&#=]/.test(n)), (u, name) =>
    findUrlParam(u, name) === modelUrl(u, name)), 2000)
})

t.test('routeOf agrees with the model', async t => {
  holds(t, 'routeOf', fc.property(fc.oneof(cookieHeader, fc.string()), separator, (v, sep) => routeOf(v, sep) === modelRoute(v, sep)), 2000)
})

t.test('findSessionRoute agrees with the model', async t => {
  holds(t, 'findSessionRoute', fc.property(cookieInput, urlInput, sessionSource, separator, (cookie, url, source, sep) => {
    const got = findSessionRoute(cookie, url, source, sep)
    const want = modelSession(cookie, url, source.cookie, source.urlParam, sep)
    return JSON.stringify(got) === JSON.stringify(want)
  }), 2000)
})

t.test('a value read is always part of what the client sent', async t => {
  holds(t, 'cookie value', fc.property(cookieInput, names, (h, name) => {
    const v = findCookieValue(h, name)
    const joined = h === undefined ? '' : typeof h === 'string' ? h : h.join('; ')
    return v === undefined || (joined.includes(`=${v}`) && !/[;,]/.test(v))
  }), 1000)
  holds(t, 'URL value', fc.property(urlInput, (u) => {
    const v = findUrlParam(u ?? '', 'jsessionid')
    return v === undefined || (v !== '' && (u ?? '').includes(`jsessionid=${v}`) && !/[;?&#]/.test(v))
  }), 1000)
})
