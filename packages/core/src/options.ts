/**
 * The one options shape of stickyroute, validated once. Both adapters pass their options here
 * unchanged (minus their own pass-through `proxy` bag) and never validate again.
 */
import {
  compileRouteCookie,
  isCookieAttributeValue,
  isCookieName,
  isCookieValue,
  OpaqueRouteKeys,
  type CompiledRouteCookie,
  type RouteCookieOptions
} from './cookie.js'
import { StickyConfigError } from './errors.js'
import { LB_METHODS, type LbMethod, type LbMethodName } from './lbmethods/index.js'
import type { MemberFlags } from './members.js'
import type { SessionSource } from './route.js'

/** One balancer member: Apache `BalancerMember <url> route=<route> loadfactor=<n>`. */
export interface MemberOptions {
  /** Origin of the member, `http://host:port` or `https://host:port`, without path or query. */
  url: string
  /** The member's route name, as written in session ids (`JSESSIONID=<id>.<route>`) and the balancer cookie. */
  route: string
  /** Relative weight, 1 to 100, decimals allowed (Apache `loadfactor`). Defaults to `1`. */
  loadFactor?: number
  /** Tier, 0 to 99 (Apache `lbset`): new clients go to the lowest tier with a usable member. Defaults to `0`. */
  lbSet?: number
  /** Takes no requests; health checks still probe it (Apache `status=+D`). Defaults to `false`. */
  disabled?: boolean
  /** Takes no new clients, keeps its sticky clients (Apache `status=+N`). Defaults to `false`. */
  draining?: boolean
  /** Takes new clients only when no normal member of its tier takes them (all down, disabled or draining) (Apache `status=+H`). Defaults to `false`. */
  hotStandby?: boolean
  /** Takes no requests, is not health-checked, never comes back by itself (Apache `status=+S`). Defaults to `false`. */
  stopped?: boolean
  /** Failures never put it in error (Apache `status=+I`). Defaults to `false`. */
  ignoreErrors?: boolean
  /** Seconds this member may stay silent while answering (Apache member `timeout=`). Defaults to the balancer's `timeout`. */
  timeout?: number
  /** This member's health check: overrides of the balancer's `healthCheck`, or `false` for none. */
  healthCheck?: HealthCheckOptions | false
}

/** How a health check probes a member (Apache `hcmethod`). */
export type HealthCheckMethod = 'TCP' | 'GET' | 'HEAD' | 'OPTIONS'

/** What an HTTP health check saw, for an `expect` function. */
export interface HealthCheckResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The body (GET only; at most 64 KiB, decoded as UTF-8), `''` otherwise. */
  readonly body: string
}

/** Active health checks (Apache mod_proxy_hcheck `hc*` parameters), per balancer with per-member overrides. */
export interface HealthCheckOptions {
  /** `'GET'`, `'HEAD'`, `'OPTIONS'`, or `'TCP'` (a connect only) (Apache `hcmethod`). Defaults to `'GET'`. */
  method?: HealthCheckMethod
  /** Path (and query) requested (Apache `hcuri`). Defaults to `'/'`. */
  uri?: string
  /** Seconds between checks of one member, decimals allowed (Apache `hcinterval`). Defaults to `30`. */
  interval?: number
  /** Seconds a check may take before it fails. Defaults to the smaller of `interval` and `5`. */
  timeout?: number
  /** Consecutive passes that bring a failed member back (Apache `hcpasses`, but in a row). Defaults to `1`. */
  passes?: number
  /** Consecutive fails that take a member out (Apache `hcfails`, but in a row). Defaults to `1`. */
  fails?: number
  /** What passes (Apache `hcexpr`): a list of statuses, or a function of status, headers and body. Defaults to any 2xx or 3xx. */
  expect?: readonly number[] | ((response: HealthCheckResponse) => boolean)
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
  /**
   * Bytes of a request body the gateway keeps so that the request can be replayed on another
   * member after a refused connection (Apache reads the body before connecting and replays it):
   * a body with a `Content-Length` up to this, or a chunked body that ends within it, is read
   * first and sent from memory; a larger one is streamed, and a failed attempt then gets 502.
   * `0`: stream every body. Defaults to 1 MiB (1048576).
   */
  retryBodyLimit?: number
  /** When every member is in error, put them all back at once (Apache `forcerecovery`). Defaults to `true`. */
  forceRecovery?: boolean
  /** Keep the client's `Host` header instead of the member's `host:port` (Apache `ProxyPreserveHost`). Defaults to `false`. */
  preserveHost?: boolean
  /**
   * Send `X-Forwarded-For`, `-Host`, `-Server` and `-Proto` to the members (Apache `ProxyAddHeaders`).
   * `false`: add none (the client's own pass unchanged), for members that do not read them or a
   * gateway behind another proxy that sets them. Defaults to `true`.
   */
  addForwardedHeaders?: boolean
  /**
   * Load-balancing method for new clients (Apache `lbmethod`): `'byrequests'` (weighted round
   * robin), `'bybusyness'` (fewest requests in flight), `'bytraffic'` (fewest bytes per weight),
   * or an {@link LbMethod} of your own. Defaults to `'byrequests'`.
   */
  lbMethod?: LbMethodName | LbMethod
  /** Member statuses that put it in error once its answer reached the client (Apache `failonstatus`), e.g. `[500, 503]`. Defaults to none. */
  failOnStatus?: readonly number[]
  /** A member that did not answer within its `timeout` goes in error (Apache `failontimeout`). Defaults to `false`. */
  failOnTimeout?: boolean
  /** Seconds a member may stay silent while answering, before 504 (Apache `timeout` / `ProxyTimeout`). Defaults to none of ours (the proxy library's own, see the adapter README). */
  timeout?: number
  /** Active health checks of every member (Apache mod_proxy_hcheck). Defaults to none. */
  healthCheck?: HealthCheckOptions
  /** Time source in milliseconds, for tests. Defaults to `Date.now`. */
  now?: () => number
}

