/**
 * The balancer: takes what a request carries and decides which member serves it, whether the
 * route changed, and which balancer cookie to add. Pure: no I/O, no timers; time comes from
 * the injected `now()`.
 *
 * The rules follow Apache's `proxy_balancer_pre_request`, `find_session_route`,
 * `find_route_worker`, `force_recovery` and the `maxattempts` loop of `proxy_handler`.
 */
import { formatRouteCookie } from './cookie.js'
import { isConnectFailure, isTimeout } from './failures.js'
import { byrequests, type LbMethod } from './lbmethods/byrequests.js'
import { MemberState, type StickyMember } from './members.js'
import { isResolvedOptions, resolveOptions, type ResolvedOptions, type StickyOptions } from './options.js'
import { BAD_GATEWAY, GATEWAY_TIMEOUT, SERVICE_UNAVAILABLE, type BalancerResponse } from './responses.js'
import { findSessionRoute, type RouteSource, type SessionRoute } from './route.js'

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
  /** No member is usable (all in error, or all tried). */
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
  /** The `Set-Cookie` value to append after the member's own, or `undefined` (no balancer cookie, or the route did not change). */
  readonly setCookie: string | undefined
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
  /** Send the same request again, to `decision.member` (the new decision replaces the old one). */
  | { readonly action: 'retry', readonly decision: Routed }
  /** Answer with the balancer's own `response` (no balancer cookie); with `close`, also close the client connection (its body was not read). */
  | { readonly action: 'respond', readonly response: BalancerResponse, readonly close: boolean, readonly decision: Decision }

/** What the gateway knows about the failed request. */
export interface UpstreamErrorContext {
  /** `true` when the request can be sent again: it had no body (see `hasRequestBody`) and nothing was answered yet. */
  readonly canRetry: boolean
}

export type Decision = Routed | Unavailable

/** A member's state and counters, for runtime inspection. */
export interface MemberStatus extends StickyMember {
  readonly inError: boolean
  /** When it went into error (ms, from `now()`), if it is in error. */
  readonly errorSince: number | undefined
  readonly elected: number
  readonly busy: number
  readonly failures: number
}

// Internals of a decision live under symbols: JSON.stringify and loggers skip them, so logging
// `request.sticky` shows only the public fields (never the options or the raw session id).
const kOwner = Symbol('owner')
const kState = Symbol('state')
const kTried = Symbol('tried')
const kSecure = Symbol('secure')
const kSession = Symbol('session')
const kReleased = Symbol('released')

class RoutedDecision implements Routed {
  readonly ok = true as const
  readonly member: StickyMember
  readonly route: string
  readonly routeChanged: boolean
  readonly setCookie: string | undefined
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

