/** The member URLs, in the shape http-proxy takes its `target` in. */
import * as nodeUrl from 'node:url'

/**
 * A member URL in the shape http-proxy reads from a `url.parse()` result (protocol, host,
 * hostname, port, path): given as an object, it is not parsed again for every request.
 */
export interface ProxyTarget {
  protocol: string | null
  host: string
  hostname: string
  port: string | null
  path: string
  pathname: string
  href: string
}

// node:url's legacy Url class: http-proxy passes the target to `url.parse()` when it rewrites a
// redirect (`autoRewrite`, `hostRewrite`, `protocolRewrite`), which takes a Url as it is and
// throws on any other object. Built by hand rather than with the deprecated `url.parse()`.
const { Url } = nodeUrl as unknown as { Url: new () => object }

/**
 * `url` as http-proxy's `url.parse()` would give it (a `Url`, with the same fields), for the
 * member URLs the core accepts (an origin: no path, no credentials).
 */
export function proxyTarget (url: string): ProxyTarget {
  const u = new URL(url)
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
  const fields: ProxyTarget = { protocol: u.protocol, host: u.host, hostname, port: u.port === '' ? null : u.port, path: '/', pathname: '/', href: u.href }
  return Object.assign(new Url(), { slashes: true, auth: null, hash: null, search: null, query: null }, fields)
}
