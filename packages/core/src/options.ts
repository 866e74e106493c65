/**
 * The one options shape of stickyroute, validated once. Both adapters pass their options here
 * unchanged (minus their own pass-through `proxy` bag) and never validate again.
 */
import {
  compileRouteCookie,
  isCookieAttributeValue,
  isCookieName,
  isCookieValue,
  type CompiledRouteCookie,
  type RouteCookieOptions
} from './cookie.js'
import { StickyConfigError } from './errors.js'
import type { SessionSource } from './route.js'

/** One balancer member: Apache `BalancerMember <url> route=<route> loadfactor=<n>`. */
export interface MemberOptions {
  /** Origin of the member, `http://host:port` or `https://host:port`, without path or query. */
  url: string
  /** The member's route name, as written in session ids (`JSESSIONID=<id>.<route>`) and the balancer cookie. */
  route: string
  /** Relative weight, 1 to 100, decimals allowed (Apache `loadfactor`). Defaults to `1`. */
  loadFactor?: number
}

/** Where the session id is read: cookie name and URL parameter name (Apache `stickysession`). */
export interface StickySessionOptions {
  /** Cookie name, case-sensitive. */
  cookie: string
  /** URL parameter name, or `false` to ignore the URL. Defaults to the cookie name. */
  urlParam?: string | false
}

/** Options shared by every stickyroute adapter. */
export interface StickyOptions {
  /** The members, in order (order breaks ties and picks among members sharing a route). Required. */
  members: readonly MemberOptions[]
  /**
   * Where the session id is read, in Apache `stickysession` syntax: `'ROUTEID'` (cookie and URL
   * parameter of that name), `'JSESSIONID|jsessionid'` (cookie `JSESSIONID`, URL parameter
   * `jsessionid`), or an object. Defaults to the balancer cookie's name when `routeCookie` is
   * set, else `'ROUTEID'`.
   */
  stickySession?: string | StickySessionOptions
  /** The character before the route in a session id (Apache `stickysessionsep`), or `false` for none. Defaults to `'.'`. */
  routeSeparator?: string | false
  /**
   * The balancer cookie written whenever the route changes (Apache "Method 2"): a cookie name,
   * `true` (the `stickySession` cookie name), or name and attributes. Defaults to `false`:
   * write none (Apache "Method 1", the application's own session cookie carries the route).
   */
  routeCookie?: string | boolean | RouteCookieOptions
  /** A route naming a member that cannot serve gets 503 instead of failing over (Apache `nofailover=On`). Defaults to `false`. */
  noFailover?: boolean
  /** Seconds a member that failed is skipped before it is tried again (Apache `retry`). Defaults to `60`. */
  retry?: number
  /** How many other members one request may try after a connect failure (Apache `maxattempts`). Defaults to the number of members minus one. */
  maxAttempts?: number
  /** Seconds to wait for a connection to a member before it counts as a connect failure (Apache `connectiontimeout`). Defaults to `10`. */
  connectTimeout?: number
  /** When every member is in error, put them all back at once (Apache `forcerecovery`). Defaults to `true`. */
  forceRecovery?: boolean
  /** Keep the client's `Host` header instead of the member's `host:port` (Apache `ProxyPreserveHost`). Defaults to `false`. */
  preserveHost?: boolean
  /** Load-balancing method for new clients (Apache `lbmethod`). Defaults to `'byrequests'`. */
  lbMethod?: 'byrequests'
  /** Time source in milliseconds, for tests. Defaults to `Date.now`. */
  now?: () => number
}

/** A member after validation. */
export interface ResolvedMember {
  readonly url: string
  readonly route: string
  readonly loadFactor: number
}

