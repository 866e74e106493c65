/**
 * The headers a member sees (Apache `ProxyPreserveHost Off`, `ProxyAddHeaders On`): the
 * `X-Forwarded-*` values are appended with `, ` to what the client sent, as Apache does.
 * These header values are built from the client's own headers and the gateway's facts; nothing
 * here is trusted for routing.
 * Both adapters set exactly these values, so members see the same bytes whichever is used.
 */

/** What the gateway knows about the incoming request. */
export interface ForwardedInput {
  /** The client's `Host` header. */
  host: string | undefined
  /** The client's address (the TCP peer of the gateway). */
  remoteAddress: string | undefined
  /** `true` when the client connection is TLS. */
  secure: boolean
  /** The gateway's own name for `X-Forwarded-Server` (Apache: its `ServerName`); adapters pass `os.hostname()`. */
  server?: string | undefined
  /** The `X-Forwarded-For` / `-Host` / `-Server` / `-Proto` headers the client sent, if any. */
  forwardedFor: string | readonly string[] | undefined
  forwardedHost: string | readonly string[] | undefined
  forwardedServer?: string | readonly string[] | undefined
  forwardedProto: string | readonly string[] | undefined
}

/** The `X-Forwarded-*` headers to send to the member. */
export interface ForwardedHeaders {
  'x-forwarded-for': string
  'x-forwarded-host'?: string
  'x-forwarded-server'?: string
  'x-forwarded-proto': string
}

function append (previous: string | readonly string[] | undefined, value: string): string {
  if (previous === undefined) return value
  const joined = typeof previous === 'string' ? previous : previous.join(', ')
  return joined === '' ? value : `${joined}, ${value}`
}

/**
 * Computes the `X-Forwarded-For`, `X-Forwarded-Host`, `X-Forwarded-Server` (when `server` is
 * given) and `X-Forwarded-Proto` headers for the member. Apache adds the first three; the
 * fourth is ours.
 */
export function forwardedHeaders (input: ForwardedInput): ForwardedHeaders {
  const out: ForwardedHeaders = {
    'x-forwarded-for': append(input.forwardedFor, input.remoteAddress ?? 'unknown'),
    'x-forwarded-proto': append(input.forwardedProto, input.secure ? 'https' : 'http')
  }
  if (input.host !== undefined) out['x-forwarded-host'] = append(input.forwardedHost, input.host)
  else if (input.forwardedHost !== undefined) out['x-forwarded-host'] = append(input.forwardedHost, '').replace(/, $/, '')
  if (input.server !== undefined && input.server !== '') out['x-forwarded-server'] = append(input.forwardedServer, input.server)
  return out
}

const NO_TOKENS: readonly string[] = []

/**
 * The header names a `Connection` header lists (lower-cased), besides `keep-alive` and `close`
 * alone, which name none: they too are hop-by-hop (RFC 9110 7.6.1). The same empty list for the
 * lone `keep-alive` or `close` that nearly every message carries.
 */
export function connectionTokens (connection: string | undefined): readonly string[] {
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return NO_TOKENS
  const names: string[] = []
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase()
    if (name !== '') names.push(name)
  }
  return names
}

/** A parsed message's headers, as Node and undici hand them over. */
export interface HeaderFields {
  connection?: string | undefined
  [name: string]: unknown
}

/**
 * Removes, in place, the hop-by-hop headers of a message (`Connection`, the headers it names,
 * `Keep-Alive`, `Proxy-Connection`): they describe one connection, and the gateway's connection
 * to the member is not the client's. Returns `headers`.
 */
export function stripHopByHop<H extends HeaderFields> (headers: H): H {
  // Last-received first: Node sends `Connection` then `Keep-Alive` last, and V8 keeps an object
  // fast when the properties it loses are its newest ones.
  if (headers['proxy-connection'] !== undefined) delete headers['proxy-connection']
  if (headers['keep-alive'] !== undefined) delete headers['keep-alive']
  const connection = headers.connection
  if (connection !== undefined) {
    for (const name of connectionTokens(connection)) delete headers[name]
    delete headers.connection
  }
  return headers
}