  constructor (owner: Balancer, state: MemberState, routeChanged: boolean, setCookie: string | undefined, session: SessionRoute | undefined,
    attempt: number, tried: readonly MemberState[], secure: boolean) {
    this.member = state.info
    this.route = state.route
    this.routeChanged = routeChanged
    this.setCookie = setCookie
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

export class Balancer {
  readonly options: ResolvedOptions
  readonly #members: readonly MemberState[]
  readonly #byRoute: ReadonlyMap<string, readonly MemberState[]>
  readonly #lb: LbMethod
  /** Precomputed `Set-Cookie` values per member: [plain HTTP, HTTPS]. */
  readonly #cookies: ReadonlyArray<readonly [string, string]> | undefined

  constructor (options: StickyOptions | ResolvedOptions) {
    this.options = isResolvedOptions(options) ? options : resolveOptions(options)
    const o = this.options
    this.#members = o.members.map((m, i) => new MemberState(m, i))
    const byRoute = new Map<string, MemberState[]>()
    for (const m of this.#members) {
      const list = byRoute.get(m.route)
      if (list === undefined) byRoute.set(m.route, [m])
      else list.push(m)
    }
    this.#byRoute = byRoute
    this.#lb = byrequests
    const cookie = o.routeCookie
    const sep = o.separator ?? ''
    this.#cookies = cookie === undefined
      ? undefined
      : this.#members.map(m => [formatRouteCookie(cookie, sep, m.route, false), formatRouteCookie(cookie, sep, m.route, true)] as const)
  }

  /** Chooses the member for a new request. */
  select (request: RoutingRequest): Decision {
    const o = this.options
    const session = findSessionRoute(request.cookie, request.url, o.session, o.separator)
    return this.#decide(session, [], 1, request.secure === true)
  }

  /**
   * The chosen member could not be connected to: puts it in error for `retry` seconds and
   * chooses another for the same request, up to `maxAttempts` more. Call it only when the
   * request can be sent again (no body consumed); otherwise call {@link markFailed}.
   */
  failover (decision: Routed): Decision {
    const d = this.#own(decision)
    this.#fail(d)
    if (d.attempt > this.options.maxAttempts) return unavailable('max-attempts', d[kSession], d.attempt + 1)
    return this.#decide(d[kSession], [...d[kTried], d[kState]], d.attempt + 1, d[kSecure])
  }

  /**
   * The request to the member failed with `error`: decides what the gateway does, the same way
   * in every adapter. A connect failure puts the member in error; a request that can be sent
   * again goes to another member (`retry`); otherwise the balancer answers itself: 503 when no
   * member is left, 502 when the body could not be replayed or the member failed mid-request,
   * 504 when the member did not answer in time (the member is not marked for a timeout).
   */
  upstreamError (decision: Routed, error: unknown, context: UpstreamErrorContext): UpstreamErrorAction {
    const d = this.#own(decision)
    if (isConnectFailure(error)) {
      if (context.canRetry) {
        const next = this.failover(d)
        return next.ok ? { action: 'retry', decision: next } : { action: 'respond', response: SERVICE_UNAVAILABLE, close: false, decision: next }
      }
      this.#fail(d)
      return { action: 'respond', response: BAD_GATEWAY, close: true, decision: d }
    }
    this.#release(d)
    return { action: 'respond', response: isTimeout(error) ? GATEWAY_TIMEOUT : BAD_GATEWAY, close: false, decision: d }
  }

  /** The chosen member could not be connected to, and the request will not be retried. */
  markFailed (decision: Routed): void {
    this.#fail(this.#own(decision))
  }

  /** The request is over (answered, failed or aborted). Safe to call more than once. */
  finished (decision: Decision): void {
    if (decision.ok) this.#release(this.#own(decision))
  }

  /** The members with their state and counters, in configured order. */
  members (): MemberStatus[] {
    const { now, retryMs } = this.options
    const at = now()
    return this.#members.map(m => ({
      ...m.info,
      inError: !m.isUsable(at, retryMs),
      errorSince: m.errorSince,
      elected: m.counters.elected,
      busy: m.counters.busy,
      failures: m.counters.failures
    }))
  }

  #own (d: Routed): RoutedDecision {
    if (!(d instanceof RoutedDecision) || d[kOwner] !== this) {
      throw new TypeError('stickyroute: pass the decision object returned by this balancer\'s select() or failover()')
    }
    return d
  }

  #fail (d: RoutedDecision): void {
    this.#release(d)
    d[kState].markFailed(this.options.now())
  }

  #release (d: RoutedDecision): void {
    if (d[kReleased]) return
    d[kReleased] = true
    d[kState].counters.busy--
  }

  #decide (session: SessionRoute | undefined, tried: readonly MemberState[], attempt: number, secure: boolean): Decision {
    const o = this.options
    const now = o.now()
    this.#forceRecovery(now)
    const route = session?.route
    if (route !== undefined) {
      const routed = this.#byRoute.get(route)
      if (routed !== undefined) {
        for (const m of routed) {
          if (!tried.includes(m) && m.isUsable(now, o.retryMs)) {
            this.#lb.stickyHit?.(m, this.#usable(now))
            return this.#routed(m, route, session, attempt, tried, secure)
          }
        }
        // The route names a member that cannot serve.
        if (o.noFailover) return unavailable('nofailover', session, attempt)
      }
    }
    const candidates = this.#usable(now, tried)
    if (candidates.length === 0) return unavailable('no-member', session, attempt)
    return this.#routed(this.#lb.pick(candidates), route, session, attempt, tried, secure)
  }

  #routed (m: MemberState, clientRoute: string | undefined, session: SessionRoute | undefined, attempt: number,
    tried: readonly MemberState[], secure: boolean): RoutedDecision {
    m.counters.elected++
    m.counters.busy++
    const changed = clientRoute !== m.route
    const setCookie = changed && this.#cookies !== undefined ? this.#cookies[m.index]?.[secure ? 1 : 0] : undefined
    return new RoutedDecision(this, m, changed, setCookie, session, attempt, tried, secure)
  }

  #usable (now: number, exclude: readonly MemberState[] = []): MemberState[] {
    const out: MemberState[] = []
    for (const m of this.#members) {
      if (m.isUsable(now, this.options.retryMs) && !exclude.includes(m)) out.push(m)
    }
    return out
  }

  /** Apache `forcerecovery`: when every member is in error (after `retry`), put them all back. */
  #forceRecovery (now: number): void {
    if (!this.options.forceRecovery) return
    for (const m of this.#members) {
      if (m.isUsable(now, this.options.retryMs)) return
    }
    for (const m of this.#members) m.errorSince = undefined
  }
}

/** Validates `options` once and returns the balancer that routes by them. */
export function createBalancer (options: StickyOptions): Balancer {
  return new Balancer(options)
}