/** The options after validation and defaults: what the balancer runs on. */
export interface ResolvedOptions {
  readonly members: readonly ResolvedMember[]
  readonly session: SessionSource
  /** `undefined` when switched off. */
  readonly separator: string | undefined
  /** `undefined` for Method 1 (no balancer cookie). */
  readonly routeCookie: CompiledRouteCookie | undefined
  readonly noFailover: boolean
  readonly retryMs: number
  readonly maxAttempts: number
  readonly connectTimeoutMs: number
  readonly forceRecovery: boolean
  readonly preserveHost: boolean
  readonly lbMethod: 'byrequests'
  readonly now: () => number
}

/** Named defaults, reused by the docs and the tests. */
export const DEFAULTS = Object.freeze({
  stickySession: 'ROUTEID',
  routeSeparator: '.',
  routeCookie: false,
  noFailover: false,
  retry: 60,
  connectTimeout: 10,
  forceRecovery: true,
  preserveHost: false,
  lbMethod: 'byrequests' as const,
  loadFactor: 1
})

const MAX_ROUTE_LENGTH = 255
const MAX_RETRY_SECONDS = 86_400 * 365
const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  'members', 'stickySession', 'routeSeparator', 'routeCookie', 'noFailover', 'retry', 'maxAttempts', 'connectTimeout',
  'forceRecovery', 'preserveHost', 'lbMethod', 'now'
])
const KNOWN_MEMBER_OPTIONS: ReadonlySet<string> = new Set(['url', 'route', 'loadFactor'])
const KNOWN_COOKIE_OPTIONS: ReadonlySet<string> = new Set([
  'name', 'path', 'domain', 'maxAge', 'expires', 'httpOnly', 'secure', 'sameSite', 'partitioned'
])
// URL parameter names: a token, minus the characters that end or separate parameters.
const URL_PARAM = /^[!$%'*+\-.^_`|~0-9A-Za-z]+$/

function describe (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value)
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function rejectUnknown (obj: Record<string, unknown>, known: ReadonlySet<string>, path: string, extra = ''): void {
  for (const key of Object.keys(obj)) {
    if (!known.has(key)) {
      throw new StickyConfigError('ERR_STICKY_UNKNOWN_OPTION', path === '' ? key : `${path}.${key}`,
        `is not a stickyroute option. Known options: ${[...known].join(', ')}${extra}. Check its spelling.`)
    }
  }
}

function optionalBoolean (value: unknown, option: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', option, `must be true or false, got ${describe(value)}.`)
  }
  return value
}

function resolveMember (value: unknown, index: number): ResolvedMember {
  const path = `members[${index}]`
  if (!isPlainObject(value)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', path,
      `must be an object like { url: 'http://127.0.0.1:8081', route: 'node1' }, got ${describe(value)}.`)
  }
  rejectUnknown(value, KNOWN_MEMBER_OPTIONS, path)
  const { url, route, loadFactor } = value
  if (typeof url !== 'string') {
    throw new StickyConfigError('ERR_STICKY_MEMBER_URL', `${path}.url`, `must be a string like 'http://127.0.0.1:8081', got ${describe(url)}.`)
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (cause) {
    throw new StickyConfigError('ERR_STICKY_MEMBER_URL', `${path}.url`, `is not a valid URL: ${describe(url)}. Write it as 'http://host:port'.`, { cause })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new StickyConfigError('ERR_STICKY_MEMBER_URL', `${path}.url`,
      `must use http: or https:, got ${describe(parsed.protocol)} in ${describe(url)}. WebSocket upgrades are proxied to http(s) members too.`)
  }
  if (parsed.username !== '' || parsed.password !== '' || parsed.search !== '' || parsed.hash !== '' || parsed.pathname !== '/') {
    throw new StickyConfigError('ERR_STICKY_MEMBER_URL', `${path}.url`,
      `must be an origin only (scheme, host and port), got ${describe(url)}. Remove the path, query or credentials; use the adapter's prefix options to rewrite paths.`)
  }
  if (typeof route !== 'string' || route === '') {
    throw new StickyConfigError('ERR_STICKY_ROUTE_NAME', `${path}.route`,
      `must be a non-empty string naming the member in session ids (the "node1" of JSESSIONID=abc.node1), got ${describe(route)}.`)
  }
  if (route.length > MAX_ROUTE_LENGTH || !isCookieValue(route)) {
    throw new StickyConfigError('ERR_STICKY_ROUTE_NAME', `${path}.route`,
      `must be at most ${MAX_ROUTE_LENGTH} printable ASCII characters without ';', ',', space, quotes or '\\' (it is written into a cookie), got ${describe(route)}.`)
  }
  let factor: number = DEFAULTS.loadFactor
  if (loadFactor !== undefined) {
    if (typeof loadFactor !== 'number' || !Number.isFinite(loadFactor) || loadFactor < 1 || loadFactor > 100) {
      throw new StickyConfigError('ERR_STICKY_LOAD_FACTOR', `${path}.loadFactor`,
        `must be a number from 1 to 100 (as Apache loadfactor), got ${describe(loadFactor)}.`)
    }
    factor = loadFactor
  }
  return Object.freeze({ url: parsed.origin, route, loadFactor: factor })
}

