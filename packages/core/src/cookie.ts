/**
 * The balancer cookie (Apache "Method 2"): its name/value grammar and the `Set-Cookie` line.
 *
 * Apache writes `ROUTEID=.<route>; path=/` from a `Header add Set-Cookie` line. We keep the
 * value format (so a gateway can replace Apache without clients noticing) and make the
 * attributes configurable, with safer defaults: `Path=/; HttpOnly; SameSite=Lax`, plus
 * `Secure` when the request came over HTTPS.
 */
import { createHmac } from 'node:crypto'

/** `SameSite` values a balancer cookie may carry; `false` leaves the attribute out. */
export type SameSite = 'Strict' | 'Lax' | 'None'

/** Attributes of the balancer cookie. Every field is optional; see {@link ROUTE_COOKIE_DEFAULTS}. */
export interface RouteCookieAttributes {
  /** `Path`. Defaults to `'/'` (Apache's `path=/`). */
  path?: string
  /** `Domain`. Defaults to none (host-only cookie). */
  domain?: string
  /** `Max-Age` in whole seconds. Defaults to none (a session cookie, as Apache's). */
  maxAge?: number
  /** `Expires`. Defaults to none. */
  expires?: Date
  /** `HttpOnly`. Defaults to `true`. */
  httpOnly?: boolean
  /** `Secure`: `true`, `false`, or `'auto'` (only when the request came over HTTPS). Defaults to `'auto'`. */
  secure?: boolean | 'auto'
  /** `SameSite`, or `false` for none. Defaults to `'Lax'`. */
  sameSite?: SameSite | false
  /** `Partitioned` (CHIPS). Defaults to `false`. Needs `Secure`. */
  partitioned?: boolean
}

/** Opaque routes: the cookie carries a keyed hash of the route instead of the route. */
export interface OpaqueRouteOptions {
  /** The secret the tokens are made with: a string of at least 32 characters. The same on every gateway of the cluster. */
  key: string
  /**
   * Keys used before `key`: a token made with one of them still routes to its member, and the
   * response re-issues the cookie with `key`. Drop a key once its cookies have expired or been
   * re-issued. Defaults to none.
   */
  previousKeys?: readonly string[]
}

/** The balancer cookie: its name and attributes. */
export interface RouteCookieOptions extends RouteCookieAttributes {
  /** Cookie name, e.g. `'ROUTEID'`. Defaults to the cookie name of `stickySession`. */
  name?: string
  /**
   * Write `NAME=.<token>` instead of `NAME=.<route>`, where the token is a keyed hash of the
   * route (as HAProxy's dynamic cookies): clients no longer see member names, and a plain route
   * in the cookie is no route. Defaults to off.
   */
  opaque?: OpaqueRouteOptions | false
}

export const ROUTE_COOKIE_DEFAULTS = Object.freeze({
  path: '/',
  httpOnly: true,
  secure: 'auto' as const,
  sameSite: 'Lax' as const,
  partitioned: false
})

// RFC 6265 section 4.1.1 / RFC 9110 token: the characters a cookie name may use.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// RFC 6265 cookie-octet: printable US-ASCII minus space, DQUOTE, comma, semicolon and backslash.
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+$/
// An attribute value (Path, Domain): RFC 6265 allows any CHAR except CTLs and ';'. We also refuse
// ',': code that folds several Set-Cookie lines into one splits them at commas.
const ATTRIBUTE_VALUE = /^[\x20-\x2B\x2D-\x3A\x3C-\x7E]+$/

/** True when `name` can be used as a cookie name (an RFC 9110 token). */
export function isCookieName (name: string): boolean {
  return TOKEN.test(name)
}

/** True when `value` is made only of RFC 6265 cookie-octets (no `;`, `,`, space, quotes, `\`, controls). */
export function isCookieValue (value: string): boolean {
  return COOKIE_OCTETS.test(value)
}

/** True when `value` can stand in a cookie attribute such as `Path`: printable ASCII without `;` or `,`. */
export function isCookieAttributeValue (value: string): boolean {
  return ATTRIBUTE_VALUE.test(value)
}

/** Length of an opaque route token: base64url characters of HMAC-SHA256(key, route). 22 characters carry 132 bits. */
export const ROUTE_TOKEN_LENGTH = 22

