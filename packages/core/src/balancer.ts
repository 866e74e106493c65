/**
 * The balancer: takes what a request carries and decides which member serves it, whether the
 * route changed, and which balancer cookie to add. Pure: no I/O, no timers; time comes from
 * the injected `now()`, and health checks get their probe and timers from the adapter.
 *
 * The rules follow Apache's `proxy_balancer_pre_request`, `find_session_route`,
 * `find_route_worker`, `ap_proxy_balancer_get_best_worker`, `force_recovery` and the
 * `maxattempts` loop of `proxy_handler`.
 *
 * Hot path: what a request needs (members by route, the members that take new clients, the
 * usable members for sticky accounting) is computed once per change of membership or state and
 * reused; `now()` is read only while some member is in error.
 */
import { formatRouteCookie, type OpaqueRouteKeys } from './cookie.js'
import { StickyConfigError, StickyError } from './errors.js'
import { Listeners, type BalancerEventName, type BalancerEvents, type RouteChangeReason, type StateChangeReason } from './events.js'
import { connectFailureCode, isIdempotent, isTimeout, resetCode } from './failures.js'
import { HealthMonitor, type Checked, type HealthIo } from './health.js'
import { LB_METHODS, type LbMethod } from './lbmethods/index.js'
import {
  MemberState,
  statusLetters,
  type MemberCounters,
  type MemberFlag,
  type MemberFlags,
  type MemberStateFlags,
  type StickyMember
} from './members.js'
import {
  checkLbSet,
  checkLoadFactor,
  checkRouteName,
  isResolvedOptions,
  resolveMember,
  resolveOptions,
  type MemberOptions,
  type ResolvedHealthCheck,
  type ResolvedMember,
  type ResolvedOptions,
  type StickyOptions
} from './options.js'
import { BAD_GATEWAY, GATEWAY_TIMEOUT, SERVICE_UNAVAILABLE, type BalancerResponse } from './responses.js'
import { findSessionRoute, type RouteSource, type RouteToken, type SessionRoute } from './route.js'

/** What a request carries that matters for routing. */
export interface RoutingRequest {
  /** The `Cookie` header: a string, or several header lines. */
  cookie?: string | readonly string[] | undefined
  /** The request target as received (path and query), e.g. `/app;jsessionid=abc.node1?x=1`. */
  url?: string | undefined
  /** `true` when the client connection is TLS (decides `Secure` on the cookie when `secure: 'auto'`). */
  secure?: boolean | undefined
}

/** Why no member serves the request. */
export type UnavailableReason =
  /** No member is usable (all in error, disabled, stopped, draining, or all tried). */
  | 'no-member'
  /** The request tried `maxAttempts` other members already. */
  | 'max-attempts'
  /** The client's route names a member that cannot serve, and `noFailover` is on. */
  | 'nofailover'

/** A member was chosen: proxy the request to `member.url`. */
export interface Routed {
  readonly ok: true
  /** The member that serves this attempt. */
  readonly member: StickyMember
  /** Its route (Apache `BALANCER_WORKER_ROUTE`). */
  readonly route: string
  /** The client did not name this member: a new client, a bad or unknown route, or a failover (Apache `BALANCER_ROUTE_CHANGED`). */
  readonly routeChanged: boolean
  /**
   * The `Set-Cookie` value to append after the member's own, or `undefined`: set when the route
   * changed (with a balancer cookie), or when `rekeyed`.
   */
  readonly setCookie: string | undefined
  /**
   * Opaque routes: the client's token was made with a previous key. It reached the member it
   * names (the route did not change), and `setCookie` re-issues the cookie with the current key.
   * Always set (`false` otherwise) on decisions the balancer returns.
   */
  readonly rekeyed?: boolean
  /** The route the client presented (from its session id), if any; it may name no member. */
  readonly clientRoute: string | undefined
  /** Where the client's session id was read: `'url'`, `'cookie'`, or `undefined` when it had none. */
  readonly routeSource: RouteSource | undefined
  /** 1 for the first member tried, 2 after one failover, ... */
  readonly attempt: number
}

/** No member can serve: answer `status` yourself, without a balancer cookie. */
export interface Unavailable {
  readonly ok: false
  readonly status: 503
  readonly reason: UnavailableReason
  /** The route the client presented, if any. */
  readonly clientRoute: string | undefined
  readonly attempt: number
}

