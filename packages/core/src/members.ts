/**
 * A member's runtime state: Apache's status flags with readable names, its weight and tier,
 * the load-balancing accounting, the counters, and the health-check streaks.
 *
 * | flag               | Apache | set by                     | new clients | its sticky clients |
 * |--------------------|--------|----------------------------|-------------|--------------------|
 * | `disabled`         | `D`    | the operator               | no          | fail over          |
 * | `stopped`          | `S`    | the operator               | no          | fail over          |
 * | `inError`          | `E`    | failures, cleared after `retry` or by a passing check | no | fail over |
 * | `healthCheckFailed`| `C`    | active health checks       | no          | fail over          |
 * | `draining`         | `N`    | the operator               | no          | kept               |
 * | `hotStandby`       | `H`    | the operator               | only when no normal member of its tier takes them (all down, disabled or draining) | kept |
 * | `ignoreErrors`     | `I`    | the operator               | failures never put it in error              |    |
 *
 * `disabled` and `stopped` differ in one point only: health checks keep probing a disabled
 * member (so the operator sees when it is healthy again) and leave a stopped one alone.
 */
import type { ResolvedMember } from './options.js'

/** The flags an operator sets and clears (Apache `status=+X` / balancer-manager). */
export interface MemberFlags {
  /** `D`: takes no requests; health checks still probe it. */
  disabled: boolean
  /** `N`: takes no new clients, keeps serving clients whose route names it. */
  draining: boolean
  /** `H`: takes new clients only when no normal member of its `lbSet` takes them. */
  hotStandby: boolean
  /** `S`: takes no requests, not health-checked, never retried automatically. */
  stopped: boolean
  /** `I`: failures (connect, `failOnStatus`, `failOnTimeout`) never put it in error. */
  ignoreErrors: boolean
}

/** Every state flag: the operator's, plus the two the balancer sets itself. */
export interface MemberStateFlags extends MemberFlags {
  /** `E`: a request to it failed; skipped for `retry` seconds. */
  inError: boolean
  /** `C`: active health checks failed `fails` times in a row; back after `passes` passes in a row. */
  healthCheckFailed: boolean
}

/** The name of a state flag. */
export type MemberFlag = keyof MemberStateFlags

/** Apache's status letters, in the order Apache prints them. */
export const STATUS_LETTERS: Readonly<Record<MemberFlag, string>> = Object.freeze({
  ignoreErrors: 'I',
  draining: 'N',
  disabled: 'D',
  stopped: 'S',
  hotStandby: 'H',
  inError: 'E',
  healthCheckFailed: 'C'
})

/** A member as the application sees it (on `request.sticky.member`). */
export interface StickyMember {
  /** Origin the member is reached at. */
  readonly url: string
  /** The member's route name. */
  readonly route: string
  /** Position in the balancer's member list (it moves when members are added or removed). */
  readonly index: number
  /** Relative weight (Apache `loadfactor`). */
  readonly loadFactor: number
  /** Tier (Apache `lbset`): lower tiers take new clients first. */
  readonly lbSet: number
}

/** Counters kept per member (Apache's balancer-manager columns). */
export interface MemberCounters {
  /** Times chosen, for a sticky hit, a new client or a failover attempt (Apache "Elected"). */
  readonly elected: number
  /** Requests (and open WebSocket connections) sent to it and not finished yet (Apache "Busy"). */
  readonly busy: number
  /** Requests it answered (its own response reached the client). */
  readonly requests: number
  /** Failures: connect failures, timeouts and `failOnStatus` answers. */
  readonly failures: number
  /** Bytes sent to it: the requests it was given, as read from the clients (Apache "To"). */
  readonly bytesSent: number
  /** Bytes received from it: its answers, as written to the clients (Apache "From"). */
  readonly bytesReceived: number
}

/** What a load-balancing method sees of a member: who it is, and its counters. */
export interface LbCandidate extends StickyMember, MemberCounters {}

/** Health-check streaks of a member. */
interface Streaks {
  passes: number
  fails: number
}