function resolveMembers (value: unknown): ResolvedMember[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new StickyConfigError('ERR_STICKY_NO_MEMBERS', 'members',
      `must be a non-empty array of { url, route }, got ${describe(value)}. Name at least one member.`)
  }
  const members = value.map((m: unknown, i) => resolveMember(m, i))
  const seen = new Map<string, number>()
  members.forEach((m, i) => {
    const first = seen.get(m.url)
    if (first !== undefined) {
      throw new StickyConfigError('ERR_STICKY_DUPLICATE_MEMBER', `members[${i}].url`,
        `repeats members[${first}].url (${m.url}). Each member must have its own URL; to weigh one more, raise its loadFactor.`)
    }
    seen.set(m.url, i)
  })
  return members
}

function checkCookieName (name: unknown, option: string): string {
  if (typeof name !== 'string' || !isCookieName(name)) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_NAME', option,
      `must be a cookie name (letters, digits and !#$%&'*+-.^_\`|~; no spaces, ';', ',', '=' or quotes), got ${describe(name)}.`)
  }
  return name
}

function resolveStickySession (value: unknown, fallbackCookie: string | undefined): SessionSource {
  const option = 'stickySession'
  if (value === undefined) {
    const cookie = fallbackCookie ?? DEFAULTS.stickySession
    return Object.freeze({ cookie, urlParam: cookie })
  }
  if (typeof value === 'string') {
    const parts = value.split('|')
    const [cookie, urlParam] = parts
    if (parts.length > 2 || cookie === undefined || cookie === '' || urlParam === '') {
      throw new StickyConfigError('ERR_STICKY_STICKYSESSION', option,
        `must be 'NAME' or 'COOKIE|urlparam' (Apache stickysession syntax, e.g. 'JSESSIONID|jsessionid'), got ${describe(value)}.`)
    }
    checkCookieName(cookie, option)
    const param = urlParam ?? cookie
    if (!URL_PARAM.test(param)) {
      throw new StickyConfigError('ERR_STICKY_STICKYSESSION', option,
        `has a URL parameter name that cannot stand in a URL, got ${describe(param)}. Use letters, digits, '-', '_' or '.'.`)
    }
    return Object.freeze({ cookie, urlParam: param })
  }
  if (isPlainObject(value)) {
    rejectUnknown(value, new Set(['cookie', 'urlParam']), option)
    const cookie = checkCookieName(value['cookie'], `${option}.cookie`)
    const urlParam = value['urlParam']
    if (urlParam === false) return Object.freeze({ cookie, urlParam: undefined })
    if (urlParam === undefined) return Object.freeze({ cookie, urlParam: cookie })
    if (typeof urlParam !== 'string' || !URL_PARAM.test(urlParam)) {
      throw new StickyConfigError('ERR_STICKY_STICKYSESSION', `${option}.urlParam`,
        `must be a URL parameter name (letters, digits, '-', '_', '.') or false, got ${describe(urlParam)}.`)
    }
    return Object.freeze({ cookie, urlParam })
  }
  throw new StickyConfigError('ERR_STICKY_STICKYSESSION', option,
    `must be a string such as 'ROUTEID' or 'JSESSIONID|jsessionid', or { cookie, urlParam }, got ${describe(value)}.`)
}