/** What to do after the request to the member failed: see {@link Balancer.upstreamError}. */
export type UpstreamErrorAction =
  /**
   * Send the same request again, to `decision.member` (the new decision replaces the old one).
   * With `newConnection`, the member is the same and the request must go out on a connection of
   * its own, not on another kept-alive one (see `reusedConnection`).
   */
  | { readonly action: 'retry', readonly decision: Routed, readonly newConnection: boolean }
  /** Answer with the balancer's own `response` (no balancer cookie); with `close`, also close the client connection (its body was not read). */
  | { readonly action: 'respond', readonly response: BalancerResponse, readonly close: boolean, readonly decision: Decision }

/** What the gateway knows about the failed request. */
export interface UpstreamErrorContext {
  /**
   * `true` when the request can be sent again: it had no body (see `hasRequestBody`), or its
   * body was kept whole (see `bodyPlan` and `retryBodyLimit`), and nothing was answered yet.
   */
  readonly canRetry: boolean
  /**
   * The request method. An idempotent one (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) that can be
   * sent again and met a reset before any answer goes to another member, and the member is put
   * in error (it is dying). Unset: such a reset is a 502, as for a POST.
   */
  readonly method?: string | undefined
  /** Some of the member's answer had been received (its status line): the request is never sent again. */
  readonly responseStarted?: boolean | undefined
  /**
   * The request went out on a kept-alive connection that had served earlier requests (Node's
   * `ClientRequest.reusedSocket`), and was not already sent again for that reason. A reset before
   * any answer then most likely means the member had closed that idle connection as the request
   * reached it: an idempotent request that can be sent again is retried on the same member over a
   * new connection, without counting a failure or re-pinning the client; any other request is a
   * 502, also without counting a failure.
   */
  readonly reusedConnection?: boolean | undefined
}

/** How a request ended, for {@link Balancer.finished}. Every field is optional. */
export interface RequestOutcome {
  /** The status the member answered (checked against `failOnStatus`; counts the request as answered). */
  readonly status?: number | undefined
  /** Bytes of the request, as read from the client (for `bytesSent` and `bytraffic`). */
  readonly bytesSent?: number | undefined
  /** Bytes of the answer, as written to the client (for `bytesReceived` and `bytraffic`). */
  readonly bytesReceived?: number | undefined
}

export type Decision = Routed | Unavailable

/** A member's state and counters, for runtime inspection (the balancer-manager view). */
export interface MemberStatus extends StickyMember, MemberCounters, Readonly<MemberStateFlags> {
  /** The set flags as Apache status letters (`'Ok'`, `'N'`, `'HE'`, ...). */
  readonly status: string
  /** When it went into error (ms, from `now()`), if it is in error. */
  readonly errorSince: number | undefined
  /** Its active health check, if it has one: the consecutive passes and fails so far, and the last result. */
  readonly healthCheck: { readonly passes: number, readonly fails: number, readonly last: string | undefined } | undefined
}

/** Picks a member: its URL, or its route when exactly one member has it. */
export type MemberSelector = string

/** What {@link Balancer.update} changes. */
export interface MemberChanges {
  loadFactor?: number
  lbSet?: number
  route?: string
}

// Internals of a decision live under symbols: JSON.stringify and loggers skip them, so logging
// `request.sticky` shows only the public fields (never the options or the raw session id).
const kOwner = Symbol('owner')
const kState = Symbol('state')
const kTried = Symbol('tried')
const kSecure = Symbol('secure')
const kSession = Symbol('session')
const kReleased = Symbol('released')

const NONE: readonly MemberState[] = Object.freeze([])

class RoutedDecision implements Routed {
  readonly ok = true as const
  readonly member: StickyMember
  readonly route: string
  readonly routeChanged: boolean
  readonly setCookie: string | undefined
  readonly rekeyed: boolean
  readonly clientRoute: string | undefined
  readonly routeSource: RouteSource | undefined
  readonly attempt: number
  readonly [kOwner]: Balancer
  readonly [kState]: MemberState
  /** Members tried by earlier attempts of the same request. */
  readonly [kTried]: readonly MemberState[]
  readonly [kSecure]: boolean
  readonly [kSession]: SessionRoute | undefined
  [kReleased] = false

  constructor (owner: Balancer, state: MemberState, routeChanged: boolean, setCookie: string | undefined, rekeyed: boolean,
    session: SessionRoute | undefined, attempt: number, tried: readonly MemberState[], secure: boolean) {
    this.member = state.info
    this.route = state.route
    this.routeChanged = routeChanged
    this.setCookie = setCookie
    this.rekeyed = rekeyed
    this.clientRoute = session?.route
    this.routeSource = session?.source
    this.attempt = attempt
    this[kOwner] = owner
    this[kState] = state
    this[kTried] = tried
    this[kSecure] = secure
    this[kSession] = session
  }
}

