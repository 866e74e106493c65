/**
 * Reading the client's route from what the request carries, as Apache's `find_session_route`
 * does (modules/proxy/mod_proxy_balancer.c), with the two documented improvements: a URL
 * parameter only counts at a parameter boundary, and its value also ends at `;`.
 *
 * These functions allocate nothing but the returned substring and use no regular expressions:
 * they run on every request.
 */

/** Where the session id is read: Apache `stickysession=COOKIE|urlparam`, resolved. */
export interface SessionSource {
  /** Cookie name, case-sensitive. */
  readonly cookie: string
  /** URL parameter name (path `;name=` or query `?name=`/`&name=`), or `undefined` to ignore the URL. */
  readonly urlParam: string | undefined
}

/** What the route was read from. */
export type RouteSource = 'url' | 'cookie'

/** Opaque routes: a token the balancer issues, and the route it stands for. */
export interface RouteToken {
  readonly route: string
  /** Made with the current key; `false`: with a previous key (the cookie is then re-issued with the current one). */
  readonly current: boolean
}

/** Opaque routes: what the token in the session id was (`undefined` when the value carries no route, or routes are not opaque). */
export type TokenKind = 'current' | 'previous' | 'unknown'

/** A session id found in the request, and the route in it. */
export interface SessionRoute {
  /** Where the session id came from. */
  readonly source: RouteSource
  /** The raw value (e.g. `ABC123.node1` or `.node1`). */
  readonly value: string
  /**
   * The text after the first separator, or the whole value without a separator; `undefined` if
   * none. With opaque routes, the route that text is the token of (`undefined` for an unknown token).
   */
  readonly route: string | undefined
  /** Opaque routes only: whether the text after the separator was a current, previous or unknown token. */
  readonly token?: TokenKind | undefined
}

const SEMICOLON = 0x3b
const COMMA = 0x2c
const EQUALS = 0x3d
const QUESTION = 0x3f
const AMPERSAND = 0x26
const HASH = 0x23

/** C `isspace`: space, \t, \n, \v, \f, \r. */
function isSpace (c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d)
}

/**
 * The value of the first cookie named `name` in a `Cookie` header, with Apache's rules:
 * the name is case-sensitive and must start the header or follow `;`, `,` or white space;
 * white space may stand before `=`; an occurrence with nothing at all after `=` is skipped;
 * the value ends at `;` or `,`. Returns `undefined` when there is no such cookie.
 *
 * Several `Cookie` header lines (an array, as some servers keep them) are joined with `; `.
 */
export function findCookieValue (header: string | readonly string[] | undefined, name: string): string | undefined {
  if (header === undefined || name === '') return undefined
  const h = typeof header === 'string' ? header : header.join('; ')
  const len = h.length
  let i = h.indexOf(name)
  while (i !== -1) {
    const before = i === 0 ? SEMICOLON : h.charCodeAt(i - 1)
    if (before === SEMICOLON || before === COMMA || isSpace(before)) {
      let j = i + name.length
      while (j < len && isSpace(h.charCodeAt(j))) j++
      if (j < len && h.charCodeAt(j) === EQUALS && j + 1 < len) {
        const start = j + 1
        let end = start
        while (end < len) {
          const c = h.charCodeAt(end)
          if (c === SEMICOLON || c === COMMA) break
          end++
        }
        return h.slice(start, end)
      }
    }
    i = h.indexOf(name, i + 1)
  }
  return undefined
}

function isParamEnd (c: number): boolean {
  return c === SEMICOLON || c === QUESTION || c === AMPERSAND || c === HASH
}

/**
 * The value of the URL parameter `name` in a request target: `;name=v` (path parameter),
 * `?name=v` or `&name=v` (query). The name must follow `;`, `?` or `&` and is case-sensitive;
 * the value ends at `;`, `?`, `&` (or `#`: nothing after a fragment mark counts). An empty value is skipped. Returns `undefined`
 * when there is no such parameter.
 */
export function findUrlParam (url: string, name: string): string | undefined {
  if (name === '') return undefined
  // A fragment is not part of the request: nothing after '#' counts.
  const hash = url.indexOf('#')
  const len = hash === -1 ? url.length : hash
  let i = url.indexOf(name)
  while (i !== -1 && i < len) {
    const before = i === 0 ? 0 : url.charCodeAt(i - 1)
    const eq = i + name.length
    if ((before === SEMICOLON || before === QUESTION || before === AMPERSAND) && eq < len && url.charCodeAt(eq) === EQUALS) {
      const start = eq + 1
      let end = start
      while (end < len && !isParamEnd(url.charCodeAt(end))) end++
      if (end > start) return url.slice(start, end)
    }
    i = url.indexOf(name, i + 1)
  }
  return undefined
}

/**
 * The route in a session id: the text after the **first** separator. Without a separator in
 * the value there is no route; with the separator switched off (`undefined`) the whole value is
 * the route. An empty route is no route.
 */
export function routeOf (value: string, separator: string | undefined): string | undefined {
  if (separator === undefined) return value === '' ? undefined : value
  const at = value.indexOf(separator)
  if (at === -1 || at + separator.length === value.length) return undefined
  return value.slice(at + separator.length)
}

function sessionRoute (source: RouteSource, value: string, separator: string | undefined, tokens: ReadonlyMap<string, RouteToken> | undefined): SessionRoute {
  const route = routeOf(value, separator)
  if (tokens === undefined) return { source, value, route }
  // Opaque routes: only a token the balancer issued names a route; a plain route name is no route.
  const known = route === undefined ? undefined : tokens.get(route)
  if (known === undefined) return { source, value, route: undefined, token: route === undefined ? undefined : 'unknown' }
  return { source, value, route: known.route, token: known.current ? 'current' : 'previous' }
}

/**
 * Finds the client's session id and route: the URL first (it wins, as in Apache), then the
 * cookie. A URL session id without a separator means "no route"; the cookie is then not read,
 * again as in Apache.
 *
 * With `tokens` (opaque routes), the text after the separator is looked up there: the route is
 * the one the token stands for, and any other text (a plain route name included) is no route.
 */
export function findSessionRoute (
  cookieHeader: string | readonly string[] | undefined,
  url: string | undefined,
  source: SessionSource,
  separator: string | undefined,
  tokens?: ReadonlyMap<string, RouteToken>
): SessionRoute | undefined {
  if (source.urlParam !== undefined && url !== undefined) {
    const value = findUrlParam(url, source.urlParam)
    if (value !== undefined) return sessionRoute('url', value, separator, tokens)
  }
  const value = findCookieValue(cookieHeader, source.cookie)
  if (value !== undefined) return sessionRoute('cookie', value, separator, tokens)
  return undefined
}
