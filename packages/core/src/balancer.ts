/**
 * The balancer: takes what a request carries and decides which member serves it, whether the
 * route changed, and which balancer cookie to add. Pure: no I/O, no timers; time comes from
 * the injected `now()`.
 *
 * The rules follow Apache's `proxy_balancer_pre_request`, `find_session_route`,
 * `find_route_worker`, `force_recovery` and the `maxattempts` loop of `proxy_handler`.
 */
import { formatRouteCookie } from './cookie.js'
import { byrequests, type LbMethod } from './lbmethods/byrequests.js'
import { MemberState, type StickyMember } from './members.js'
import { isResolvedOptions, resolveOptions, type ResolvedOptions, type StickyOptions } from './options.js'
import { findSessionRoute, type SessionRoute } from './route.js'

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
  /** The session id the client presented, and where it came from. */
  readonly session: SessionRoute | undefined
  /** 1 for the first member tried, 2 after one failover, ... */
  readonly attempt: number
}

/** No member can serve: answer `status` yourself, without a balancer cookie. */
export interface Unavailable {
  readonly ok: false
  readonly status: 503
  readonly reason: UnavailableReason
  readonly session: SessionRoute | undefined
  readonly attempt: number
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

/** Internal bookkeeping of a routed decision. */
class RoutedDecision implements Routed {
  readonly ok = true as const
  readonly member: StickyMember
  readonly route: string
  readonly routeChanged: boolean
  readonly setCookie: string | undefined
  readonly session: SessionRoute | undefined
  readonly attempt: number
  /** @internal */
  readonly state: MemberState
  /** @internal members tried by earlier attempts of the same request */
  readonly tried: readonly MemberState[]
  /** @internal */
  readonly secure: boolean
  /** @internal the balancer that made it */
  readonly owner: Balancer
  /** @internal */
  released = false

  constructor (owner: Balancer, state: MemberState, routeChanged: boolean, setCookie: string | undefined, session: SessionRoute | undefined,
    attempt: number, tried: readonly MemberState[], secure: boolean) {
    this.owner = owner
    this.state = state
    this.member = state.view()
    this.route = state.route
    this.routeChanged = routeChanged
    this.setCookie = setCookie
    this.session = session
    this.attempt = attempt
    this.tried = tried
    this.secure = secure
  }
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
    const tried = [...d.tried, d.state]
    if (d.attempt > this.options.maxAttempts) {
      return { ok: false, status: 503, reason: 'no-member', session: d.session, attempt: d.attempt + 1 }
    }
    return this.#decide(d.session, tried, d.attempt + 1, d.secure)
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
    return this.#members.map(m => ({
      ...m.view(),
      inError: m.inError,
      errorSince: m.errorSince,
      elected: m.counters.elected,
      busy: m.counters.busy,
      failures: m.counters.failures
    }))
  }

  #own (d: Routed): RoutedDecision {
    if (!(d instanceof RoutedDecision) || d.owner !== this) {
      throw new TypeError('stickyroute: pass the decision object returned by this balancer\'s select() or failover()')
    }
    return d
  }

  #fail (d: RoutedDecision): void {
    this.#release(d)
    d.state.markFailed(this.options.now())
  }

  #release (d: RoutedDecision): void {
    if (d.released) return
    d.released = true
    d.state.counters.busy--
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
        if (o.noFailover) return { ok: false, status: 503, reason: 'nofailover', session, attempt }
      }
    }
    const candidates = this.#usable(now, tried)
    if (candidates.length === 0) return { ok: false, status: 503, reason: 'no-member', session, attempt }
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
