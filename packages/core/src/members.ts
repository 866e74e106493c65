/**
 * A member's runtime state. Today: the error state (Apache `+E`) with its `retry` window, the
 * byrequests accounting field, and the counters. The other Apache states (drain, standby,
 * disabled, stopped, health-check failed) are added here, as flags checked by `isUsable`.
 */
import type { ResolvedMember } from './options.js'

/** A member as the application sees it (on `request.sticky.member`). */
export interface StickyMember {
  /** Origin the member is reached at. */
  readonly url: string
  /** The member's route name. */
  readonly route: string
  /** Position in the configured `members` list. */
  readonly index: number
  /** Relative weight (Apache `loadfactor`). */
  readonly loadFactor: number
}

/** Counters kept per member (Apache's balancer-manager columns). */
export interface MemberCounters {
  /** Times chosen, for a sticky hit, a new client or a failover attempt (Apache "Elected"). */
  elected: number
  /** Requests sent to it and not yet finished (Apache "Busy"). */
  busy: number
  /** Connect failures seen (Apache "Failures"... counted per failed attempt). */
  failures: number
}

export class MemberState implements StickyMember {
  readonly url: string
  readonly route: string
  readonly index: number
  readonly loadFactor: number
  /** Integer weight used by the byrequests arithmetic (Apache stores lbfactor * 100 too). */
  readonly lbFactor: number
  /** byrequests running score (Apache `lbstatus`). */
  lbStatus = 0
  /** Time (ms) the member went into error, or `undefined` when it is not in error. */
  errorSince: number | undefined = undefined
  readonly counters: MemberCounters = { elected: 0, busy: 0, failures: 0 }
  /** The read-only view handed to applications (one frozen object per member). */
  readonly info: StickyMember

  constructor (member: ResolvedMember, index: number) {
    this.url = member.url
    this.route = member.route
    this.index = index
    this.loadFactor = member.loadFactor
    this.lbFactor = Math.round(member.loadFactor * 100)
    this.info = Object.freeze({ url: this.url, route: this.route, index, loadFactor: this.loadFactor })
  }

  /**
   * Usable for a request at `now`: not in error, or in error for more than `retryMs` (then the
   * error is cleared, as Apache's `ap_proxy_retry_worker` does when it looks at a member:
   * `now > error_time + retry`).
   */
  isUsable (now: number, retryMs: number): boolean {
    if (this.errorSince === undefined) return true
    if (now - this.errorSince > retryMs) {
      this.errorSince = undefined
      return true
    }
    return false
  }

  /** Puts the member in error at `now` (a connect failure). */
  markFailed (now: number): void {
    this.errorSince = now
    this.counters.failures++
  }
}
