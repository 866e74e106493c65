/**
 * Balancer.upstreamError() with the request method and whether an answer had started: a member
 * that dies with requests in flight resets them before any answer; an idempotent request that
 * can be sent again goes to another member (the member goes in error), everything else keeps
 * its 502 / 503 / 504. Also bodyPlan() and the option retryBodyLimit.
 */
import t from 'tap'
import {
  bodyPlan,
  createBalancer,
  isIdempotent,
  resetCode,
  StickyConfigError,
  type UpstreamErrorAction,
  type UpstreamErrorContext
} from '@stickyroute/core'
import { resolveOptions } from '../src/options.js'
import { MEMBERS, routed } from './fixtures.js'

const connectError = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8082'), { code: 'ECONNREFUSED' })
const hangUp = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })
const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })
// reply-from wraps undici's error: code UND_ERR_SOCKET on the wrapper and on the cause.
const otherSideClosed = Object.assign(new Error('Undici Socket Error'), { code: 'UND_ERR_SOCKET', cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) })
const wrappedReset = new Error('fetch failed', { cause: hangUp })
const timeoutError = Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' })
const other = new Error('something else')

interface Row {
  name: string
  error: unknown
  context: UpstreamErrorContext
  /** `'retry <route>'` or `[status, close]`. */
  expected: string | [number, boolean]
  /** Member b is put in error. */
  inError: boolean
  options?: { failOnTimeout?: boolean, maxAttempts?: number }
}

const rows: Row[] = [
  // A dying member: requests already sent are reset before any answer.
  ...['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'].map((method): Row => ({
    name: `${method} reset before any answer`, error: hangUp, context: { canRetry: true, method }, expected: 'retry c', inError: true
  })),
  { name: 'GET, undici "other side closed"', error: otherSideClosed, context: { canRetry: true, method: 'GET' }, expected: 'retry c', inError: true },
  { name: 'GET, EPIPE', error: epipe, context: { canRetry: true, method: 'GET' }, expected: 'retry c', inError: true },
  { name: 'GET, reset in a cause chain', error: wrappedReset, context: { canRetry: true, method: 'GET', responseStarted: false }, expected: 'retry c', inError: true },
  { name: 'GET reset, maxAttempts 0: 503, member in error', error: hangUp, context: { canRetry: true, method: 'GET' }, expected: [503, false], inError: true, options: { maxAttempts: 0 } },
  // Everything else keeps its answer.
  { name: 'POST reset (not idempotent): 502, member not in error', error: hangUp, context: { canRetry: true, method: 'POST' }, expected: [502, false], inError: false },
  { name: 'PATCH reset: 502', error: otherSideClosed, context: { canRetry: true, method: 'PATCH' }, expected: [502, false], inError: false },
  { name: 'GET reset after the answer started: 502', error: hangUp, context: { canRetry: true, method: 'GET', responseStarted: true }, expected: [502, false], inError: false },
  { name: 'PUT reset with a streamed body (cannot retry): 502', error: hangUp, context: { canRetry: false, method: 'PUT' }, expected: [502, false], inError: false },
  { name: 'reset, no method given: 502 (as before)', error: hangUp, context: { canRetry: true }, expected: [502, false], inError: false },
  { name: 'lower-case method is not a method: 502', error: hangUp, context: { canRetry: true, method: 'get' }, expected: [502, false], inError: false },
  { name: 'POST refused, body kept: retry', error: connectError, context: { canRetry: true, method: 'POST' }, expected: 'retry c', inError: true },
  { name: 'POST refused, body streamed: 502 and close', error: connectError, context: { canRetry: false, method: 'POST' }, expected: [502, true], inError: true },
  { name: 'GET timeout: 504', error: timeoutError, context: { canRetry: true, method: 'GET' }, expected: [504, false], inError: false },
  { name: 'GET timeout, failOnTimeout: 504, member in error', error: timeoutError, context: { canRetry: true, method: 'GET' }, expected: [504, false], inError: true, options: { failOnTimeout: true } },
  { name: 'GET timeout reported as a reset the gateway made (cause chain): 504, not a failover', error: Object.assign(new Error('no answer within proxyTimeout'), { code: 'ESOCKETTIMEDOUT', cause: hangUp }), context: { canRetry: true, method: 'GET' }, expected: [504, false], inError: false },
  { name: 'GET, another error: 502', error: other, context: { canRetry: true, method: 'GET' }, expected: [502, false], inError: false },
  { name: 'GET, not an object: 502', error: 'boom', context: { canRetry: true, method: 'GET' }, expected: [502, false], inError: false }
]

