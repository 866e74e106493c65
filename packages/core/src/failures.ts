/**
 * Which upstream errors are connect failures (the member is down: put it in error and try
 * another), which are resets before any answer (the member is dying), and which requests can
 * be sent again after one.
 */

/** Error codes meaning "the member could not be connected to": nothing reached it. */
export const CONNECT_FAILURE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT', 'ECONNABORTED'
])

/** The `code` of an error or of one of its causes that is a connect failure, or `undefined`. */
export function connectFailureCode (err: unknown): string | undefined {
  let e: unknown = err
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const { code, syscall } = e as { code?: unknown, syscall?: unknown }
    if (typeof code === 'string' && CONNECT_FAILURE_CODES.has(code)) return code
    // The kernel (or a gateway's connect timer) gave up connecting: nothing reached the member.
    if (code === 'ETIMEDOUT' && syscall === 'connect') return code
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

/** `true` when the error (or a cause) is a connect failure. */
export function isConnectFailure (err: unknown): boolean {
  return connectFailureCode(err) !== undefined
}

/**
 * Error codes meaning "the member dropped the connection": Node's `ECONNRESET` (also "socket
 * hang up"), `EPIPE`, undici's `UND_ERR_SOCKET` ("other side closed").
 */
export const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'])

/** The `code` of an error or of one of its causes that is a reset by the member, or `undefined`. */
export function resetCode (err: unknown): string | undefined {
  let e: unknown = err
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && RESET_CODES.has(code)) return code
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

/**
 * Methods that may be sent twice (RFC 9110 9.2.2; Apache's `is_idempotent` in mod_proxy_http
 * lists the same): one that met a reset before any answer goes to another member.
 */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

/** `true` for a method in {@link IDEMPOTENT_METHODS} (case-sensitive, as HTTP methods are). */
export function isIdempotent (method: string | undefined): boolean {
  return method !== undefined && IDEMPOTENT_METHODS.has(method)
}

/** `true` for timeouts waiting for the member (answered with 504, the member is not marked). */
export function isTimeout (err: unknown): boolean {
  let e: unknown = err
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code
    if ((code === 'ETIMEDOUT' && (e as { syscall?: unknown }).syscall !== 'connect') || code === 'ESOCKETTIMEDOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'FST_REPLY_FROM_GATEWAY_TIMEOUT') return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}

/**
 * `true` when the request carries a body (a `Transfer-Encoding`, or a `Content-Length` other
 * than 0). Such a request is streamed to the member and cannot be sent to another one after a
 * failed attempt.
 */
export function hasRequestBody (headers: { 'content-length'?: string | undefined, 'transfer-encoding'?: string | undefined }): boolean {
  if (headers['transfer-encoding'] !== undefined) return true
  const length = headers['content-length']
  return length !== undefined && length !== '0'
}

/**
 * What a gateway does with a request body so that the request can be replayed on another
 * member (see the option `retryBodyLimit`):
 * - `'none'`: no body, nothing to keep;
 * - `'buffer'`: read it first, up to `limit` bytes (a `Content-Length` within the limit, or a
 *   chunked body that may end within it), and send it from the buffer;
 * - `'stream'`: stream it as it comes (a `Content-Length` above the limit, or `limit` 0); a
 *   failed attempt then cannot be replayed.
 */
export type BodyPlan = 'none' | 'buffer' | 'stream'

export function bodyPlan (headers: { 'content-length'?: string | undefined, 'transfer-encoding'?: string | undefined }, limit: number): BodyPlan {
  if (!hasRequestBody(headers)) return 'none'
  if (limit <= 0) return 'stream'
  if (headers['transfer-encoding'] !== undefined) return 'buffer'
  const length = Number(headers['content-length'])
  return Number.isSafeInteger(length) && length >= 0 && length <= limit ? 'buffer' : 'stream'
}
