/** The member URLs, in the shape http-proxy takes its `target` in. */
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

/** `url` as http-proxy's `url.parse()` would give it, for the member URLs the core accepts (an origin: no path, no credentials). */
export function proxyTarget (url: string): ProxyTarget {
  const u = new URL(url)
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
  return { protocol: u.protocol, host: u.host, hostname, port: u.port === '' ? null : u.port, path: '/', pathname: '/', href: u.href }
}
