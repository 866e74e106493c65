/**
 * The part of autocannon 9's programmatic API the bench uses (the package ships no types).
 * See node_modules/autocannon/README.md, "API".
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  namespace autocannon {
    /** A request as autocannon builds it; `setupRequest` returns a changed copy. */
    interface Request {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string | Buffer
      setupRequest?: (request: Request, context: Record<string, unknown>) => Request | undefined
    }

    interface Options {
      url: string
      connections?: number
      /** Seconds. */
      duration?: number
      /** Stop after this many requests (takes precedence over `duration`). */
      amount?: number
      pipelining?: number
      /** Seconds before a request counts as timed out. */
      timeout?: number
      method?: string
      headers?: Record<string, string>
      requests?: Request[]
      title?: string
    }

    /** An hdr-histogram-percentiles-obj summary. */
    interface Histogram {
      average: number
      mean: number
      stddev: number
      min: number
      max: number
      total: number
      p50: number
      p99: number
    }

    interface Result {
      duration: number
      errors: number
      timeouts: number
      non2xx: number
      requests: Histogram & { sent: number }
      latency: Histogram
      throughput: Histogram
    }

    /** The running benchmark: emits `response` (client, statusCode, bytes, responseTime in ms) for every answer. */
    interface Instance extends EventEmitter {
      stop: () => void
    }
  }

  function autocannon (options: autocannon.Options, callback: (error: Error | null, result: autocannon.Result) => void): autocannon.Instance

  export = autocannon
}