function resolveSeparator (value: unknown): string | undefined {
  if (value === undefined) return DEFAULTS.routeSeparator
  if (value === false) return undefined
  if (typeof value !== 'string' || value.length !== 1 || !isCookieValue(value) || value === '=') {
    throw new StickyConfigError('ERR_STICKY_SEPARATOR', 'routeSeparator',
      `must be a single printable character allowed in a cookie value (not '=', ';', ',', space or quotes), or false to use the whole value as the route; got ${describe(value)}.`)
  }
  return value
}

/** The routeCookie option, before we know the stickySession cookie name. */
function routeCookieName (value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (isPlainObject(value) && typeof value['name'] === 'string') return value['name']
  return undefined
}

function optionalAttribute (value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !isCookieAttributeValue(value)) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', option, `must be a string without ';' or control characters, got ${describe(value)}.`)
  }
  return value
}

function resolveRouteCookie (value: unknown, sessionCookie: string): CompiledRouteCookie | undefined {
  const option = 'routeCookie'
  if (value === undefined || value === false) return undefined
  if (value === true) return compileRouteCookie(sessionCookie, {})
  if (typeof value === 'string') return compileRouteCookie(checkCookieName(value, option), {})
  if (!isPlainObject(value)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', option,
      `must be a cookie name, true, false, or { name, path, domain, maxAge, expires, httpOnly, secure, sameSite, partitioned }, got ${describe(value)}.`)
  }
  rejectUnknown(value, KNOWN_COOKIE_OPTIONS, option)
  const name = value['name'] === undefined ? sessionCookie : checkCookieName(value['name'], `${option}.name`)
  const { maxAge, expires, httpOnly, secure, sameSite, partitioned } = value
  const cookiePath = optionalAttribute(value['path'], `${option}.path`)
  const domain = optionalAttribute(value['domain'], `${option}.domain`)
  if (cookiePath !== undefined && !cookiePath.startsWith('/')) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', `${option}.path`, `must start with '/', got ${describe(cookiePath)}.`)
  }
  if (maxAge !== undefined && (typeof maxAge !== 'number' || !Number.isSafeInteger(maxAge) || maxAge < 1)) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', `${option}.maxAge`,
      `must be a whole number of seconds from 1 up (0 or less would delete the cookie at once and switch stickiness off), got ${describe(maxAge)}.`)
  }
  if (expires !== undefined && (!(expires instanceof Date) || Number.isNaN(expires.getTime()))) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', `${option}.expires`, `must be a valid Date, got ${describe(expires)}.`)
  }
  if (secure !== undefined && secure !== true && secure !== false && secure !== 'auto') {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', `${option}.secure`, `must be true, false or 'auto', got ${describe(secure)}.`)
  }
  if (sameSite !== undefined && sameSite !== false && sameSite !== 'Strict' && sameSite !== 'Lax' && sameSite !== 'None') {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', `${option}.sameSite`, `must be 'Strict', 'Lax', 'None' or false, got ${describe(sameSite)}.`)
  }
  const http = optionalBoolean(httpOnly, `${option}.httpOnly`, true)
  const part = optionalBoolean(partitioned, `${option}.partitioned`, false)
  if ((sameSite === 'None' || part) && secure === false) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', `${option}.secure`,
      `is false, but ${sameSite === 'None' ? "sameSite: 'None'" : 'partitioned: true'} needs Secure: browsers drop such a cookie. Use secure: 'auto' or true.`)
  }
  return compileRouteCookie(name, {
    ...(cookiePath === undefined ? {} : { path: cookiePath }),
    ...(domain === undefined ? {} : { domain }),
    ...(maxAge === undefined ? {} : { maxAge }),
    ...(expires === undefined ? {} : { expires }),
    httpOnly: http,
    secure: secure ?? 'auto',
    sameSite: sameSite ?? 'Lax',
    partitioned: part
  })
}

