/**
 * connectionTokens() and stripHopByHop(): the hop-by-hop headers both adapters keep off the
 * other connection (RFC 9110 7.6.1).
 */
import fc from 'fast-check'
import t from 'tap'
import { connectionTokens, stripHopByHop } from '@stickyroute/core'

t.test('connectionTokens(): the names a Connection header lists', async t => {
  const cases: Array<[string | undefined, string[]]> = [
    [undefined, []],
    ['keep-alive', []],
    ['close', []],
    ['Keep-Alive', ['keep-alive']],
    ['close, X-Private', ['close', 'x-private']],
    ['keep-alive,TE', ['keep-alive', 'te']],
    ['  a ,, b  ,', ['a', 'b']],
    ['', []]
  ]
  for (const [value, names] of cases) t.same(connectionTokens(value), names, JSON.stringify(value))
})

t.test('stripHopByHop(): in place, the connection headers and the ones Connection names', async t => {
  const headers = { connection: 'keep-alive, X-Hop', 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive', 'x-hop': '1', 'x-end': 'yes', 'set-cookie': ['a=1'] }
  t.equal(stripHopByHop(headers), headers, 'the same object')
  t.same(headers, { 'x-end': 'yes', 'set-cookie': ['a=1'] })
  t.same(stripHopByHop({ 'x-end': 'yes' }), { 'x-end': 'yes' }, 'nothing to strip')
  t.same(stripHopByHop({ connection: 'close', 'content-length': '3' }), { 'content-length': '3' })
})

t.test('stripHopByHop(): no connection header and no listed name survives, every other header does', async t => {
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/)
  fc.assert(fc.property(fc.dictionary(name, fc.string()), fc.array(name.filter(n => n !== 'close' && n !== 'keep-alive'), { maxLength: 4 }), (fields, listed) => {
    const headers: Record<string, unknown> = { ...fields }
    if (listed.length > 0) headers['connection'] = listed.join(', ')
    const before = { ...headers }
    stripHopByHop(headers)
    const hop = new Set(['connection', 'keep-alive', 'proxy-connection', ...listed])
    return Object.keys(before).every(k => hop.has(k) ? !(k in headers) : headers[k] === before[k])
  }))
  t.pass('holds (the connection options close and keep-alive alone name no header)')
})
