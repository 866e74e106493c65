/**
 * Core microbenchmark: route extraction and member choice, `balancer.select({ cookie, url })`
 * followed by `balancer.finished(decision)`, for a realistic Cookie header (10 cookies, about
 * 600 bytes) with the route cookie first, in the middle, last, or absent (a new client).
 *
 * Reports ns per request (median of batches timed with process.hrtime.bigint, with min and max)
 * and the bytes allocated per request on the V8 young generation.
 *
 * Runs on its own (`node --conditions=@stickyroute/source --import tsx bench/core.ts`, prints a
 * table) or as a child of bench/run.ts (pinned to the proxy core; sends its result over IPC).
 */
import { createBalancer, type Balancer } from '@stickyroute/core'
import { pathToFileURL } from 'node:url'
import { getHeapSpaceStatistics } from 'node:v8'
import type { ChildMessage } from './ipc.js'
import { spread, type Spread } from './stats.js'

export const CORE_POSITIONS = ['first', 'middle', 'last', 'absent'] as const
export type CorePosition = typeof CORE_POSITIONS[number]

export interface CoreCase {
  readonly position: CorePosition
  /** Length of the Cookie header, bytes. */
  readonly headerBytes: number
  readonly cookies: number
  /** ns per request over the batches. */
  readonly ns: Spread
  /** Bytes allocated per request (young generation), median over samples. */
  readonly bytesPerRequest: number
}

export interface CoreResult {
  readonly batches: number
  readonly batchSize: number
  readonly url: string
  readonly cases: readonly CoreCase[]
}

const ROUTE_COOKIE = 'ROUTEID'
const URL_PATH = '/app/orders/12345?page=2&sort=desc'

/** Nine cookies a real site sends along (analytics, session, CSRF, preferences, consent). */
const OTHER_COOKIES = [
  '_ga=GA1.2.1180245563.1717171717',
  '_gid=GA1.2.2098765432.1717171717',
  '_fbp=fb.1.1717171717171.1234567890',
  'session=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
  'csrftoken=Xk2pQ8vLmN4rT7wY1zA3bC6dE9fG0hJ5uV8sR2qP4oN6mL1kJ3iH5g',
  'theme=dark',
  'lang=en-US',
  'consent=%7B%22necessary%22%3Atrue%2C%22analytics%22%3Atrue%2C%22marketing%22%3Afalse%2C%22ts%22%3A1717171717%7D',
  'recently_viewed=sku-48213%2Csku-99102%2Csku-10477%2Csku-55120%2Csku-73008%2Csku-20931%2Csku-66754%2Csku-31890%2Csku-84412%2Csku-12097%2Csku-90311%2Csku-40425%2Csku-61290%2Csku-38844%2Csku-72215%2Csku-19058'
]
/** Takes the route cookie's place when it is absent, so every header has 10 cookies. */
const FILLER_COOKIE = 'tz=Europe%2FParis'

/** The Cookie header for a position of the route cookie `ROUTEID=.b`. */
export function cookieHeader (position: CorePosition): string {
  const route = `${ROUTE_COOKIE}=.b`
  const others = [...OTHER_COOKIES]
  const middle = others.length >> 1
  switch (position) {
    case 'first': return [route, ...others].join('; ')
    case 'middle': return [...others.slice(0, middle), route, ...others.slice(middle)].join('; ')
    case 'last': return [...others, route].join('; ')
    case 'absent': return [...others.slice(0, middle), FILLER_COOKIE, ...others.slice(middle)].join('; ')
  }
}

function newBalancer (): Balancer {
  return createBalancer({
    members: [
      { url: 'http://127.0.0.1:8081', route: 'a' },
      { url: 'http://127.0.0.1:8082', route: 'b' },
      { url: 'http://127.0.0.1:8083', route: 'c' }
    ],
    routeCookie: ROUTE_COOKIE
  })
}

/** Keeps the results alive so the loop is not optimized away. */
let sink = 0

function run (balancer: Balancer, cookie: string, n: number): void {
  for (let i = 0; i < n; i++) {
    const decision = balancer.select({ cookie, url: URL_PATH })
    if (decision.ok) sink += decision.attempt
    balancer.finished(decision)
  }
}

function timeBatch (balancer: Balancer, cookie: string, n: number): number {
  const start = process.hrtime.bigint()
  run(balancer, cookie, n)
  return Number(process.hrtime.bigint() - start) / n
}

function newSpaceUsed (): number {
  return getHeapSpaceStatistics().find(s => s.space_name === 'new_space')?.space_used_size ?? 0
}

/**
 * Bytes allocated per request: growth of the young generation over a batch too small to
 * trigger a scavenge, minus the growth of an empty batch (the measurement's own allocation).
 * Samples where a scavenge happened (the space shrank) are dropped.
 */
function bytesPerRequest (balancer: Balancer, cookie: string): number {
  const n = 500
  const samples: number[] = []
  for (let s = 0; s < 40; s++) {
    const before0 = newSpaceUsed()
    run(balancer, cookie, 0)
    const empty = newSpaceUsed() - before0
    const before = newSpaceUsed()
    run(balancer, cookie, n)
    const grown = newSpaceUsed() - before
    if (empty >= 0 && grown >= empty) samples.push((grown - empty) / n)
  }
  return spread(samples).median
}

export function runCoreBench ({ batches = 21, batchSize = 100_000, warmup = 300_000 } = {}): CoreResult {
  const balancer = newBalancer()
  const headers = new Map(CORE_POSITIONS.map(p => [p, cookieHeader(p)] as const))
  // Warm every path up first, so the JIT has seen all four before any batch is timed.
  for (const cookie of headers.values()) run(balancer, cookie, warmup)
  const timings = new Map<CorePosition, number[]>(CORE_POSITIONS.map(p => [p, []]))
  // Interleave the positions batch by batch, so drift (frequency, neighbours) hits all equally.
  for (let b = 0; b < batches; b++) {
    for (const position of CORE_POSITIONS) {
      timings.get(position)?.push(timeBatch(balancer, headers.get(position) as string, batchSize))
    }
  }
  const cases = CORE_POSITIONS.map(position => {
    const cookie = headers.get(position) as string
    return {
      position,
      headerBytes: Buffer.byteLength(cookie),
      cookies: cookie.split('; ').length,
      ns: spread(timings.get(position) ?? []),
      bytesPerRequest: bytesPerRequest(balancer, cookie)
    }
  })
  if (sink === -1) console.log(sink)
  return { batches, batchSize, url: URL_PATH, cases }
}

/** Rows for printing. */
export function formatCore (result: CoreResult): string {
  const lines = [
    `core: select({ cookie, url: '${result.url}' }) + finished(), ${result.batches} batches of ${result.batchSize}`,
    'route cookie | header bytes | cookies | ns/request median (min-max) | bytes allocated/request',
    ...result.cases.map(c =>
      `${c.position.padEnd(12)} | ${String(c.headerBytes).padStart(12)} | ${String(c.cookies).padStart(7)} | ` +
      `${c.ns.median.toFixed(0).padStart(6)} (${c.ns.min.toFixed(0)}-${c.ns.max.toFixed(0)})`.padEnd(28) +
      ` | ${c.bytesPerRequest.toFixed(0).padStart(6)}`)
  ]
  return lines.join('\n')
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = runCoreBench()
  if (process.send !== undefined) {
    const message: ChildMessage = { type: 'result', result }
    process.send(message)
  } else {
    console.log(formatCore(result))
  }
}