/** A health check after validation. */
export interface ResolvedHealthCheck {
  readonly method: HealthCheckMethod
  readonly uri: string
  readonly intervalMs: number
  readonly timeoutMs: number
  /** `timeout` was given (it is then inherited as is; a default one follows the member's interval). */
  readonly timeoutGiven: boolean
  readonly passes: number
  readonly fails: number
  readonly expect: (response: HealthCheckResponse) => boolean
  /** The probe reads the body: a GET judged by a function of the application. */
  readonly readBody: boolean
}

/** A member after validation. */
export interface ResolvedMember extends Readonly<MemberFlags> {
  readonly url: string
  readonly route: string
  readonly loadFactor: number
  readonly lbSet: number
  readonly timeoutMs: number | undefined
  readonly healthCheck: ResolvedHealthCheck | undefined
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
  /** `undefined`: the number of members minus one, as members come and go. */
  readonly maxAttempts: number | undefined
  readonly connectTimeoutMs: number
  /** Bytes of a request body kept for a replay; 0: none. */
  readonly retryBodyLimit: number
  readonly forceRecovery: boolean
  readonly preserveHost: boolean
  readonly addForwardedHeaders: boolean
  readonly lbMethod: LbMethod
  readonly failOnStatus: ReadonlySet<number>
  readonly failOnTimeout: boolean
  /** The balancer's response timeout in ms, or `undefined` for the proxy library's own. */
  readonly timeoutMs: number | undefined
  /** The balancer's health check, the base of every member's. */
  readonly healthCheck: ResolvedHealthCheck | undefined
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
  retryBodyLimit: 1_048_576,
  forceRecovery: true,
  preserveHost: false,
  addForwardedHeaders: true,
  lbMethod: 'byrequests' as const,
  loadFactor: 1,
  lbSet: 0,
  failOnTimeout: false,
  healthCheck: Object.freeze({ method: 'GET' as const, uri: '/', interval: 30, maxTimeout: 5, passes: 1, fails: 1 })
})