export class MemberState implements LbCandidate {
  readonly url: string
  route: string
  index: number
  loadFactor: number
  /** Integer weight used by the byrequests arithmetic (Apache stores lbfactor * 100 too). */
  lbFactor: number
  lbSet: number
  /** byrequests running score (Apache `lbstatus`); also breaks bybusyness ties. */
  lbStatus = 0
  /** Time (ms) the member went into error, or `undefined` when it is not in error. */
  errorSince: number | undefined = undefined
  disabled: boolean
  draining: boolean
  hotStandby: boolean
  stopped: boolean
  ignoreErrors: boolean
  healthCheckFailed = false
  readonly streaks: Streaks = { passes: 0, fails: 0 }
  /** The last health-check result, e.g. `'status 200'`. */
  lastCheck: string | undefined = undefined
  /** Response timeout of this member in ms, or `undefined` for the balancer's. */
  readonly timeoutMs: number | undefined
  readonly config: ResolvedMember
  elected = 0
  busy = 0
  requests = 0
  failures = 0
  bytesSent = 0
  bytesReceived = 0
  /** Precomputed `Set-Cookie` values for this member's route: [plain HTTP, HTTPS]. */
  cookies: readonly [string, string] | undefined = undefined
  /** The read-only view handed to applications (one frozen object, replaced when the member changes). */
  info: StickyMember
  /** Set once the member was removed from its balancer. */
  removed = false

  constructor (member: ResolvedMember, index: number) {
    this.config = member
    this.url = member.url
    this.route = member.route
    this.index = index
    this.loadFactor = member.loadFactor
    this.lbFactor = Math.round(member.loadFactor * 100)
    this.lbSet = member.lbSet
    this.disabled = member.disabled
    this.draining = member.draining
    this.hotStandby = member.hotStandby
    this.stopped = member.stopped
    this.ignoreErrors = member.ignoreErrors
    this.timeoutMs = member.timeoutMs
    this.info = this.#freeze()
  }

  get inError (): boolean {
    return this.errorSince !== undefined
  }

  /** Can serve a client whose route names it: not disabled, stopped, in error or failing its health check (Apache `PROXY_WORKER_IS_USABLE`). */
  get usable (): boolean {
    return !this.disabled && !this.stopped && this.errorSince === undefined && !this.healthCheckFailed
  }

  /** Can take a new client: usable and not draining (standby is decided by the caller, per tier). */
  get takesNewClients (): boolean {
    return this.usable && !this.draining
  }

  /** Refreshes `info` after the route, weight, tier or position changed. */
  refresh (): void {
    this.lbFactor = Math.round(this.loadFactor * 100)
    this.info = this.#freeze()
  }

  #freeze (): StickyMember {
    return Object.freeze({ url: this.url, route: this.route, index: this.index, loadFactor: this.loadFactor, lbSet: this.lbSet })
  }
}

/**
 * Reads Apache status letters (`'+H'`, `'+N+D'`, `'D'`, `'-S'`: the signs are accepted and `-`
 * clears) into member flags, for configuration strings such as the examples' `STICKY_STATUS`.
 * Letters: `D` disabled, `N` draining, `H` hotStandby, `S` stopped, `I` ignoreErrors. Returns
 * `undefined` when the text has any other character.
 */
export function parseStatusLetters (text: string): Partial<MemberFlags> | undefined {
  const out: Partial<MemberFlags> = {}
  let on = true
  if (text === '') return undefined
  for (const c of text) {
    if (c === '+') { on = true; continue }
    if (c === '-') { on = false; continue }
    const name = LETTER_FLAGS[c]
    if (name === undefined) return undefined
    out[name] = on
  }
  return out
}

const LETTER_FLAGS: Readonly<Record<string, keyof MemberFlags>> = Object.freeze({
  D: 'disabled', N: 'draining', H: 'hotStandby', S: 'stopped', I: 'ignoreErrors'
})

/** The flags of `m` that are set, as Apache status letters (`'Ok'` when none is). */
export function statusLetters (flags: MemberStateFlags): string {
  let out = ''
  for (const [name, letter] of Object.entries(STATUS_LETTERS) as Array<[MemberFlag, string]>) {
    if (flags[name]) out += letter
  }
  return out === '' ? 'Ok' : out
}
