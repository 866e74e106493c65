/**
 * The load generator: autocannon, in this process (pinned next to the upstreams), with latency
 * taken from every response at sub-millisecond resolution (autocannon's own histogram keeps
 * whole milliseconds, too coarse for a 10 % p99 comparison at a few ms).
 */
import autocannon from 'autocannon'
import { percentile, Samples } from './stats.js'

export interface LoadOptions {
  /** Origin and path, e.g. `http://127.0.0.1:1234/`. */
  url: string
  connections: number
  /** Seconds; ignored when `amount` is set. */
  duration?: number
  /** Stop after this many requests. */
  amount?: number
  /** Request headers of every request (e.g. the route cookie). */
  headers?: Record<string, string>
  /** Requests to cycle through, per connection, instead of one fixed request. */
  requests?: autocannon.Request[]
}

export interface LoadResult {
  /** Answers received. */
  readonly requests: number
  /** Requests per second over the run. */
  readonly rps: number
  /** Latency percentiles, ms. */
  readonly p50: number
  readonly p99: number
  /** Connection errors, timeouts and non-2xx answers: all should be 0. */
  readonly errors: number
  readonly timeouts: number
  readonly non2xx: number
  /** Seconds the run took. */
  readonly seconds: number
}

export async function load (options: LoadOptions): Promise<LoadResult> {
  const latencies = new Samples()
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: options.url,
      connections: options.connections,
      ...(options.amount === undefined ? { duration: options.duration ?? 5 } : { amount: options.amount }),
      headers: options.headers ?? {},
      ...(options.requests === undefined ? {} : { requests: options.requests }),
      timeout: 10
    }, (error, res) => {
      if (error !== null) reject(error)
      else resolve(res)
    })
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      latencies.add(responseTime)
    })
  })
  const sorted = latencies.sorted()
  const answered = result.requests.total
  return {
    requests: answered,
    rps: result.duration > 0 ? answered / result.duration : 0,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    seconds: result.duration
  }
}
