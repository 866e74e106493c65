/**
 * The X-Forwarded-* headers sent to the member, and the classification of upstream errors.
 */
import t from 'tap'
import {
  CONNECT_FAILURE_CODES,
  connectFailureCode,
  forwardedHeaders,
  hasRequestBody,
  isConnectFailure,
  isTimeout,
  type ForwardedInput
} from '@stickyroute/core'

// ---------------------------------------------------------------------------------------------
// forwardedHeaders
// ---------------------------------------------------------------------------------------------

function input (over: Partial<ForwardedInput>): ForwardedInput {
  return {
    host: 'www.example.com',
    remoteAddress: '203.0.113.7',
    secure: false,
    forwardedFor: undefined,
    forwardedHost: undefined,
    forwardedProto: undefined,
    ...over
  }
}

const forwardedRows: Array<{ name: string, input: ForwardedInput, expected: Record<string, string> }> = [
  {
    name: 'nothing sent by the client, plain HTTP',
    input: input({}),
    expected: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'www.example.com', 'x-forwarded-proto': 'http' }
  },
  {
    name: 'HTTPS',
    input: input({ secure: true }),
    expected: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'www.example.com', 'x-forwarded-proto': 'https' }
  },
  {
    name: 'client values (strings) are appended to with ", "',
    input: input({ forwardedFor: '198.51.100.1', forwardedHost: 'edge.example.com', forwardedProto: 'https' }),
    expected: { 'x-forwarded-for': '198.51.100.1, 203.0.113.7', 'x-forwarded-host': 'edge.example.com, www.example.com', 'x-forwarded-proto': 'https, http' }
  },
  {
    name: 'client values already holding a list',
    input: input({ forwardedFor: '198.51.100.1, 198.51.100.2', secure: true, forwardedProto: 'http' }),
    expected: { 'x-forwarded-for': '198.51.100.1, 198.51.100.2, 203.0.113.7', 'x-forwarded-host': 'www.example.com', 'x-forwarded-proto': 'http, https' }
  },
  {
    name: 'client values as several header lines (arrays)',
    input: input({ forwardedFor: ['198.51.100.1', '198.51.100.2'], forwardedHost: ['a.example', 'b.example'], forwardedProto: ['https', 'http'], secure: true }),
    expected: { 'x-forwarded-for': '198.51.100.1, 198.51.100.2, 203.0.113.7', 'x-forwarded-host': 'a.example, b.example, www.example.com', 'x-forwarded-proto': 'https, http, https' }
  },
  {
    name: 'one-element array',
    input: input({ forwardedFor: ['198.51.100.1'] }),
    expected: { 'x-forwarded-for': '198.51.100.1, 203.0.113.7', 'x-forwarded-host': 'www.example.com', 'x-forwarded-proto': 'http' }
  },
  {
    name: 'empty client value: no leading ", "',
    input: input({ forwardedFor: '' }),
    expected: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'www.example.com', 'x-forwarded-proto': 'http' }
  },
  {
    name: 'IPv6 peer',
    input: input({ remoteAddress: '2001:db8::1', forwardedFor: '198.51.100.1' }),
    expected: { 'x-forwarded-for': '198.51.100.1, 2001:db8::1', 'x-forwarded-host': 'www.example.com', 'x-forwarded-proto': 'http' }
  },
  {
    name: 'unknown peer address',
    input: input({ remoteAddress: undefined }),
    expected: { 'x-forwarded-for': 'unknown', 'x-forwarded-host': 'www.example.com', 'x-forwarded-proto': 'http' }
  },
  {
    name: 'no Host and no X-Forwarded-Host: header left out',
    input: input({ host: undefined }),
    expected: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'http' }
  },
  {
    name: 'no Host: the client X-Forwarded-Host passes unchanged',
    input: input({ host: undefined, forwardedHost: 'edge.example.com' }),
    expected: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'edge.example.com', 'x-forwarded-proto': 'http' }
  }
]

