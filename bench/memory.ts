/**
 * Memory check: RSS of each sticky gateway's process after 100,000 distinct new clients vs after
 * 1,000, through the real gateway (its own process, pinned to the proxy core).
 *
 * A client is new when it brings no usable route: no Cookie header, a route cookie naming no
 * member (`ROUTEID=s<n>.gone<n>`, `ROUTEID=.r<n>`), a route cookie without a route, or only
 * other cookies. Every one of them gets a balancer cookie. Each request has its own id in the
 * query string and its own cookie values, so anything kept per client or per value would grow.
 *
 * Before the 1,000, a warm-up of the same request shapes with fixed values brings the JIT and
 * V8's young generation to their working size; every reading is taken after two full GCs
 * (--expose-gc), so the difference is what the gateway keeps, not garbage not yet collected.
 * After the 1,000, RSS is read four more times, evenly spaced up to 100,000: per-client state
 * would show as a trend, noise as a step that comes and goes.
 *
 * The gateways run with --single-threaded-gc here (only here: the throughput runs use V8's
 * defaults). With the parallel GC, RSS swung by 10-20 MB from one reading to the next while the
 * V8 heap and external memory stayed flat, for the bare proxies as much as for stickyroute; the
 * swing was all anonymous memory outside the V8 heap (/proc/self/status RssAnon), and it went
 * away with one GC thread (with MALLOC_ARENA_MAX=1, all but the first jump): most likely the GC
 * helper threads' malloc arenas, whose freed pages glibc keeps resident. What a gateway keeps per
 * client lives in the V8 heap or in native buffers either way, and both are read too.
 */
import type autocannon from 'autocannon'
import type { GatewayName } from './gateways.js'
import { ROUTE_COOKIE, VALID_ROUTE } from './gateways.js'
import { load } from './load.js'
import { PROXY_CPU, ServerProcess } from './processes.js'

/** The gateways checked, each followed by its bare proxy as a control (same traffic: how much RSS moves without stickyroute). */
const MEMORY_GATEWAYS: readonly GatewayName[] = ['fastify-sticky', 'express-sticky']
const CONTROLS: Readonly<Partial<Record<GatewayName, GatewayName>>> = { 'fastify-sticky': 'fastify-bare', 'express-sticky': 'express-bare' }
/** Node flags of the measured gateways (see above). */
export const MEMORY_NODE_FLAGS: readonly string[] = ['--single-threaded-gc']
/** Readings after the baseline one, evenly spaced up to all clients. */
const LATER_READINGS = 4

export interface MemoryPoint {
  readonly label: string
  /** Distinct new clients served so far. */
  readonly clients: number
  readonly rss: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
}

export interface MemoryResult {
  readonly gateway: GatewayName
  /** A bare proxy under the same traffic, for comparison (no target applies). */
  readonly control: boolean
  readonly points: readonly MemoryPoint[]
  /** The reading after the baseline clients (1,000). */
  readonly baseline: MemoryPoint
  /** The reading after all clients (100,000). */
  readonly last: MemoryPoint
  /** RSS after all clients minus RSS after the baseline clients, MB (2^20 bytes). */
  readonly growthMB: number
  /** The highest RSS of the readings after the baseline one, minus the baseline RSS, MB. */
  readonly peakGrowthMB: number
  readonly heapGrowthMB: number
  /** Requests that failed or got a non-2xx answer (should be 0). */
  readonly failed: number
}

export interface MemoryOptions {
  readonly connections: number
  /** Distinct clients in total (default 100,000). */
  readonly clients: number
  /** Distinct clients of the first reading (default 1,000). */
  readonly baseline: number
  /** Warm-up requests with fixed values (default 10,000). */
  readonly warmup: number
  /** Also measure each bare proxy under the same traffic. */
  readonly controls: boolean
}

const MB = 1024 * 1024

/** The request of distinct client `id`: four shapes of "no usable route", values unique to the client. */
function clientRequest (id: number): { path: string, headers: Record<string, string> } {
  const path = `/?client=${id}`
  switch (id % 4) {
    case 0: return { path, headers: {} }
    case 1: return { path, headers: { cookie: `${ROUTE_COOKIE}=s${id}.gone${id}` } }
    case 2: return { path, headers: { cookie: `theme=dark; ${ROUTE_COOKIE}=.r${id}; lang=en` } }
    default: return { path, headers: { cookie: `sid=${id.toString(36)}; ${ROUTE_COOKIE}=nosep${id}` } }
  }
}

/** An autocannon request list that hands out client ids `next()`, `next() + 1`, ... (shared by all connections). */
function distinctClients (next: () => number): autocannon.Request[] {
  return [{
    setupRequest: request => ({ ...request, method: 'GET', ...clientRequest(next()) })
  }]
}

