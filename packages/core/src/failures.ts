/**
 * Which upstream errors are connect failures (the member is down: put it in error and try
 * another), and which requests can be sent again after one.
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