t.test('forwardedHeaders: table', async t => {
  for (const row of forwardedRows) {
    t.strictSame({ ...forwardedHeaders(row.input) }, row.expected, row.name)
  }
})

t.test('forwardedHeaders: X-Forwarded-Server is added too (spec: "Headers to the member")', async t => {
  // Apache (ProxyAddHeaders On) adds X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Server.
  t.equal(forwardedHeaders(input({ server: 'gw1' }))['x-forwarded-server'], 'gw1')
  t.equal(forwardedHeaders(input({ server: 'gw2', forwardedServer: 'edge' }))['x-forwarded-server'], 'edge, gw2', 'appended to the client\'s')
  t.equal(forwardedHeaders(input({ server: 'gw2', forwardedServer: ['a', 'b'] }))['x-forwarded-server'], 'a, b, gw2')
  t.notOk('x-forwarded-server' in forwardedHeaders(input({})), 'left out when the gateway has no name')
})

// ---------------------------------------------------------------------------------------------
// connect failures
// ---------------------------------------------------------------------------------------------

function sysError (code: string, message = `connect ${code} 127.0.0.1:8081`): Error {
  return Object.assign(new Error(message), { code, errno: -111, syscall: 'connect', address: '127.0.0.1', port: 8081 })
}

const connectRows: Array<{ name: string, err: unknown, code: string | undefined }> = [
  { name: 'ECONNREFUSED directly', err: sysError('ECONNREFUSED'), code: 'ECONNREFUSED' },
  { name: 'ECONNREFUSED as a plain object', err: { code: 'ECONNREFUSED' }, code: 'ECONNREFUSED' },
  {
    name: 'ECONNREFUSED in cause (as @fastify/reply-from wraps it)',
    err: Object.assign(new Error('Service Unavailable', { cause: sysError('ECONNREFUSED') }), { code: 'FST_REPLY_FROM_SERVICE_UNAVAILABLE', statusCode: 503 }),
    code: 'ECONNREFUSED'
  },
  {
    name: 'ECONNREFUSED two causes deep (fetch failed -> undici -> syscall)',
    err: new TypeError('fetch failed', { cause: Object.assign(new Error('connect failed', { cause: sysError('ECONNREFUSED') }), { code: 'UND_ERR_SOCKET' }) }),
    code: 'ECONNREFUSED'
  },
  { name: 'EHOSTUNREACH', err: sysError('EHOSTUNREACH'), code: 'EHOSTUNREACH' },
  { name: 'ENOTFOUND (DNS)', err: sysError('ENOTFOUND'), code: 'ENOTFOUND' },
  { name: 'undici connect timeout', err: { code: 'UND_ERR_CONNECT_TIMEOUT' }, code: 'UND_ERR_CONNECT_TIMEOUT' },
  { name: 'ECONNRESET (the member got the request)', err: sysError('ECONNRESET'), code: undefined },
  { name: 'ECONNRESET wrapping nothing', err: new Error('socket hang up', { cause: sysError('ECONNRESET') }), code: undefined },
  { name: 'EPIPE', err: sysError('EPIPE'), code: undefined },
  { name: 'ETIMEDOUT while connecting (kernel or connect timer): a connect failure', err: sysError('ETIMEDOUT'), code: 'ETIMEDOUT' },
  { name: 'ETIMEDOUT on an established connection: a timeout, not a connect failure', err: Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT', syscall: 'read' }), code: undefined },
  { name: 'plain Error', err: new Error('boom'), code: undefined },
  { name: 'Error with a numeric code', err: Object.assign(new Error('x'), { code: 111 }), code: undefined },
  { name: 'lower-case code', err: { code: 'econnrefused' }, code: undefined },
  { name: 'null', err: null, code: undefined },
  { name: 'undefined', err: undefined, code: undefined },
  { name: 'the string ECONNREFUSED', err: 'ECONNREFUSED', code: undefined },
  { name: 'a number', err: 111, code: undefined },
  { name: 'cause is a string', err: new Error('x', { cause: 'ECONNREFUSED' }), code: undefined }
]

t.test('connectFailureCode / isConnectFailure: table', async t => {
  for (const row of connectRows) {
    t.equal(connectFailureCode(row.err), row.code, `${row.name}: code`)
    t.equal(isConnectFailure(row.err), row.code !== undefined, `${row.name}: isConnectFailure`)
  }
})

t.test('every listed connect failure code is recognised, directly and in cause', async t => {
  t.same([...CONNECT_FAILURE_CODES].sort(), [
    'EAI_AGAIN', 'ECONNABORTED', 'ECONNREFUSED', 'EHOSTDOWN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'UND_ERR_CONNECT_TIMEOUT'
  ])
  for (const code of CONNECT_FAILURE_CODES) {
    t.equal(connectFailureCode({ code }), code, code)
    t.equal(connectFailureCode(new Error('wrap', { cause: { code } })), code, `${code} in cause`)
  }
})

t.test('the outermost connect failure code wins', async t => {
  t.equal(connectFailureCode(Object.assign(new Error('x', { cause: sysError('ENOTFOUND') }), { code: 'ECONNREFUSED' })), 'ECONNREFUSED')
})

t.test('a self-referencing cause does not loop', async t => {
  const e: { code: string, cause?: unknown } = { code: 'ECONNRESET' }
  e.cause = e
  t.equal(connectFailureCode(e), undefined)
  t.equal(isTimeout(e), false)
})

// ---------------------------------------------------------------------------------------------
// timeouts
// ---------------------------------------------------------------------------------------------

const timeoutRows: Array<{ name: string, err: unknown, expected: boolean }> = [
  { name: 'ETIMEDOUT on read', err: Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT', syscall: 'read' }), expected: true },
  { name: 'ETIMEDOUT while connecting is a connect failure, not a timeout', err: sysError('ETIMEDOUT'), expected: false },
  { name: 'ESOCKETTIMEDOUT', err: { code: 'ESOCKETTIMEDOUT' }, expected: true },
  { name: 'undici headers timeout', err: { code: 'UND_ERR_HEADERS_TIMEOUT' }, expected: true },
  { name: '@fastify/reply-from gateway timeout', err: { code: 'FST_REPLY_FROM_GATEWAY_TIMEOUT', statusCode: 504 }, expected: true },
  { name: 'headers timeout in cause', err: new Error('wrap', { cause: { code: 'UND_ERR_HEADERS_TIMEOUT' } }), expected: true },
  { name: 'ECONNREFUSED', err: sysError('ECONNREFUSED'), expected: false },
  { name: 'connect timeout is a connect failure, not a timeout', err: { code: 'UND_ERR_CONNECT_TIMEOUT' }, expected: false },
  { name: 'ECONNRESET', err: sysError('ECONNRESET'), expected: false },
  { name: 'plain Error', err: new Error('timeout'), expected: false },
  { name: 'null', err: null, expected: false },
  { name: 'undefined', err: undefined, expected: false },
  { name: 'the string ETIMEDOUT', err: 'ETIMEDOUT', expected: false }
]

t.test('isTimeout: table', async t => {
  for (const row of timeoutRows) t.equal(isTimeout(row.err), row.expected, row.name)
})

// ---------------------------------------------------------------------------------------------
// hasRequestBody
// ---------------------------------------------------------------------------------------------

const bodyRows: Array<{ name: string, headers: { 'content-length'?: string, 'transfer-encoding'?: string }, expected: boolean }> = [
  { name: 'no headers', headers: {}, expected: false },
  { name: 'content-length 0', headers: { 'content-length': '0' }, expected: false },
  { name: 'content-length 5', headers: { 'content-length': '5' }, expected: true },
  { name: 'transfer-encoding chunked', headers: { 'transfer-encoding': 'chunked' }, expected: true },
  { name: 'transfer-encoding chunked with content-length 0', headers: { 'transfer-encoding': 'chunked', 'content-length': '0' }, expected: true }
]

t.test('hasRequestBody: table', async t => {
  for (const row of bodyRows) t.equal(hasRequestBody(row.headers), row.expected, row.name)
})