function unavailable (reason: UnavailableReason, session: SessionRoute | undefined, attempt: number): Unavailable {
  return { ok: false, status: 503, reason, clientRoute: session?.route, attempt }
}

/** A member with a health check, as the monitor sees it. */
class CheckedMember implements Checked {
  constructor (readonly state: MemberState, readonly check: ResolvedHealthCheck) {}
  get url (): string { return this.state.url }
  get paused (): boolean { return this.state.stopped }
}

const OPERATOR_FLAGS: ReadonlySet<string> = new Set<keyof MemberFlags | 'inError'>(['disabled', 'draining', 'hotStandby', 'stopped', 'ignoreErrors', 'inError'])

export class Balancer {
  readonly options: ResolvedOptions
  readonly #members: MemberState[]
  readonly #lb: LbMethod
  /** The built-in methods always return a candidate; a user's method is checked. */
  readonly #trustedLb: boolean
  readonly #listeners = new Listeners()
  /** How many members are in error: while 0, a request never reads the clock. */
  #errored = 0
  /** The derived tables below are stale (a member changed state, weight, tier, route, or membership). */
  #stale = true
  #byRoute = new Map<string, readonly MemberState[]>()
  /** Members that take new clients: the first non-empty group of (tier, normal), (tier, standby), in tier order. */
  #pool: readonly MemberState[] = NONE
  /** Every usable member, for the sticky-hit accounting. */
  #usable: readonly MemberState[] = NONE
  #monitor: HealthMonitor | undefined = undefined
  readonly #checked = new Map<MemberState, CheckedMember>()
  /** A removed member still busy, and the `remove()` waiting for it. */
  readonly #drained = new Map<MemberState, () => void>()
  /**
   * Opaque routes: every token the balancer accepts (current and previous keys) and the route it
   * stands for; `undefined` when the cookie carries the route itself. Tokens are computed once per
   * route (a route that appears at runtime adds its own), never per request.
   */
  readonly #tokens: Map<string, RouteToken> | undefined
  /** Opaque routes: the current-key token of each route seen so far. */
  readonly #tokenOfRoute = new Map<string, string>()

  constructor (options: StickyOptions | ResolvedOptions) {
    this.options = isResolvedOptions(options) ? options : resolveOptions(options)
    const o = this.options
    this.#lb = o.lbMethod
    this.#trustedLb = Object.values(LB_METHODS).includes(o.lbMethod)
    this.#tokens = o.routeCookie?.opaque === undefined ? undefined : new Map()
    this.#members = o.members.map((m, i) => this.#state(m, i))
  }

  /** The load-balancing method's name (`'byrequests'`, ...). */
  get lbMethod (): string {
    return this.#lb.name
  }

  // -------------------------------------------------------------------------------------------
  // The request cycle
  // -------------------------------------------------------------------------------------------

