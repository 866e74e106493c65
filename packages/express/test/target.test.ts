/**
 * proxyTarget(): a member URL in the shape of http-proxy's own `url.parse()` of it, for every
 * field http-proxy reads, so that handing it over pre-parsed changes nothing.
 */
import fc from 'fast-check'
import t from 'tap'
// http-proxy's own parser: the reference.
// eslint-disable-next-line n/no-deprecated-api
import { parse } from 'node:url'
import { proxyTarget } from '../src/target.js'

const FIELDS = ['protocol', 'host', 'hostname', 'port', 'path', 'pathname', 'href'] as const

/** Member URLs reach the adapter as the core stores them: `new URL(url).origin`. */
function same (given: string): boolean {
  const url = new URL(given).origin
  const ours = proxyTarget(url)
  const theirs = parse(url)
  return FIELDS.every(f => ours[f] === theirs[f])
}

t.test('the member URLs of the tests and examples', async t => {
  for (const url of ['http://127.0.0.1:8081', 'http://127.0.0.1:8081/', 'https://127.0.0.1:8443', 'http://localhost', 'https://app.example', 'http://[::1]:8080', 'https://[::1]', 'http://node1.internal:80']) {
    t.ok(same(url), url)
  }
})

t.test('any origin the core accepts', async t => {
  const host = fc.oneof(fc.ipV4(), fc.domain(), fc.constantFrom('[::1]', '[2001:db8::7]', 'localhost'))
  fc.assert(fc.property(fc.constantFrom('http', 'https'), host, fc.option(fc.integer({ min: 1, max: 65535 })), (scheme, h, port) =>
    same(`${scheme}://${h}${port === null ? '' : `:${port}`}`)))
  t.pass('same fields as url.parse()')
})