/** Options objects made by {@link resolveOptions}: a balancer takes them without validating again. */
const resolved = new WeakSet<ResolvedOptions>()

/** `true` for an object returned by {@link resolveOptions}. */
export function isResolvedOptions (value: unknown): value is ResolvedOptions {
  return typeof value === 'object' && value !== null && resolved.has(value as ResolvedOptions)
}

/**
 * Validates `options` and fills in the defaults. Throws a {@link StickyConfigError} naming the
 * option and the fix on the first problem. `options` is not modified.
 */
export function resolveOptions (options: StickyOptions): ResolvedOptions {
  const input: unknown = options
  if (!isPlainObject(input)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', '(options)', `must be an object with at least { members: [...] }, got ${describe(input)}.`)
  }
  rejectUnknown(input, KNOWN_OPTIONS, '')
  const members = resolveMembers(input['members'])
  const session = resolveStickySession(input['stickySession'], routeCookieName(input['routeCookie']))
  const separator = resolveSeparator(input['routeSeparator'])
  const routeCookie = resolveRouteCookie(input['routeCookie'], session.cookie)
  if (routeCookie !== undefined && routeCookie.name !== session.cookie) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_NAME', 'routeCookie',
      `writes the cookie ${describe(routeCookie.name)}, but stickySession reads ${describe(session.cookie)}: every client would be re-balanced on every request. Use the same name in both.`)
  }

  const retry = input['retry']
  if (retry !== undefined && (typeof retry !== 'number' || !Number.isFinite(retry) || retry < 0 || retry > MAX_RETRY_SECONDS)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'retry', `must be a number of seconds from 0 to ${MAX_RETRY_SECONDS}, got ${describe(retry)}.`)
  }
  const maxAttempts = input['maxAttempts']
  if (maxAttempts !== undefined && (typeof maxAttempts !== 'number' || !Number.isSafeInteger(maxAttempts) || maxAttempts < 0)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'maxAttempts', `must be a whole number from 0 up (0: no failover inside a request), got ${describe(maxAttempts)}.`)
  }
  const connectTimeout = input['connectTimeout']
  if (connectTimeout !== undefined && (typeof connectTimeout !== 'number' || !Number.isFinite(connectTimeout) || connectTimeout <= 0 || connectTimeout > 3600)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'connectTimeout', `must be a number of seconds above 0 and at most 3600, got ${describe(connectTimeout)}.`)
  }
  const lbMethod = input['lbMethod']
  if (lbMethod !== undefined && lbMethod !== 'byrequests') {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'lbMethod', `must be 'byrequests', got ${describe(lbMethod)}.`)
  }
  const now = input['now']
  if (now !== undefined && typeof now !== 'function') {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'now', `must be a function returning milliseconds, got ${describe(now)}.`)
  }

  const out: ResolvedOptions = Object.freeze({
    members: Object.freeze(members),
    session,
    separator,
    routeCookie,
    noFailover: optionalBoolean(input['noFailover'], 'noFailover', DEFAULTS.noFailover),
    retryMs: (retry ?? DEFAULTS.retry) * 1000,
    maxAttempts: maxAttempts ?? members.length - 1,
    connectTimeoutMs: Math.round((connectTimeout ?? DEFAULTS.connectTimeout) * 1000),
    forceRecovery: optionalBoolean(input['forceRecovery'], 'forceRecovery', DEFAULTS.forceRecovery),
    preserveHost: optionalBoolean(input['preserveHost'], 'preserveHost', DEFAULTS.preserveHost),
    lbMethod: DEFAULTS.lbMethod,
    now: (now as (() => number) | undefined) ?? Date.now
  })
  resolved.add(out)
  return out
}