function summary (r: UpstreamErrorAction): string | [number, boolean] {
  if (r.action === 'retry') return `retry ${r.decision.route}`
  return [r.response.status, r.close]
}

t.test('upstreamError(): resets, methods and answers', async t => {
  for (const row of rows) {
    const balancer = createBalancer({ members: MEMBERS, routeCookie: 'ROUTEID', now: () => 1_000_000, ...row.options })
    // b is tried first; byrequests then picks c for the failover (a had the first new client).
    balancer.finished(balancer.select({}))
    const d = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }), row.name)
    const r = balancer.upstreamError(d, row.error, row.context)
    t.same(summary(r), row.expected, `${row.name}: answer`)
    t.equal(balancer.member('b').inError, row.inError, `${row.name}: b in error`)
    t.equal(balancer.member('b').busy, 0, `${row.name}: b released`)
    t.equal(balancer.member('b').failures, 1, `${row.name}: one failure counted`)
    if (r.action === 'retry') {
      t.equal(r.newConnection, false, `${row.name}: to another member`)
      t.equal(r.decision.routeChanged, true, `${row.name}: re-pinned`)
      t.match(r.decision.setCookie, /^ROUTEID=\.c;/, `${row.name}: new cookie`)
      balancer.finished(r.decision, { status: 200 })
    }
  }
})

t.test('a reset before any answer on a reused kept-alive connection: same member, new connection, no failure', async t => {
  const cases: Array<{ name: string, error: unknown, context: UpstreamErrorContext, expected: string | [number, boolean], failures: number, inError: boolean }> = [
    { name: 'GET, socket hang up', error: hangUp, context: { canRetry: true, method: 'GET', reusedConnection: true }, expected: 'same b', failures: 0, inError: false },
    { name: 'DELETE, EPIPE', error: epipe, context: { canRetry: true, method: 'DELETE', reusedConnection: true }, expected: 'same b', failures: 0, inError: false },
    // Not known to be safe to send twice: the usual answers.
    { name: 'POST: 502, not counted', error: hangUp, context: { canRetry: true, method: 'POST', reusedConnection: true }, expected: [502, false], failures: 0, inError: false },
    { name: 'GET, body streamed: 502, not counted', error: hangUp, context: { canRetry: false, method: 'GET', reusedConnection: true }, expected: [502, false], failures: 0, inError: false },
    { name: 'GET, answer started: 502', error: hangUp, context: { canRetry: true, method: 'GET', reusedConnection: true, responseStarted: true }, expected: [502, false], failures: 1, inError: false },
    // Already sent again on a new connection (reusedConnection false): a failover.
    { name: 'GET, second reset', error: hangUp, context: { canRetry: true, method: 'GET', reusedConnection: false }, expected: 'retry c', failures: 1, inError: true },
    // Not a reset: a refused connection is the member's, whatever the connection before.
    { name: 'GET refused', error: connectError, context: { canRetry: true, method: 'GET', reusedConnection: true }, expected: 'retry c', failures: 1, inError: true },
    { name: 'GET timeout', error: timeoutError, context: { canRetry: true, method: 'GET', reusedConnection: true }, expected: [504, false], failures: 1, inError: false }
  ]
  for (const c of cases) {
    const balancer = createBalancer({ members: MEMBERS, routeCookie: 'ROUTEID', now: () => 1_000_000 })
    balancer.finished(balancer.select({}))
    const d = routed(t, balancer.select({ cookie: 'ROUTEID=.b' }), c.name)
    const r = balancer.upstreamError(d, c.error, c.context)
    const got = r.action === 'retry' ? (r.newConnection ? `same ${r.decision.route}` : `retry ${r.decision.route}`) : [r.response.status, r.close]
    t.same(got, c.expected, `${c.name}: answer`)
    t.equal(balancer.member('b').failures, c.failures, `${c.name}: failures of b`)
    t.equal(balancer.member('b').inError, c.inError, `${c.name}: b in error`)
    if (r.action === 'retry' && r.newConnection) {
      t.equal(r.decision, d, `${c.name}: the same decision`)
      t.equal(r.decision.routeChanged, false, `${c.name}: not re-pinned`)
      t.equal(balancer.member('b').busy, 1, `${c.name}: still in flight on b`)
      balancer.finished(r.decision, { status: 200 })
      t.equal(balancer.member('b').busy, 0, `${c.name}: released once answered`)
    }
  }
})