const MAX_ROUTE_LENGTH = 255
const MAX_RETRY_SECONDS = 86_400 * 365
/** 1 GiB: bodies are kept in memory, one per request in flight. */
const MAX_RETRY_BODY_LIMIT = 1_073_741_824
const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  'members', 'stickySession', 'routeSeparator', 'routeCookie', 'noFailover', 'retry', 'maxAttempts', 'connectTimeout',
  'retryBodyLimit', 'forceRecovery', 'preserveHost', 'addForwardedHeaders', 'lbMethod', 'failOnStatus', 'failOnTimeout', 'timeout', 'healthCheck', 'now'
])
const FLAG_OPTIONS = ['disabled', 'draining', 'hotStandby', 'stopped', 'ignoreErrors'] as const
const KNOWN_MEMBER_OPTIONS: ReadonlySet<string> = new Set(['url', 'route', 'loadFactor', 'lbSet', ...FLAG_OPTIONS, 'timeout', 'healthCheck'])
const KNOWN_HEALTH_OPTIONS: ReadonlySet<string> = new Set(['method', 'uri', 'interval', 'timeout', 'passes', 'fails', 'expect'])
const HEALTH_METHODS: ReadonlySet<string> = new Set(['TCP', 'GET', 'HEAD', 'OPTIONS'])
const MAX_TIMEOUT_SECONDS = 86_400
const KNOWN_COOKIE_OPTIONS: ReadonlySet<string> = new Set([
  'name', 'path', 'domain', 'maxAge', 'expires', 'httpOnly', 'secure', 'sameSite', 'partitioned', 'opaque'
])
const KNOWN_OPAQUE_OPTIONS: ReadonlySet<string> = new Set(['key', 'previousKeys'])
/** The shortest opaque-route key: 32 characters, so a key typed by hand still carries enough entropy to resist guessing offline. */
export const MIN_OPAQUE_KEY_LENGTH = 32
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

/** An optional number of seconds above 0 and at most `max`, in whole ms (at least 1). */
function optionalSeconds (value: unknown, option: string, max: number, code: 'ERR_STICKY_INVALID_OPTION' | 'ERR_STICKY_HEALTH_CHECK' = 'ERR_STICKY_INVALID_OPTION'): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new StickyConfigError(code, option, `must be a number of seconds above 0 and at most ${max}, got ${describe(value)}.`)
  }
  return Math.max(1, Math.round(value * 1000))
}

function optionalCount (value: unknown, option: string, fallback: number, what: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > 1000) {
    throw new StickyConfigError('ERR_STICKY_HEALTH_CHECK', option, `must be a whole number from 1 to 1000 (${what}), got ${describe(value)}.`)
  }
  return value
}

/** `expect` functions made from a list of statuses (they never read the body). */
const STATUS_LISTS = new WeakSet<(response: HealthCheckResponse) => boolean>()

function isPassingStatus (response: HealthCheckResponse): boolean {
  return response.status >= 200 && response.status < 400
}

/** A health check: `overrides` on top of `base` (the balancer's, or the defaults). */
function resolveHealthCheck (value: unknown, option: string, base: ResolvedHealthCheck | undefined): ResolvedHealthCheck {
  if (!isPlainObject(value)) {
    throw new StickyConfigError('ERR_STICKY_HEALTH_CHECK', option,
      `must be an object like { method: 'GET', uri: '/health', interval: 10 }${option.startsWith('members') ? ' or false' : ''}, got ${describe(value)}.`)
  }
  rejectUnknown(value, KNOWN_HEALTH_OPTIONS, option)
  const d = DEFAULTS.healthCheck
  const { method, uri, interval, timeout, passes, fails, expect } = value
  if (method !== undefined && (typeof method !== 'string' || !HEALTH_METHODS.has(method))) {
    throw new StickyConfigError('ERR_STICKY_HEALTH_CHECK', `${option}.method`, `must be 'GET', 'HEAD', 'OPTIONS' or 'TCP' (Apache hcmethod), got ${describe(method)}.`)
  }
  // A path and query only: printable ASCII without spaces, so it cannot inject a header line.
  if (uri !== undefined && (typeof uri !== 'string' || !/^\/[\x21-\x7e]*$/.test(uri))) {
    throw new StickyConfigError('ERR_STICKY_HEALTH_CHECK', `${option}.uri`, `must be a path starting with '/' (printable ASCII, no spaces), got ${describe(uri)}.`)
  }
  let expectFn: ((response: HealthCheckResponse) => boolean) | undefined
  if (typeof expect === 'function') {
    expectFn = expect as (response: HealthCheckResponse) => boolean
  } else if (Array.isArray(expect)) {
    if (expect.length === 0 || !expect.every(isStatusCode)) {
      throw new StickyConfigError('ERR_STICKY_HEALTH_CHECK', `${option}.expect`, `must list HTTP statuses (100 to 599), got ${describe(expect)}.`)
    }
    const statuses = new Set<number>(expect as number[])
    expectFn = response => statuses.has(response.status)
    STATUS_LISTS.add(expectFn)
  } else if (expect !== undefined) {
    throw new StickyConfigError('ERR_STICKY_HEALTH_CHECK', `${option}.expect`,
      `must be a list of statuses like [200, 204] or a function (response) => boolean, got ${describe(expect)}.`)
  }
  const intervalMs = optionalSeconds(interval, `${option}.interval`, MAX_TIMEOUT_SECONDS, 'ERR_STICKY_HEALTH_CHECK') ?? base?.intervalMs ?? d.interval * 1000
  // An explicit timeout is inherited; a default one follows the interval it was derived from.
  const givenTimeout = optionalSeconds(timeout, `${option}.timeout`, MAX_TIMEOUT_SECONDS, 'ERR_STICKY_HEALTH_CHECK')
  const inherited = base !== undefined && (base.timeoutGiven || interval === undefined) ? base.timeoutMs : undefined
  const timeoutMs = givenTimeout ?? inherited ?? Math.min(intervalMs, d.maxTimeout * 1000)
  const resolvedMethod = (method as HealthCheckMethod | undefined) ?? base?.method ?? d.method
  const resolvedExpect = expectFn ?? base?.expect ?? isPassingStatus
  return Object.freeze({
    method: resolvedMethod,
    uri: (uri as string | undefined) ?? base?.uri ?? d.uri,
    intervalMs,
    timeoutMs,
    timeoutGiven: givenTimeout !== undefined || (inherited !== undefined && base?.timeoutGiven === true),
    passes: optionalCount(passes, `${option}.passes`, base?.passes ?? d.passes, 'consecutive passes that bring a member back'),
    fails: optionalCount(fails, `${option}.fails`, base?.fails ?? d.fails, 'consecutive fails that take a member out'),
    expect: resolvedExpect,
    // Only the application's own function may look at the body.
    readBody: resolvedMethod === 'GET' && resolvedExpect !== isPassingStatus && !STATUS_LISTS.has(resolvedExpect)
  })
}