  /** Chooses the member for a new request. */
  select (request: RoutingRequest): Decision {
    const o = this.options
    const session = findSessionRoute(request.cookie, request.url, o.session, o.separator, this.#tokens)
    return this.#decide(session, NONE, 1, request.secure === true)
  }

  /**
   * The chosen member could not be connected to: puts it in error for `retry` seconds (unless
   * it ignores errors) and chooses another for the same request, up to `maxAttempts` more. Call
   * it only when the request can be sent again (no body consumed); otherwise call {@link markFailed}.
   */
  failover (decision: Routed): Decision {
    return this.#failover(this.#own(decision), undefined)
  }

  #failover (d: RoutedDecision, detail: string | undefined): Decision {
    this.#fail(d, 'connect-failure', detail)
    if (d.attempt > this.#maxAttempts()) return unavailable('max-attempts', d[kSession], d.attempt + 1)
    return this.#decide(d[kSession], [...d[kTried], d[kState]], d.attempt + 1, d[kSecure])
  }

  /**
   * The request to the member failed with `error`: decides what the gateway does, the same way
   * in every adapter. A connect failure puts the member in error; a request that can be sent
   * again goes to another member (`retry`); otherwise the balancer answers itself: 503 when no
   * member is left, 502 when the body could not be replayed or the member failed mid-request,
   * 504 when the member did not answer in time (with `failOnTimeout`, the member goes in error).
   * A reset before any answer (the member died with the request in flight) on an idempotent
   * request that can be sent again is a failover too, unless it came on a reused kept-alive
   * connection (`reusedConnection`: sent again to the same member, on a new connection); any
   * other reset is a 502, and the member is not put in error (it may have been this request that
   * killed the connection).
   */
  upstreamError (decision: Routed, error: unknown, context: UpstreamErrorContext): UpstreamErrorAction {
    const d = this.#own(decision)
    const code = connectFailureCode(error)
    if (code !== undefined) {
      if (context.canRetry) {
        const next = this.#failover(d, code)
        return next.ok ? { action: 'retry', decision: next, newConnection: false } : { action: 'respond', response: SERVICE_UNAVAILABLE, close: false, decision: next }
      }
      this.#fail(d, 'connect-failure', code)
      return { action: 'respond', response: BAD_GATEWAY, close: true, decision: d }
    }
    if (isTimeout(error)) {
      const ms = this.timeoutOf(d)
      if (this.options.failOnTimeout) this.#fail(d, 'timeout', ms === undefined ? undefined : `no answer within ${ms} ms`)
      else this.#countFailure(d)
      return { action: 'respond', response: GATEWAY_TIMEOUT, close: false, decision: d }
    }
    // After the timeout check: a gateway giving up on a silent member resets the request itself.
    const reset = resetCode(error)
    const beforeAnswer = reset !== undefined && context.responseStarted !== true
    // A member closing an idle kept-alive connection as the request came is not a member failing.
    const staleConnection = beforeAnswer && context.reusedConnection === true
    if (beforeAnswer && context.canRetry && isIdempotent(context.method)) {
      if (staleConnection) return { action: 'retry', decision: d, newConnection: true }
      const next = this.#failover(d, `${reset} before any answer`)
      return next.ok ? { action: 'retry', decision: next, newConnection: false } : { action: 'respond', response: SERVICE_UNAVAILABLE, close: false, decision: next }
    }
    if (!staleConnection) this.#countFailure(d)
    return { action: 'respond', response: BAD_GATEWAY, close: false, decision: d }
  }

  /** The chosen member could not be connected to, and the request will not be retried. */
  markFailed (decision: Routed): void {
    this.#fail(this.#own(decision), 'connect-failure', undefined)
  }

  /**
   * The request is over (answered, failed or aborted): releases the member's in-flight count and
   * adds the outcome to its counters. An answer whose status is in `failOnStatus` puts the member
   * in error (Apache `failonstatus`: the answer itself still went to the client). Safe to call
   * more than once; only the first call counts.
   */
  finished (decision: Decision, outcome?: RequestOutcome): void {
    if (!decision.ok) return
    const d = this.#own(decision)
    if (d[kReleased]) return
    this.#release(d)
    if (outcome === undefined) return
    const m = d[kState]
    if (outcome.bytesSent !== undefined && outcome.bytesSent > 0) m.bytesSent += outcome.bytesSent
    if (outcome.bytesReceived !== undefined && outcome.bytesReceived > 0) m.bytesReceived += outcome.bytesReceived
    const status = outcome.status
    if (status === undefined) return
    m.requests++
    if (this.options.failOnStatus.has(status)) {
      m.failures++
      this.#setError(m, 'fail-on-status', `status ${status}`)
    }
  }

  /** The response timeout for the chosen member in ms (its own `timeout`, else the balancer's), or `undefined` for none of ours. */
  timeoutOf (decision: Routed): number | undefined {
    return this.#own(decision)[kState].timeoutMs ?? this.options.timeoutMs
  }

  // -------------------------------------------------------------------------------------------
  // Runtime control (the programmatic balancer-manager)
  // -------------------------------------------------------------------------------------------

  /** The members with their state and counters, in order. */
  members (): MemberStatus[] {
    this.#expireErrors()
    return this.#members.map(m => this.#status(m))
  }

  /** One member's state and counters. Throws `ERR_STICKY_UNKNOWN_MEMBER` when `selector` names none. */
  member (selector: MemberSelector): MemberStatus {
    this.#expireErrors()
    return this.#status(this.#find(selector))
  }

  /**
   * Sets or clears flags of a member: `{ draining: true }` drains it, `{ disabled: false }`
   * enables it, `{ inError: false }` takes it out of error now. Takes effect on the next request.
   */
  set (selector: MemberSelector, flags: Partial<MemberFlags & { inError: boolean }>): MemberStatus {
    const m = this.#find(selector)
    if (typeof flags !== 'object' || flags === null) {
      throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'flags', 'must be an object such as { draining: true }.')
    }
    for (const [name, value] of Object.entries(flags)) {
      if (!OPERATOR_FLAGS.has(name)) {
        throw new StickyConfigError('ERR_STICKY_UNKNOWN_OPTION', name,
          `is not a flag an operator sets. Flags: ${[...OPERATOR_FLAGS].join(', ')} (healthCheckFailed belongs to the health checks).`)
      }
      if (typeof value !== 'boolean') throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', name, `must be true or false, got ${String(value)}.`)
    }
    for (const [name, value] of Object.entries(flags) as Array<[keyof MemberFlags | 'inError', boolean]>) {
      if (name === 'inError') {
        if (value) this.#setError(m, 'operator', undefined)
        else this.#clearError(m, 'operator')
      } else {
        this.#setFlag(m, name, value, 'operator', undefined)
      }
    }
    return this.#status(m)
  }