t.test('a reset before any answer says so in the state event', async t => {
  const balancer = createBalancer({ members: MEMBERS, routeCookie: 'ROUTEID' })
  const details: Array<string | undefined> = []
  balancer.on('state', e => { details.push(`${e.member.route} ${e.flag}=${String(e.value)} ${e.reason} ${e.detail ?? ''}`) })
  balancer.upstreamError(routed(t, balancer.select({ cookie: 'ROUTEID=.b' })), otherSideClosed, { canRetry: true, method: 'GET' })
  t.same(details, ['b inError=true connect-failure UND_ERR_SOCKET before any answer'])
})

t.test('resetCode() and isIdempotent()', async t => {
  t.equal(resetCode(hangUp), 'ECONNRESET')
  t.equal(resetCode(wrappedReset), 'ECONNRESET')
  t.equal(resetCode(otherSideClosed), 'UND_ERR_SOCKET')
  t.equal(resetCode(connectError), undefined)
  t.equal(resetCode(null), undefined)
  t.equal(isIdempotent('GET'), true)
  t.equal(isIdempotent('POST'), false)
  t.equal(isIdempotent(undefined), false)
})

t.test('bodyPlan(): what to keep for a replay', async t => {
  const cases: Array<[Record<string, string>, number, string]> = [
    [{}, 1024, 'none'],
    [{ 'content-length': '0' }, 1024, 'none'],
    [{ 'content-length': '1024' }, 1024, 'buffer'],
    [{ 'content-length': '1025' }, 1024, 'stream'],
    [{ 'content-length': 'x' }, 1024, 'stream'],
    [{ 'content-length': '-1' }, 1024, 'stream'],
    [{ 'transfer-encoding': 'chunked' }, 1024, 'buffer'],
    [{ 'transfer-encoding': 'chunked' }, 0, 'stream'],
    [{ 'content-length': '10' }, 0, 'stream']
  ]
  for (const [headers, limit, expected] of cases) t.equal(bodyPlan(headers, limit), expected, `${JSON.stringify(headers)} limit ${limit}`)
})

t.test('retryBodyLimit: default 1 MiB, 0 switches it off, anything else is refused by name', async t => {
  t.equal(resolveOptions({ members: MEMBERS }).retryBodyLimit, 1_048_576)
  t.equal(resolveOptions({ members: MEMBERS, retryBodyLimit: 0 }).retryBodyLimit, 0)
  t.equal(resolveOptions({ members: MEMBERS, retryBodyLimit: 65_536 }).retryBodyLimit, 65_536)
  for (const bad of [-1, 1.5, '1024', Number.NaN, 2 ** 31]) {
    let caught: unknown
    try {
      resolveOptions({ members: MEMBERS, retryBodyLimit: bad as number })
    } catch (err) {
      caught = err
    }
    t.ok(caught instanceof StickyConfigError, `${String(bad)} refused`)
    t.match(caught, { code: 'ERR_STICKY_INVALID_OPTION', message: /retryBodyLimit/ }, `${String(bad)}: the error names the option`)
  }
})