function isStatusCode (value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599
}

/** What a member inherits from the balancer's options. */
interface MemberDefaults {
  readonly healthCheck: ResolvedHealthCheck | undefined
  /** Flags a member gets when its options do not say (a member added at runtime starts disabled). */
  readonly disabled: boolean
}

/** Validates one member's options; `path` names it in errors (`members[1]`). */
export function resolveMember (value: unknown, path: string, defaults: MemberDefaults): ResolvedMember {
  if (!isPlainObject(value)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', path,
      `must be an object like { url: 'http://127.0.0.1:8081', route: 'node1' }, got ${describe(value)}.`)
  }
  rejectUnknown(value, KNOWN_MEMBER_OPTIONS, path)
  const { url, route, loadFactor, lbSet } = value
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
  checkRouteName(route, `${path}.route`)
  const factor = loadFactor === undefined ? DEFAULTS.loadFactor : checkLoadFactor(loadFactor, `${path}.loadFactor`)
  const tier = lbSet === undefined ? DEFAULTS.lbSet : checkLbSet(lbSet, `${path}.lbSet`)
  const flags: Record<(typeof FLAG_OPTIONS)[number], boolean> = { disabled: false, draining: false, hotStandby: false, stopped: false, ignoreErrors: false }
  for (const name of FLAG_OPTIONS) {
    flags[name] = optionalBoolean(value[name], `${path}.${name}`, name === 'disabled' ? defaults.disabled : false)
  }
  const hc = value['healthCheck']
  return Object.freeze({
    url: parsed.origin,
    route: route as string,
    loadFactor: factor,
    lbSet: tier,
    ...flags,
    timeoutMs: optionalSeconds(value['timeout'], `${path}.timeout`, MAX_TIMEOUT_SECONDS),
    healthCheck: hc === false ? undefined : hc === undefined ? defaults.healthCheck : resolveHealthCheck(hc, `${path}.healthCheck`, defaults.healthCheck)
  })
}

/** Checks a route name (it is written into a cookie): non-empty, at most 255 cookie-safe characters. */
export function checkRouteName (route: unknown, option: string): string {
  if (typeof route !== 'string' || route === '') {
    throw new StickyConfigError('ERR_STICKY_ROUTE_NAME', option,
      `must be a non-empty string naming the member in session ids (the "node1" of JSESSIONID=abc.node1), got ${describe(route)}.`)
  }
  if (route.length > MAX_ROUTE_LENGTH || !isCookieValue(route)) {
    throw new StickyConfigError('ERR_STICKY_ROUTE_NAME', option,
      `must be at most ${MAX_ROUTE_LENGTH} printable ASCII characters without ';', ',', space, quotes or '\\' (it is written into a cookie), got ${describe(route)}.`)
  }
  return route
}

