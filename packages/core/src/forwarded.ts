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
