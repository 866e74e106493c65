/**
 * What the balancer tells the application: member state changes, clients re-pinned, health-check
 * results. A listener is called synchronously, on the request or check that caused the event; it
 * must not throw. Nothing is built for an event nobody listens to, so normal requests cost nothing.
 */
import type { MemberFlag, StickyMember } from './members.js'

/** Why a member's state changed. */
export type StateChangeReason =
  /** A connection to it failed. */
  | 'connect-failure'
  /** It answered a status listed in `failOnStatus`. */
  | 'fail-on-status'
  /** It did not answer within its `timeout` (with `failOnTimeout`). */
  | 'timeout'
  /** Its `retry` window passed. */
  | 'retry-elapsed'
  /** Every member was in error: all were put back (`forceRecovery`). */
  | 'force-recovery'
  /** Active health checks failed `fails` times in a row. */
  | 'health-check-failed'
  /** Active health checks passed (`passes` times in a row when it had failed them). */
  | 'health-check-passed'
  /** The operator (`balancer.set()`), or health checks stopped by `close()`. */
  | 'operator'

/** A member's flag was set or cleared. */
export interface StateEvent {
  readonly member: StickyMember
  readonly flag: MemberFlag
  readonly value: boolean
  readonly reason: StateChangeReason
  /** More about the reason: the status, the error code, the health-check detail. */
  readonly detail: string | undefined
}

/** Why a client was given another route (Apache `BALANCER_ROUTE_CHANGED`). */
export type RouteChangeReason =
  /** The client presented no route. */
  | 'new-client'
  /** Its route names no member. */
  | 'unknown-route'
  /** Its route names a member that cannot serve (down, disabled, stopped, failing its checks). */
  | 'member-unusable'
  /** Its member failed during this request; the request went to another one. */
  | 'failover'

/** A client was pinned to a member other than the one its route named (or had none). */
export interface RouteEvent {
  /** The route the client presented, if any. */
  readonly from: string | undefined
  readonly to: string
  readonly member: StickyMember
  readonly reason: RouteChangeReason
}

/** One active health check's result. */
export interface HealthEvent {
  readonly member: StickyMember
  readonly ok: boolean
  /** `'status 200'`, `'connected'`, `'ECONNREFUSED'`, `'timeout after 5000 ms'`, ... */
  readonly detail: string
  /** Consecutive passes and fails so far, this one included. */
  readonly passes: number
  readonly fails: number
}

/** The events a balancer emits, and their listeners. */
export interface BalancerEvents {
  state: (event: StateEvent) => void
  route: (event: RouteEvent) => void
  health: (event: HealthEvent) => void
}

export type BalancerEventName = keyof BalancerEvents

/** Listener lists by event name: the smallest emitter that does the job. */
export class Listeners {
  readonly state: Array<BalancerEvents['state']> = []
  readonly route: Array<BalancerEvents['route']> = []
  readonly health: Array<BalancerEvents['health']> = []

  add<K extends BalancerEventName> (name: K, listener: BalancerEvents[K]): void {
    (this[name] as Array<BalancerEvents[K]>).push(listener)
  }

  remove<K extends BalancerEventName> (name: K, listener: BalancerEvents[K]): void {
    const list = this[name] as Array<BalancerEvents[K]>
    const i = list.indexOf(listener)
    if (i !== -1) list.splice(i, 1)
  }
}

/** A pino-style logger: `logger.info(object, message)`. `debug` is optional. */
export interface StickyLogger {
  debug?: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
}

/** The flags whose setting takes a member out of service: logged as warnings. */
const OUT_OF_SERVICE: ReadonlySet<MemberFlag> = new Set(['inError', 'healthCheckFailed', 'disabled', 'stopped'])

interface EventSource {
  on: <K extends BalancerEventName>(name: K, listener: BalancerEvents[K]) => unknown
}

/**
 * Logs a balancer's events the same way in every adapter: a member going out of service at
 * `warn`, other state changes and re-pinned clients at `info`, new clients and health-check
 * results at `debug`. A normal sticky request logs nothing.
 */
export function logEvents (balancer: EventSource, logger: StickyLogger): void {
  balancer.on('state', e => {
    const line = { stickyroute: 'state', route: e.member.route, url: e.member.url, flag: e.flag, value: e.value, reason: e.reason, detail: e.detail }
    const msg = `stickyroute: member ${e.member.route} (${e.member.url}) ${e.value ? 'is now' : 'is no longer'} ${e.flag}: ${e.reason}${e.detail === undefined ? '' : ` (${e.detail})`}`
    if (e.value && OUT_OF_SERVICE.has(e.flag)) logger.warn(line, msg)
    else logger.info(line, msg)
  })
  balancer.on('route', e => {
    const line = { stickyroute: 'route', from: e.from, to: e.to, url: e.member.url, reason: e.reason }
    const msg = `stickyroute: client ${e.from === undefined ? 'without a route' : `of route ${e.from}`} pinned to ${e.to}: ${e.reason}`
    if (e.reason === 'new-client') logger.debug?.(line, msg)
    else logger.info(line, msg)
  })
  balancer.on('health', e => {
    logger.debug?.({ stickyroute: 'health', route: e.member.route, url: e.member.url, ok: e.ok, detail: e.detail, passes: e.passes, fails: e.fails },
      `stickyroute: health check of ${e.member.route} ${e.ok ? 'passed' : 'failed'}: ${e.detail}`)
  })
}