/** Checks a weight: 1 to 100, decimals allowed. */
export function checkLoadFactor (value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1 || value > 100) {
    throw new StickyConfigError('ERR_STICKY_LOAD_FACTOR', option, `must be a number from 1 to 100 (as Apache loadfactor), got ${describe(value)}.`)
  }
  return value
}

/** Checks a tier: a whole number from 0 to 99. */
export function checkLbSet (value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > 99) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', option, `must be a whole number from 0 to 99 (as Apache lbset), got ${describe(value)}.`)
  }
  return value
}

function resolveMembers (value: unknown, healthCheck: ResolvedHealthCheck | undefined): ResolvedMember[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new StickyConfigError('ERR_STICKY_NO_MEMBERS', 'members',
      `must be a non-empty array of { url, route }, got ${describe(value)}. Name at least one member.`)
  }
  const defaults: MemberDefaults = { healthCheck, disabled: false }
  const members = value.map((m: unknown, i) => resolveMember(m, `members[${i}]`, defaults))
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
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', option, `must be printable ASCII without ';' or ',', got ${describe(value)}.`)
  }
  return value
}

/** What a key that is not accepted looks like, for an error message: its type and length, never its text. */
function describeKey (value: unknown): string {
  return typeof value === 'string' ? `a string of ${value.length} characters` : describe(value)
}

function checkOpaqueKey (value: unknown, option: string): string {
  if (typeof value !== 'string' || value.length < MIN_OPAQUE_KEY_LENGTH) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', option,
      `must be a secret string of at least ${MIN_OPAQUE_KEY_LENGTH} characters (e.g. 32 random bytes, base64: openssl rand -base64 32), got ${describeKey(value)}.`)
  }
  return value
}

/**
 * `routeCookie.opaque`: the keys of opaque routes. Refused when `stickySession` reads a URL
 * parameter of another name than the cookie (`'JSESSIONID|jsessionid'`): that is Apache's
 * Method 1, where the application's own session ids carry the route in clear text, and no
 * token could ever match them.
 */
function resolveOpaque (value: unknown, session: SessionSource, cookie: string): OpaqueRouteKeys | undefined {
  const option = 'routeCookie.opaque'
  if (value === undefined || value === false) return undefined
  if (!isPlainObject(value)) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', option, `must be { key, previousKeys? } or false, got ${describeKey(value)}.`)
  }
  rejectUnknown(value, KNOWN_OPAQUE_OPTIONS, option)
  const key = checkOpaqueKey(value['key'], `${option}.key`)
  const previous = value['previousKeys']
  if (previous !== undefined && !Array.isArray(previous)) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', `${option}.previousKeys`, `must be an array of the keys used before key, got ${describeKey(previous)}.`)
  }
  const previousKeys = (previous ?? []).map((k: unknown, i: number) => checkOpaqueKey(k, `${option}.previousKeys[${i}]`))
  if (session.urlParam !== undefined && session.urlParam !== session.cookie) {
    throw new StickyConfigError('ERR_STICKY_COOKIE_ATTRIBUTE', option,
      `is for the balancer cookie only, but stickySession also reads the URL parameter ${describe(session.urlParam)}: application session ids ` +
      '(JSESSIONID=<id>.<route>, Apache Method 1) carry the route in clear text and never match a token. Read the balancer cookie alone: ' +
      `stickySession: ${describe(cookie)} or { cookie: ${describe(cookie)}, urlParam: false }.`)
  }
  return new OpaqueRouteKeys(key, previousKeys)
}

function resolveRouteCookie (value: unknown, session: SessionSource): CompiledRouteCookie | undefined {
  const option = 'routeCookie'
  const sessionCookie = session.cookie
  if (value === undefined || value === false) return undefined
  if (value === true) return compileRouteCookie(sessionCookie, {})
  if (typeof value === 'string') return compileRouteCookie(checkCookieName(value, option), {})
  if (!isPlainObject(value)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', option,
      `must be a cookie name, true, false, or { name, path, domain, maxAge, expires, httpOnly, secure, sameSite, partitioned, opaque }, got ${describe(value)}.`)
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
  const opaque = resolveOpaque(value['opaque'], session, name)
  return compileRouteCookie(name, {
    ...(cookiePath === undefined ? {} : { path: cookiePath }),
    ...(domain === undefined ? {} : { domain }),
    ...(maxAge === undefined ? {} : { maxAge }),
    ...(expires === undefined ? {} : { expires }),
    httpOnly: http,
    secure: secure ?? 'auto',
    sameSite: sameSite ?? 'Lax',
    partitioned: part
  }, opaque)
}