  /** Changes a member's weight, tier or route. Takes effect on the next request. */
  update (selector: MemberSelector, changes: MemberChanges): MemberStatus {
    const m = this.#find(selector)
    if (typeof changes !== 'object' || changes === null) {
      throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'changes', 'must be an object such as { loadFactor: 2 }.')
    }
    for (const key of Object.keys(changes)) {
      if (key !== 'loadFactor' && key !== 'lbSet' && key !== 'route') {
        throw new StickyConfigError('ERR_STICKY_UNKNOWN_OPTION', key, 'cannot be changed at runtime. Changeable: loadFactor, lbSet, route; flags go through set().')
      }
    }
    const loadFactor = changes.loadFactor === undefined ? m.loadFactor : checkLoadFactor(changes.loadFactor, 'loadFactor')
    const lbSet = changes.lbSet === undefined ? m.lbSet : checkLbSet(changes.lbSet, 'lbSet')
    const route = changes.route === undefined ? m.route : checkRouteName(changes.route, 'route')
    m.loadFactor = loadFactor
    m.lbSet = lbSet
    m.route = route
    m.refresh()
    this.#cookieOf(m)
    this.#stale = true
    return this.#status(m)
  }

  /**
   * Adds a member. Like Apache, it starts disabled unless its options say `disabled: false`:
   * enable it with `set(url, { disabled: false })` once it is ready. It inherits the balancer's
   * health check (which starts at once when checks are running).
   */
  add (member: MemberOptions): MemberStatus {
    const resolved = resolveMember(member, 'member', { healthCheck: this.options.healthCheck, disabled: true })
    const existing = this.#members.find(m => m.url === resolved.url)
    if (existing !== undefined) {
      throw new StickyConfigError('ERR_STICKY_DUPLICATE_MEMBER', 'member.url', `repeats the member ${existing.route} (${existing.url}). Each member must have its own URL.`)
    }
    const m = this.#state(resolved, this.#members.length)
    this.#members.push(m)
    this.#stale = true
    if (this.#monitor !== undefined) this.#watch(m)
    return this.#status(m)
  }

  /**
   * Removes a member: no request is sent to it from now on (its sticky clients are re-balanced,
   * with a new cookie), and its health check stops. Requests already there finish normally; the
   * promise resolves with its final status once they have (open WebSockets count: bound the
   * wait yourself if you need to). Drain it first (`set(url, { draining: true })`) to let its
   * users finish their sessions.
   */
  async remove (selector: MemberSelector): Promise<MemberStatus> {
    const m = this.#find(selector)
    const i = this.#members.indexOf(m)
    this.#members.splice(i, 1)
    m.removed = true
    if (m.errorSince !== undefined) {
      m.errorSince = undefined
      this.#errored--
    }
    for (const [j, other] of this.#members.entries()) {
      if (other.index !== j) {
        other.index = j
        other.refresh()
      }
    }
    this.#stale = true
    this.#unwatch(m)
    if (m.busy > 0) {
      // A removed member cannot be named again, so there is one waiter at most.
      await new Promise<void>(resolve => { this.#drained.set(m, resolve) })
    }
    return this.#status(m)
  }

  /** Listens to `'state'` (member flags), `'route'` (clients re-pinned) or `'health'` (check results). */
  on<K extends BalancerEventName> (name: K, listener: BalancerEvents[K]): this {
    this.#listeners.add(name, listener)
    return this
  }

  off<K extends BalancerEventName> (name: K, listener: BalancerEvents[K]): this {
    this.#listeners.remove(name, listener)
    return this
  }

  // -------------------------------------------------------------------------------------------
  // Health checks
  // -------------------------------------------------------------------------------------------

  /**
   * Starts the active health checks of every member that has one, with the given probe and
   * timers (the adapters pass `@stickyroute/core/node`'s). Idempotent. {@link close} stops them.
   */
  startHealthChecks (io: HealthIo): void {
    if (this.#monitor !== undefined) return
    this.#monitor = new HealthMonitor(io, (member, passed, detail) => {
      this.#checkResult((member as CheckedMember).state, passed, detail)
    })
    for (const m of this.#members) this.#watch(m)
  }

  /** `true` while health checks run. */
  get checking (): boolean {
    return this.#monitor !== undefined
  }

  /**
   * Stops the health checks; resolves once the checks under way have been aborted and settled.
   * Members failing their checks are put back (`healthCheckFailed` cleared): no check would ever
   * clear it again.
   */
  async close (): Promise<void> {
    const monitor = this.#monitor
    this.#monitor = undefined
    this.#checked.clear()
    await monitor?.close()
    for (const m of this.#members) {
      m.streaks.passes = 0
      m.streaks.fails = 0
      this.#setFlag(m, 'healthCheckFailed', false, 'operator', 'health checks stopped')
    }
  }

  // -------------------------------------------------------------------------------------------
  // Internals
  // -------------------------------------------------------------------------------------------

  #state (resolved: ResolvedMember, index: number): MemberState {
    const m = new MemberState(resolved, index)
    this.#cookieOf(m)
    return m
  }

  #cookieOf (m: MemberState): void {
    const cookie = this.options.routeCookie
    if (cookie === undefined) return
    const sep = this.options.separator ?? ''
    const value = cookie.opaque === undefined ? m.route : this.#tokenOf(m.route)
    m.cookies = [formatRouteCookie(cookie, sep, value, false), formatRouteCookie(cookie, sep, value, true)]
  }

  /**
   * Opaque routes: the current-key token of `route`, computing (once per route) its tokens under
   * every key and adding them to the table `select()` reads. A current-key token wins over a
   * previous-key one, should two ever be equal.
   */
  #tokenOf (route: string): string {
    const known = this.#tokenOfRoute.get(route)
    if (known !== undefined) return known
    const keys = this.options.routeCookie?.opaque as OpaqueRouteKeys // only called with opaque routes
    const tokens = this.#tokens as Map<string, RouteToken>
    const token = keys.token(route)
    this.#tokenOfRoute.set(route, token)
    tokens.set(token, Object.freeze({ route, current: true }))
    const previous: RouteToken = Object.freeze({ route, current: false })
    for (const old of keys.previousTokens(route)) if (!tokens.has(old)) tokens.set(old, previous)
    return token
  }

  #maxAttempts (): number {
    return this.options.maxAttempts ?? Math.max(0, this.#members.length - 1)
  }

  #find (selector: MemberSelector): MemberState {
    if (typeof selector !== 'string') {
      throw new StickyError('ERR_STICKY_UNKNOWN_MEMBER', `stickyroute: name a member by its URL or route, got ${typeof selector}.`)
    }
    let byUrl: string | undefined
    try {
      byUrl = new URL(selector).origin
    } catch {
      byUrl = undefined
    }
    for (const m of this.#members) if (m.url === byUrl) return m
    const routed = this.#members.filter(m => m.route === selector)
    if (routed.length === 1) return routed[0] as MemberState
    if (routed.length > 1) {
      throw new StickyError('ERR_STICKY_UNKNOWN_MEMBER', `stickyroute: ${routed.length} members have the route ${JSON.stringify(selector)}: name one by its URL (${routed.map(m => m.url).join(', ')}).`)
    }
    throw new StickyError('ERR_STICKY_UNKNOWN_MEMBER',
      `stickyroute: no member has the URL or route ${JSON.stringify(selector)}. Members: ${this.#members.map(m => `${m.route}=${m.url}`).join(', ') || 'none'}.`)
  }

  #status (m: MemberState): MemberStatus {
    const flags: MemberStateFlags = {
      disabled: m.disabled,
      draining: m.draining,
      hotStandby: m.hotStandby,
      stopped: m.stopped,
      ignoreErrors: m.ignoreErrors,
      inError: m.inError,
      healthCheckFailed: m.healthCheckFailed
    }
    return {
      ...m.info,
      ...flags,
      status: statusLetters(flags),
      errorSince: m.errorSince,
      elected: m.elected,
      busy: m.busy,
      requests: m.requests,
      failures: m.failures,
      bytesSent: m.bytesSent,
      bytesReceived: m.bytesReceived,
      healthCheck: m.config.healthCheck === undefined ? undefined : { passes: m.streaks.passes, fails: m.streaks.fails, last: m.lastCheck }
    }
  }

  #own (d: Routed): RoutedDecision {
    if (!(d instanceof RoutedDecision) || d[kOwner] !== this) {
      throw new TypeError('stickyroute: pass the decision object returned by this balancer\'s select() or failover()')
    }
    return d
  }

  #countFailure (d: RoutedDecision): void {
    this.#release(d)
    d[kState].failures++
  }

  #fail (d: RoutedDecision, reason: StateChangeReason, detail: string | undefined): void {
    this.#countFailure(d)
    this.#setError(d[kState], reason, detail)
  }

  #release (d: RoutedDecision): void {
    if (d[kReleased]) return
    d[kReleased] = true
    const m = d[kState]
    m.busy--
    if (m.removed && m.busy === 0) {
      const resolve = this.#drained.get(m)
      if (resolve !== undefined) {
        this.#drained.delete(m)
        resolve()
      }
    }
  }

  /** Puts `m` in error now (Apache sets `error_time` on every failure), unless it ignores errors. */
  #setError (m: MemberState, reason: StateChangeReason, detail: string | undefined): void {
    if (m.removed || (m.ignoreErrors && reason !== 'operator')) return
    const was = m.errorSince
    m.errorSince = this.options.now()
    if (was !== undefined) return
    this.#errored++
    this.#stale = true
    this.#emitState(m, 'inError', true, reason, detail)
  }

  #clearError (m: MemberState, reason: StateChangeReason): void {
    if (m.errorSince === undefined) return
    m.errorSince = undefined
    this.#errored--
    this.#stale = true
    this.#emitState(m, 'inError', false, reason, undefined)
  }

  #setFlag (m: MemberState, name: keyof MemberFlags | 'healthCheckFailed', value: boolean, reason: StateChangeReason, detail: string | undefined): void {
    if (m[name] === value) return
    m[name] = value
    this.#stale = true
    this.#emitState(m, name, value, reason, detail)
  }

  #emitState (m: MemberState, flag: MemberFlag, value: boolean, reason: StateChangeReason, detail: string | undefined): void {
    const listeners = this.#listeners.state
    if (listeners.length === 0) return
    const event = { member: m.info, flag, value, reason, detail }
    for (const listener of listeners.slice()) listener(event)
  }

  /**
   * Clears the error state of members whose `retry` window has passed (Apache clears it when it
   * looks at the member; looking at all of them at once is the same), then `forcerecovery`.
   */
  #expireErrors (recover = false): void {
    if (this.#errored === 0) return
    const { retryMs } = this.options
    const now = this.options.now()
    for (const m of this.#members) {
      if (m.errorSince !== undefined && now - m.errorSince > retryMs) this.#clearError(m, 'retry-elapsed')
    }
    // Apache `force_recovery`, when a request arrives: only when every member carries the error flag.
    if (recover && this.options.forceRecovery && this.#errored > 0 && this.#errored === this.#members.length) {
      for (const m of this.#members) this.#clearError(m, 'force-recovery')
    }
  }

  #rebuild (): void {
    this.#stale = false
    const byRoute = new Map<string, MemberState[]>()
    // Members sharing a route: the first usable in configured order, hot standbys last (Apache `find_route_worker`).
    for (const standby of [false, true]) {
      for (const m of this.#members) {
        if (m.hotStandby !== standby) continue
        const list = byRoute.get(m.route)
        if (list === undefined) byRoute.set(m.route, [m])
        else list.push(m)
      }
    }
    this.#byRoute = byRoute
    this.#usable = Object.freeze(this.#members.filter(m => m.usable))
    this.#pool = this.#candidates(NONE)
  }

  /**
   * The members a new client may go to, `exclude` left out: per tier in ascending `lbSet`, the
   * normal members that take new clients, else that tier's hot standbys (Apache
   * `ap_proxy_balancer_get_best_worker`); the first non-empty group wins.
   */
  #candidates (exclude: readonly MemberState[]): readonly MemberState[] {
    const tiers = [...new Set(this.#members.map(m => m.lbSet))].sort((a, b) => a - b)
    for (const tier of tiers) {
      for (const standby of [false, true]) {
        const group = this.#members.filter(m => m.lbSet === tier && m.hotStandby === standby && m.takesNewClients && !exclude.includes(m))
        // Frozen: a method of the application cannot reorder what the balancer reuses.
        if (group.length > 0) return Object.freeze(group)
      }
    }
    return NONE
  }

  #decide (session: SessionRoute | undefined, tried: readonly MemberState[], attempt: number, secure: boolean): Decision {
    this.#expireErrors(true)
    if (this.#stale) this.#rebuild()
    const route = session?.route
    // An opaque token that stands for no route counts as an unknown route, as a route naming no member does.
    let reason: RouteChangeReason = attempt > 1 ? 'failover' : route === undefined && session?.token !== 'unknown' ? 'new-client' : 'unknown-route'
    if (route !== undefined) {
      const routed = this.#byRoute.get(route)
      if (routed !== undefined) {
        for (const m of routed) {
          if (m.usable && (tried.length === 0 || !tried.includes(m))) {
            this.#lb.stickyHit?.(m, this.#usable)
            return this.#routed(m, route, session, attempt, tried, secure, reason)
          }
        }
        // The route names a member that cannot serve.
        if (this.options.noFailover) return unavailable('nofailover', session, attempt)
        if (attempt === 1) reason = 'member-unusable'
      }
    }
    const candidates = tried.length === 0 ? this.#pool : this.#candidates(tried)
    if (candidates.length === 0) return unavailable('no-member', session, attempt)
    const picked = this.#lb.pick(candidates)
    if (!this.#trustedLb && !candidates.includes(picked as MemberState)) {
      throw new StickyError('ERR_STICKY_LB_METHOD', `stickyroute: lbMethod ${this.#lb.name}.pick() returned something that is not one of the candidates it was given. Return one of them, unchanged.`)
    }
    return this.#routed(picked as MemberState, route, session, attempt, tried, secure, reason)
  }

  #routed (m: MemberState, clientRoute: string | undefined, session: SessionRoute | undefined, attempt: number,
    tried: readonly MemberState[], secure: boolean, reason: RouteChangeReason): RoutedDecision {
    m.elected++
    m.busy++
    const changed = clientRoute !== m.route
    // A token made with a previous key: same member, but the cookie is re-issued with the current key.
    const rekeyed = !changed && session?.token === 'previous'
    const setCookie = (changed || rekeyed) && m.cookies !== undefined ? m.cookies[secure ? 1 : 0] : undefined
    if (changed && this.#listeners.route.length > 0) {
      const event = { from: clientRoute, to: m.route, member: m.info, reason }
      for (const listener of this.#listeners.route.slice()) listener(event)
    }
    return new RoutedDecision(this, m, changed, setCookie, rekeyed, session, attempt, tried, secure)
  }

  #watch (m: MemberState): void {
    const check = m.config.healthCheck
    if (check === undefined || this.#monitor === undefined || this.#checked.has(m)) return
    const checked = new CheckedMember(m, check)
    this.#checked.set(m, checked)
    this.#monitor.watch(checked)
  }

  #unwatch (m: MemberState): void {
    const checked = this.#checked.get(m)
    if (checked === undefined) return
    this.#checked.delete(m)
    this.#monitor?.unwatch(checked)
  }

  /** Applies one health-check result to the member's streaks and flags. */
  #checkResult (m: MemberState, passed: boolean, detail: string): void {
    const check = m.config.healthCheck as ResolvedHealthCheck // only members with a check are watched
    const s = m.streaks
    m.lastCheck = detail
    if (passed) {
      s.passes++
      s.fails = 0
      if (m.healthCheckFailed) {
        if (s.passes >= check.passes) {
          this.#setFlag(m, 'healthCheckFailed', false, 'health-check-passed', detail)
          this.#clearError(m, 'health-check-passed')
        }
      } else {
        this.#clearError(m, 'health-check-passed')
      }
    } else {
      s.fails++
      s.passes = 0
      if (!m.healthCheckFailed && s.fails >= check.fails) this.#setFlag(m, 'healthCheckFailed', true, 'health-check-failed', detail)
    }
    const listeners = this.#listeners.health
    if (listeners.length === 0) return
    const event = { member: m.info, ok: passed, detail, passes: s.passes, fails: s.fails }
    for (const listener of listeners.slice()) listener(event)
  }
}

/** Validates `options` once and returns the balancer that routes by them. */
export function createBalancer (options: StickyOptions): Balancer {
  return new Balancer(options)
}