/** The opaque token of `route` under `key`: the first {@link ROUTE_TOKEN_LENGTH} characters of base64url(HMAC-SHA256(key, route)). */
export function routeToken (key: string, route: string): string {
  return createHmac('sha256', key).update(route, 'utf8').digest('base64url').slice(0, ROUTE_TOKEN_LENGTH)
}

/**
 * The keys of opaque routes, validated. The keys live in private fields: serialising or
 * inspecting the resolved options (a log line, an error report) never shows them.
 */
export class OpaqueRouteKeys {
  readonly #key: string
  readonly #previous: readonly string[]

  constructor (key: string, previousKeys: readonly string[]) {
    this.#key = key
    this.#previous = Object.freeze([...previousKeys])
  }

  /** How many previous keys are still accepted. */
  get previousKeys (): number {
    return this.#previous.length
  }

  /** The token of `route` under the current key: what the cookie carries. */
  token (route: string): string {
    return routeToken(this.#key, route)
  }

  /** The tokens of `route` under each previous key, in the order they were given. */
  previousTokens (route: string): string[] {
    return this.#previous.map(key => routeToken(key, route))
  }

  /** What a log line shows: that routes are opaque, and how many previous keys there are; never a key. */
  toJSON (): { opaque: true, previousKeys: number } {
    return { opaque: true, previousKeys: this.#previous.length }
  }
}

/**
 * The parts of a `Set-Cookie` line that do not depend on the route: precomputed once so the
 * hot path only concatenates.
 */
export interface CompiledRouteCookie {
  readonly name: string
  /** Everything after the value when the request is plain HTTP. */
  readonly suffixInsecure: string
  /** Everything after the value when the request came over HTTPS. */
  readonly suffixSecure: string
  /** Opaque routes: the keys the tokens are made with; `undefined` when the cookie carries the route itself. */
  readonly opaque?: OpaqueRouteKeys | undefined
}

/** Compiles validated attributes into the constant parts of the `Set-Cookie` line. */
export function compileRouteCookie (name: string, attributes: RouteCookieAttributes, opaque?: OpaqueRouteKeys): CompiledRouteCookie {
  const a = { ...ROUTE_COOKIE_DEFAULTS, ...attributes }
  let head = ''
  if (a.path !== undefined) head += `; Path=${a.path}`
  if (a.domain !== undefined) head += `; Domain=${a.domain}`
  if (a.maxAge !== undefined) head += `; Max-Age=${a.maxAge}`
  if (a.expires !== undefined) head += `; Expires=${a.expires.toUTCString()}`
  if (a.httpOnly) head += '; HttpOnly'
  let tail = ''
  if (a.sameSite !== false) tail += `; SameSite=${a.sameSite}`
  if (a.partitioned) tail += '; Partitioned'
  const secureAlways = a.secure === true
  const secureOnTls = a.secure !== false
  return {
    name,
    suffixInsecure: head + (secureAlways ? '; Secure' : '') + tail,
    suffixSecure: head + (secureOnTls ? '; Secure' : '') + tail,
    ...(opaque === undefined ? {} : { opaque })
  }
}

/**
 * The `Set-Cookie` value that pins a client to `route`: `NAME=.<route>` plus the attributes.
 * The value keeps Apache's format: the separator, then the route (with opaque routes, pass the
 * route's token as `route`).
 */
export function formatRouteCookie (cookie: CompiledRouteCookie, separator: string, route: string, secure: boolean): string {
  return `${cookie.name}=${separator}${route}${secure ? cookie.suffixSecure : cookie.suffixInsecure}`
}

/**
 * The `Set-Cookie` value of an answer once the balancer's `cookie` is added after the member's
 * own lines (`previous`, as Node or undici hand them over: one line as a string or in an array).
 * The balancer's cookie alone stays a string: Node's and Fastify's header paths take a string
 * faster than a one-element array (about 3 % of the throughput for new clients on Fastify, in
 * bench/ A/B pairs).
 */
export function withSetCookie (previous: string | readonly string[] | undefined, cookie: string): string | string[] {
  if (previous === undefined) return cookie
  return typeof previous === 'string' ? [previous, cookie] : [...previous, cookie]
}