function resolveLbMethod (value: unknown): LbMethod {
  if (value === undefined) return LB_METHODS[DEFAULTS.lbMethod]
  if (typeof value === 'string') {
    const method = Object.hasOwn(LB_METHODS, value) ? LB_METHODS[value as LbMethodName] : undefined
    if (method !== undefined) return method
  }
  if (isPlainObject(value)) {
    const m = value as Record<string, unknown>
    if (typeof m['name'] !== 'string' || m['name'] === '') {
      throw new StickyConfigError('ERR_STICKY_LB_METHOD', 'lbMethod.name', `must be a non-empty string naming the method (for logs), got ${describe(m['name'])}.`)
    }
    if (typeof m['pick'] !== 'function') {
      throw new StickyConfigError('ERR_STICKY_LB_METHOD', 'lbMethod.pick',
        `must be a function (candidates) => candidate returning one of the members it is given, got ${describe(m['pick'])}.`)
    }
    if (m['stickyHit'] !== undefined && typeof m['stickyHit'] !== 'function') {
      throw new StickyConfigError('ERR_STICKY_LB_METHOD', 'lbMethod.stickyHit', `must be a function (chosen, usable) => void, or left out, got ${describe(m['stickyHit'])}.`)
    }
    return value as unknown as LbMethod
  }
  throw new StickyConfigError('ERR_STICKY_LB_METHOD', 'lbMethod',
    `must be 'byrequests', 'bybusyness', 'bytraffic' or an object { name, pick(candidates), stickyHit?(chosen, usable) }, got ${describe(value)}.`)
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
  const healthCheck = input['healthCheck'] === undefined ? undefined : resolveHealthCheck(input['healthCheck'], 'healthCheck', undefined)
  const members = resolveMembers(input['members'], healthCheck)
  const session = resolveStickySession(input['stickySession'], routeCookieName(input['routeCookie']))
  const separator = resolveSeparator(input['routeSeparator'])
  const routeCookie = resolveRouteCookie(input['routeCookie'], session)
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
  const retryBodyLimit = input['retryBodyLimit']
  if (retryBodyLimit !== undefined && (typeof retryBodyLimit !== 'number' || !Number.isSafeInteger(retryBodyLimit) || retryBodyLimit < 0 || retryBodyLimit > MAX_RETRY_BODY_LIMIT)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'retryBodyLimit',
      `must be a whole number of bytes from 0 (stream every body) to ${MAX_RETRY_BODY_LIMIT}, got ${describe(retryBodyLimit)}.`)
  }
  const lbMethod = resolveLbMethod(input['lbMethod'])
  const failOnStatus = input['failOnStatus']
  if (failOnStatus !== undefined && (!Array.isArray(failOnStatus) || !failOnStatus.every(isStatusCode))) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'failOnStatus', `must be a list of HTTP statuses (100 to 599) such as [500, 503], got ${describe(failOnStatus)}.`)
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
    maxAttempts: maxAttempts as number | undefined,
    connectTimeoutMs: Math.round((connectTimeout ?? DEFAULTS.connectTimeout) * 1000),
    retryBodyLimit: (retryBodyLimit as number | undefined) ?? DEFAULTS.retryBodyLimit,
    forceRecovery: optionalBoolean(input['forceRecovery'], 'forceRecovery', DEFAULTS.forceRecovery),
    preserveHost: optionalBoolean(input['preserveHost'], 'preserveHost', DEFAULTS.preserveHost),
    addForwardedHeaders: optionalBoolean(input['addForwardedHeaders'], 'addForwardedHeaders', DEFAULTS.addForwardedHeaders),
    lbMethod,
    failOnStatus: new Set<number>(failOnStatus as number[] | undefined),
    failOnTimeout: optionalBoolean(input['failOnTimeout'], 'failOnTimeout', DEFAULTS.failOnTimeout),
    timeoutMs: optionalSeconds(input['timeout'], 'timeout', MAX_TIMEOUT_SECONDS),
    healthCheck,
    now: (now as (() => number) | undefined) ?? Date.now
  })
  resolved.add(out)
  return out
}
