/**
 * Active health checks (Apache mod_proxy_hcheck), without I/O: the balancer gives the monitor
 * a probe (the network part, `@stickyroute/core/node` has the Node one) and timers. One loop per
 * member: probe, judge, wait `interval`, again. Members are probed in parallel, and a slow probe
 * delays only its own member's next check. Nothing here ever blocks a request.
 *
 * Counts are consecutive (HAProxy `rise`/`fall`), where Apache counts cumulatively and so lets a
 * flapping member flap: `fails` failed checks in a row take a member out (`healthCheckFailed`),
 * `passes` passed checks in a row bring it back. A passed check also clears the error state.
 */
import type { HealthCheckMethod, HealthCheckResponse, ResolvedHealthCheck } from './options.js'

/** What the probe is asked to check. */
export interface HealthProbeTarget {
  /** The member's origin, `http://host:port`. */
  readonly url: string
  readonly method: HealthCheckMethod
  /** Path and query, e.g. `/health`. */
  readonly uri: string
  /** Give up after this many ms. */
  readonly timeoutMs: number
  /** Read the body (up to 64 KiB): only when a function judges the response. */
  readonly readBody: boolean
}

/** What the probe saw: a response (HTTP methods), a connection (`TCP`), or an error. */
export type HealthProbeResult =
  | { readonly response: HealthCheckResponse, readonly error?: undefined }
  | { readonly connected: true, readonly response?: undefined, readonly error?: undefined }
  | { readonly error: string, readonly response?: undefined }

/** Does the network part of a check. Resolves, never rejects; honours `signal` and `target.timeoutMs`. */
export type HealthProbe = (target: HealthProbeTarget, signal: AbortSignal) => Promise<HealthProbeResult>

/** Timers, injected so the core stays free of them (and tests can drive them). */
export interface Timers {
  setTimeout: (callback: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
}

/** The I/O a balancer needs to run health checks. */
export interface HealthIo {
  readonly probe: HealthProbe
  readonly timers: Timers
}

/** Judges a probe result against the member's check: `[passed, detail]`. */
export function judge (check: ResolvedHealthCheck, result: HealthProbeResult): [boolean, string] {
  if (result.error !== undefined) return [false, result.error]
  if (result.response === undefined) return [true, 'connected']
  const { status } = result.response
  let ok: boolean
  try {
    ok = check.expect(result.response) === true
  } catch (err) {
    return [false, `status ${status}, expect threw: ${err instanceof Error ? err.message : String(err)}`]
  }
  return [ok, `status ${status}${ok ? '' : ' not expected'}`]
}

/** The part of a member the monitor reads and updates. */
export interface Checked {
  readonly check: ResolvedHealthCheck
  readonly url: string
  /** `true` while the member must not be probed (stopped). */
  readonly paused: boolean
}

/** One member's check loop. */
class Loop {
  timer: unknown = undefined
  controller: AbortController | undefined = undefined
  running: Promise<void> | undefined = undefined
  done = false

  constructor (readonly member: Checked) {}
}

/**
 * Runs the check loops. `onResult` is called with each judged result (the balancer applies it
 * to the member's streaks and flags).
 */
export class HealthMonitor {
  readonly #io: HealthIo
  readonly #onResult: (member: Checked, passed: boolean, detail: string) => void
  readonly #loops = new Map<Checked, Loop>()
  #closed = false

  constructor (io: HealthIo, onResult: (member: Checked, passed: boolean, detail: string) => void) {
    this.#io = io
    this.#onResult = onResult
  }

  /** Starts checking `member`: the first check right away, then every `interval`. */
  watch (member: Checked): void {
    if (this.#closed || this.#loops.has(member)) return
    const loop = new Loop(member)
    this.#loops.set(member, loop)
    this.#schedule(loop, 0)
  }

  /** Stops checking `member` (removed from the balancer); a check under way is aborted. */
  unwatch (member: Checked): void {
    const loop = this.#loops.get(member)
    if (loop === undefined) return
    this.#loops.delete(member)
    this.#end(loop)
  }

  /** Stops every loop, aborts the checks under way, and resolves once they have settled. */
  async close (): Promise<void> {
    this.#closed = true
    const running: Array<Promise<void>> = []
    for (const loop of this.#loops.values()) {
      this.#end(loop)
      if (loop.running !== undefined) running.push(loop.running)
    }
    this.#loops.clear()
    await Promise.all(running)
  }

  #end (loop: Loop): void {
    loop.done = true
    if (loop.timer !== undefined) this.#io.timers.clearTimeout(loop.timer)
    loop.timer = undefined
    loop.controller?.abort()
  }

  #schedule (loop: Loop, ms: number): void {
    loop.timer = this.#io.timers.setTimeout(() => {
      loop.timer = undefined
      loop.running = this.#run(loop)
    }, ms)
  }

  async #run (loop: Loop): Promise<void> {
    const { member } = loop
    const { check } = member
    if (!member.paused) {
      const controller = new AbortController()
      loop.controller = controller
      const target: HealthProbeTarget = { url: member.url, method: check.method, uri: check.uri, timeoutMs: check.timeoutMs, readBody: check.readBody }
      // The probe honours the timeout itself; this timer is the backstop for one that does not.
      const backstop = this.#io.timers.setTimeout(() => controller.abort(), check.timeoutMs + 1000)
      let result: HealthProbeResult
      try {
        result = await this.#io.probe(target, controller.signal)
      } catch (err) {
        result = { error: err instanceof Error ? err.message : String(err) }
      } finally {
        this.#io.timers.clearTimeout(backstop)
        loop.controller = undefined
      }
      if (loop.done) return
      const [passed, detail] = judge(check, result)
      this.#onResult(member, passed, detail)
    }
    loop.running = undefined
    if (!loop.done) this.#schedule(loop, check.intervalMs)
  }
}