/** The warm-up: the same request shapes with fixed values, plus returning clients. */
const WARMUP_REQUESTS: autocannon.Request[] = [
  { method: 'GET', path: '/', headers: {} },
  { method: 'GET', path: '/?client=w', headers: { cookie: `${ROUTE_COOKIE}=s.gone` } },
  { method: 'GET', path: '/', headers: { cookie: `${ROUTE_COOKIE}=.${VALID_ROUTE}` } },
  { method: 'GET', path: '/', headers: { cookie: `theme=dark; ${ROUTE_COOKIE}=.zz; lang=en` } }
]

async function measureGateway (gateway: GatewayName, control: boolean, upstreams: readonly string[], options: MemoryOptions): Promise<MemoryResult> {
  const server = await ServerProcess.start(gateway, upstreams, { cpu: PROXY_CPU, exposeGc: true, nodeFlags: MEMORY_NODE_FLAGS })
  try {
    const url = `${server.origins[0] as string}/`
    const points: MemoryPoint[] = []
    let failed = 0
    const read = async (label: string, clients: number): Promise<void> => {
      const s = await server.stats(true)
      points.push({ label, clients, rss: s.rss, heapUsed: s.heapUsed, heapTotal: s.heapTotal, external: s.external })
    }
    await read('started', 0)
    const warm = await load({ url, connections: options.connections, amount: options.warmup, requests: WARMUP_REQUESTS })
    failed += warm.errors + warm.non2xx
    await read(`after warm-up (${options.warmup.toLocaleString('en-US')} requests, fixed values)`, 0)

    let nextId = 0
    const next = (): number => nextId++
    let served = 0
    const targets = [options.baseline]
    for (let i = 1; i <= LATER_READINGS; i++) targets.push(Math.round(options.baseline + (options.clients - options.baseline) * i / LATER_READINGS))
    let baseline: MemoryPoint | undefined
    for (const target of targets) {
      // autocannon counts requests written, and a gateway that closes every connection loses the
      // one written on the closing socket: repeat until enough were answered.
      while (served < target) {
        const amount = Math.max(target - served, options.connections)
        const run = await load({ url, connections: Math.min(options.connections, amount), amount, requests: distinctClients(next) })
        failed += run.errors + run.non2xx
        served += run.requests
      }
      await read(`after ${served.toLocaleString('en-US')} distinct new clients`, served)
      baseline ??= points[points.length - 1]
    }
    const base = baseline as MemoryPoint
    const later = points.slice(points.indexOf(base) + 1)
    const last = later[later.length - 1] as MemoryPoint
    return {
      gateway,
      control,
      points,
      baseline: base,
      last,
      growthMB: (last.rss - base.rss) / MB,
      peakGrowthMB: Math.max(...later.map(p => p.rss - base.rss)) / MB,
      heapGrowthMB: (last.heapUsed - base.heapUsed) / MB,
      failed
    }
  } finally {
    await server.close()
  }
}

export async function runMemory (upstreams: readonly string[], options: MemoryOptions): Promise<MemoryResult[]> {
  const results: MemoryResult[] = []
  for (const gateway of MEMORY_GATEWAYS) {
    results.push(await measureGateway(gateway, false, upstreams, options))
    const control = CONTROLS[gateway]
    if (options.controls && control !== undefined) results.push(await measureGateway(control, true, upstreams, options))
  }
  return results
}

export function formatMemory (results: readonly MemoryResult[]): string {
  const lines: string[] = []
  for (const r of results) {
    lines.push(`${r.gateway}${r.control ? ' (control: the bare proxy under the same traffic)' : ''}:`)
    for (const p of r.points) {
      lines.push(`  ${p.label.padEnd(52)} RSS ${(p.rss / MB).toFixed(1).padStart(6)} MB   heap ${(p.heapUsed / MB).toFixed(1).padStart(6)} / ${(p.heapTotal / MB).toFixed(1).padStart(6)} MB   external ${(p.external / MB).toFixed(1).padStart(5)} MB`)
    }
    lines.push(`  ${r.last.clients.toLocaleString('en-US')} vs ${r.baseline.clients.toLocaleString('en-US')} clients: RSS ${signed(r.growthMB)} MB (highest reading ${signed(r.peakGrowthMB)} MB), heap ${signed(r.heapGrowthMB)} MB` +
      (r.failed > 0 ? `   (${r.failed} failed requests!)` : ''))
  }
  return lines.join('\n')
}

export function signed (value: number, digits = 1): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`
}
