/**
 * The HTTP benchmark.
 *
 * Alternating runs (the method of issue 5): each target is a gateway and a workload, measured
 * with autocannon in rounds that alternate the targets (A B C ... A B C ...), so drift of the
 * machine hits every target alike. Every run starts a fresh gateway process pinned to the proxy
 * core, checks one answer, warms it up, measures, reads its RSS and CPU time, and stops it.
 *
 * Concurrent A/B (a cross-check): a fresh bare proxy and a fresh sticky gateway, both on the
 * proxy core, loaded at the same time with half the connections each. Both saturate the core and
 * the scheduler gives each half of it, so their req/s ratio is the ratio of their CPU cost per
 * request, and a slowdown of the machine hits both in the same instant.
 */
import { Agent, get as httpGet, type IncomingHttpHeaders } from 'node:http'
import { BODY_BYTES, ROUTE_COOKIE, VALID_ROUTE, type GatewayName } from './gateways.js'
import { load } from './load.js'
import { readCoreTimes, windowLoad } from './machine.js'
import { PROXY_CPU, ServerProcess } from './processes.js'

export type Framework = 'fastify' | 'express'
/** Targets compared with each other: a bare proxy and the sticky gateway configured alike. */
export type Group = 'fastify' | 'fastify-noxf' | 'express' | 'express-keepalive'
/** `baseline`: the bare proxy; `valid`: clients presenting a valid route cookie; `new`: clients without a cookie. */
export type Workload = 'baseline' | 'valid' | 'new'

export interface Target {
  readonly id: string
  readonly label: string
  /** Two short lines for the chart. */
  readonly short: readonly [string, string]
  readonly framework: Framework
  readonly group: Group
  /** The bare target of the "ratio to bare" column, when it is not the group's own (see `headlineBaselineOf`). */
  readonly versus?: string
  readonly gateway: GatewayName
  readonly workload: Workload
  readonly headers: Readonly<Record<string, string>>
  /** Measured in the concurrent A/B runs only: a like-for-like explanation, not a target of issue 5 (keeps the bench under 10 minutes). */
  readonly abOnly?: boolean
}

/** The valid-route cookie; the bare proxies get it too, so their requests are byte for byte the valid-route ones. */
const VALID_COOKIE = { cookie: `${ROUTE_COOKIE}=.${VALID_ROUTE}` }
const NO_COOKIE = {}

/** Every target, in the order of an alternating round. */
const TARGETS: readonly Target[] = [
  { id: 'fastify-bare', label: '@fastify/http-proxy, bare, 1 upstream', short: ['Fastify', 'bare'], framework: 'fastify', group: 'fastify', gateway: 'fastify-bare', workload: 'baseline', headers: VALID_COOKIE },
  { id: 'fastify-valid', label: 'stickyroute Fastify, valid route', short: ['Fastify', 'valid route'], framework: 'fastify', group: 'fastify', gateway: 'fastify-sticky', workload: 'valid', headers: VALID_COOKIE },
  { id: 'fastify-new', label: 'stickyroute Fastify, new clients', short: ['Fastify', 'new clients'], framework: 'fastify', group: 'fastify', gateway: 'fastify-sticky', workload: 'new', headers: NO_COOKIE },
  { id: 'express-bare', label: 'http-proxy-middleware, bare, 1 upstream (no agent)', short: ['Express', 'bare'], framework: 'express', group: 'express', gateway: 'express-bare', workload: 'baseline', headers: VALID_COOKIE },
  // stickyroute as shipped keeps its member connections alive: against the bare middleware as
  // commonly configured (the comparison), and like for like against a bare middleware
  // with a keep-alive agent (its group).
  { id: 'express-valid', label: 'stickyroute Express (default), valid route', short: ['Express', 'valid route'], framework: 'express', group: 'express-keepalive', versus: 'express-bare', gateway: 'express-sticky', workload: 'valid', headers: VALID_COOKIE },
  { id: 'express-new', label: 'stickyroute Express (default), new clients', short: ['Express', 'new clients'], framework: 'express', group: 'express-keepalive', versus: 'express-bare', gateway: 'express-sticky', workload: 'new', headers: NO_COOKIE },
  { id: 'express-ka-bare', label: 'http-proxy-middleware + keep-alive agent, bare', short: ['Express+agent', 'bare'], framework: 'express', group: 'express-keepalive', gateway: 'express-bare-keepalive', workload: 'baseline', headers: VALID_COOKIE },
  { id: 'express-noagent-valid', label: 'stickyroute Express, proxy.agent false, valid route', short: ['Express, no agent', 'valid route'], framework: 'express', group: 'express', gateway: 'express-sticky-noagent', workload: 'valid', headers: VALID_COOKIE, abOnly: true },
  { id: 'express-noagent-new', label: 'stickyroute Express, proxy.agent false, new clients', short: ['Express, no agent', 'new clients'], framework: 'express', group: 'express', gateway: 'express-sticky-noagent', workload: 'new', headers: NO_COOKIE, abOnly: true },
  // What the X-Forwarded-* headers cost: the plugin without them, as the bare proxy sends none.
  { id: 'fastify-noxf-valid', label: 'stickyroute Fastify, addForwardedHeaders false, valid route', short: ['Fastify, no X-F-*', 'valid route'], framework: 'fastify', group: 'fastify-noxf', versus: 'fastify-bare', gateway: 'fastify-sticky-noxf', workload: 'valid', headers: VALID_COOKIE, abOnly: true },
  { id: 'fastify-noxf-new', label: 'stickyroute Fastify, addForwardedHeaders false, new clients', short: ['Fastify, no X-F-*', 'new clients'], framework: 'fastify', group: 'fastify-noxf', versus: 'fastify-bare', gateway: 'fastify-sticky-noxf', workload: 'new', headers: NO_COOKIE, abOnly: true }
]

/** The targets a run measures. */
export function benchTargets (): Target[] {
  return [...TARGETS]
}

function byId (id: string): Target {
  const target = TARGETS.find(t => t.id === id)
  if (target === undefined) throw new Error(`bench: no target ${id}`)
  return target
}

/** The bare proxy configured like `target` (its group, else `versus`): the like-for-like comparison, and the concurrent A/B's. */
export function baselineOf (target: Target): Target {
  const base = TARGETS.find(t => t.group === target.group && t.workload === 'baseline')
  if (base !== undefined) return base
  if (target.versus !== undefined) return byId(target.versus)
  throw new Error(`bench: no baseline for ${target.id}`)
}

/** The bare proxy of the "ratio to bare" column: `versus` when set, else the like-for-like one. */
export function headlineBaselineOf (target: Target): Target {
  return target.versus === undefined ? baselineOf(target) : byId(target.versus)
}

export interface HttpOptions {
  readonly runs: number
  /** Seconds per measured run. */
  readonly duration: number
  /** Seconds of warm-up of every fresh gateway before it is measured (its own workload). */
  readonly warmup: number
  readonly connections: number
  /** Rounds of the concurrent A/B cross-check (0: skip it). */
  readonly pairedRuns: number
}

/** One measured run of one target. */
export interface RunSample {
  readonly round: number
  readonly rps: number
  /** ms; NaN when the gateway closes every client connection (autocannon 9 mis-times its reconnects). */
  readonly p50: number
  readonly p99: number
  /** The gateway answers `Connection: close`: every request is a new client connection. */
  readonly closesConnections: boolean
  /** The gateway process after the run, bytes. */
  readonly rss: number
  /** Share of a core the gateway used during the run (1 = the proxy core was saturated). */
  readonly proxyCpu: number
  /** Share of a core the upstreams and the load generator used together (they share the other core). */
  readonly loadCpu: number
  /** Share of a core spent in processes other than the bench's own, and stolen by the hypervisor. */
  readonly otherCpu: number | undefined
  readonly stealCpu: number | undefined
  /** Milliseconds of the calibration work on the proxy core just before the run (bench/calibrate.ts): larger = slower core. */
  readonly calibrationMs: number
  readonly failed: number
}

export interface TargetResult {
  readonly target: Target
  readonly samples: RunSample[]
}

interface Answer {
  readonly status: number
  readonly body: string
  readonly headers: IncomingHttpHeaders
}

/** GET with a keep-alive agent (without one, Node asks for `Connection: close` itself). */
async function get (url: string, headers: Readonly<Record<string, string>>): Promise<Answer> {
  const agent = new Agent({ keepAlive: true })
  try {
    return await request(url, headers, agent)
  } finally {
    agent.destroy()
  }
}

async function request (url: string, headers: Readonly<Record<string, string>>, agent: Agent): Promise<Answer> {
  return await new Promise<Answer>((resolve, reject) => {
    const req = httpGet(url, { headers, agent }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

/**
 * One request through the fresh gateway: it must reach the right member and carry (or not) the
 * balancer cookie. Returns whether the gateway closes the client connection after an answer.
 */
async function preflight (url: string, target: Target): Promise<boolean> {
  const { status, body, headers } = await get(url, target.headers)
  const setCookie = (headers['set-cookie'] ?? []).find(c => c.startsWith(`${ROUTE_COOKIE}=`))
  const problems: string[] = []
  if (status !== 200) problems.push(`status ${status}`)
  if (Buffer.byteLength(body) !== BODY_BYTES) problems.push(`body of ${Buffer.byteLength(body)} bytes`)
  if (target.workload !== 'new' && !body.startsWith(`member=${VALID_ROUTE} `)) problems.push(`served by ${body.slice(0, 9)}, not member ${VALID_ROUTE}`)
  if (target.workload === 'new' && setCookie === undefined) problems.push('no balancer cookie for a new client')
  if (target.workload !== 'new' && setCookie !== undefined) problems.push(`unexpected Set-Cookie ${setCookie}`)
  if (problems.length > 0) throw new Error(`bench: ${target.id} preflight failed: ${problems.join(', ')}`)
  return headers.connection?.toLowerCase() === 'close'
}

/** Starts a gateway in its own process on the proxy core, runs `body` with it, and stops it. */
async function withGateway<T> (name: GatewayName, upstreams: ServerProcess, body: (gateway: ServerProcess) => Promise<T>): Promise<T> {
  const gateway = await ServerProcess.start(name, upstreams.origins, { cpu: PROXY_CPU })
  try {
    return await body(gateway)
  } finally {
    await gateway.close()
  }
}

function urlOf (gateway: ServerProcess): string {
  return `${gateway.origins[0] as string}/`
}

async function measure (target: Target, upstreams: ServerProcess, options: HttpOptions, round: number): Promise<RunSample> {
  return await withGateway(target.gateway, upstreams, async gateway => {
    const url = urlOf(gateway)
    const headers = { ...target.headers }
    const closes = await preflight(url, target)
    if (options.warmup > 0) await load({ url, connections: options.connections, duration: options.warmup, headers })
    const calibrationMs = await gateway.calibrate()
    const [g0, u0] = await Promise.all([gateway.stats(), upstreams.stats()])
    const self0 = process.cpuUsage()
    const cores0 = readCoreTimes()
    const t0 = process.hrtime.bigint()
    const result = await load({ url, connections: options.connections, duration: options.duration, headers })
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    const cores1 = readCoreTimes()
    const self1 = process.cpuUsage(self0)
    const [g1, u1] = await Promise.all([gateway.stats(), upstreams.stats()])

    const proxySeconds = (g1.cpuMicros - g0.cpuMicros) / 1e6
    const loadSeconds = (u1.cpuMicros - u0.cpuMicros + self1.user + self1.system) / 1e6
    const system = windowLoad(cores0, cores1)
    return {
      round,
      rps: result.rps,
      p50: closes ? Number.NaN : result.p50,
      p99: closes ? Number.NaN : result.p99,
      closesConnections: closes,
      rss: g1.rss,
      proxyCpu: proxySeconds / seconds,
      loadCpu: loadSeconds / seconds,
      otherCpu: system === undefined ? undefined : Math.max(0, system.task - proxySeconds - loadSeconds) / seconds,
      stealCpu: system === undefined ? undefined : system.steal / seconds,
      calibrationMs,
      failed: result.errors + result.timeouts + result.non2xx
    }
  })
}

function percent (share: number | undefined): string {
  return share === undefined ? 'n/a' : `${(share * 100).toFixed(0)} %`
}

/** One concurrent A/B run: a sticky target and its bare proxy loaded at the same time on the shared proxy core. */
export interface PairedSample {
  readonly round: number
  readonly rps: number
  readonly baseRps: number
  /** `rps / baseRps`: with both gateways saturating one core, the scheduler gives each half, so this is their per-request CPU cost ratio. */
  readonly ratio: number
  readonly failed: number
}

export interface PairedResult {
  readonly target: Target
  readonly samples: PairedSample[]
}

export interface HttpResults {
  readonly options: HttpOptions
  readonly targets: readonly TargetResult[]
  readonly paired: readonly PairedResult[]
}

/**
 * One round of the A/B cross-check for a group: fresh bare and sticky gateways side by side,
 * warmed up together (the sticky one half with each workload), then each sticky workload
 * loaded at the same time as the bare proxy.
 */
async function measurePairs (pairs: readonly PairedResult[], upstreams: ServerProcess, options: HttpOptions, round: number): Promise<void> {
  const first = pairs[0]
  if (first === undefined) return
  const base = baselineOf(first.target)
  const connections = Math.max(1, Math.floor(options.connections / 2))
  await withGateway(base.gateway, upstreams, async bare => {
    await withGateway(first.target.gateway, upstreams, async sticky => {
      await preflight(urlOf(bare), base)
      for (const p of pairs) await preflight(urlOf(sticky), p.target)
      if (options.warmup > 0) {
        const share = options.warmup / pairs.length
        await Promise.all([
          load({ url: urlOf(bare), connections, duration: options.warmup, headers: { ...base.headers } }),
          (async () => {
            for (const p of pairs) await load({ url: urlOf(sticky), connections, duration: share, headers: { ...p.target.headers } })
          })()
        ])
      }
      // Alternate which workload goes first from round to round.
      const order = round % 2 === 1 ? pairs : [...pairs].reverse()
      for (const p of order) {
        const [mine, theirs] = await Promise.all([
          load({ url: urlOf(sticky), connections, duration: options.duration, headers: { ...p.target.headers } }),
          load({ url: urlOf(bare), connections, duration: options.duration, headers: { ...base.headers } })
        ])
        p.samples.push({
          round,
          rps: mine.rps,
          baseRps: theirs.rps,
          ratio: theirs.rps > 0 ? mine.rps / theirs.rps : Number.NaN,
          failed: mine.errors + mine.timeouts + mine.non2xx + theirs.errors + theirs.timeouts + theirs.non2xx
        })
      }
    })
  })
}

export async function runHttp (upstreams: ServerProcess, options: HttpOptions, log: (line: string) => void): Promise<HttpResults> {
  const targets = benchTargets()
  const results = targets.filter(target => target.abOnly !== true).map(target => ({ target, samples: [] as RunSample[] }))
  for (let round = 1; round <= options.runs; round++) {
    for (const r of results) {
      const sample = await measure(r.target, upstreams, options, round)
      r.samples.push(sample)
      const latency = sample.closesConnections ? 'latency n/a (Connection: close)' : `p50 ${sample.p50.toFixed(2)} ms  p99 ${sample.p99.toFixed(2)} ms`
      log(`  round ${round}/${options.runs}  ${r.target.id.padEnd(16)} ${sample.rps.toFixed(0).padStart(6)} req/s  ` +
        `${latency}  RSS ${(sample.rss / 1048576).toFixed(0)} MB  proxy CPU ${percent(sample.proxyCpu)}  ` +
        `core speed ${sample.calibrationMs.toFixed(2)} ms` +
        (sample.failed > 0 ? `  FAILED ${sample.failed}` : ''))
    }
  }

  const paired = targets.filter(t => t.workload !== 'baseline').map(target => ({ target, samples: [] as PairedSample[] }))
  const groups = [...new Set(paired.map(p => p.target.group))].map(group => paired.filter(p => p.target.group === group))
  if (options.pairedRuns > 0) log(`  concurrent A/B cross-check: ${options.pairedRuns} rounds, fresh gateways, ${options.duration} s per workload`)
  for (let round = 1; round <= options.pairedRuns; round++) {
    for (const pairs of groups) {
      await measurePairs(pairs, upstreams, options, round)
      for (const p of pairs) {
        const sample = p.samples[p.samples.length - 1] as PairedSample
        log(`  A/B ${round}/${options.pairedRuns}  ${p.target.id.padEnd(16)} ${sample.rps.toFixed(0).padStart(6)} vs ${baselineOf(p.target).id.padEnd(15)} ` +
          `${sample.baseRps.toFixed(0).padStart(6)} req/s  ratio ${sample.ratio.toFixed(3)}` + (sample.failed > 0 ? `  FAILED ${sample.failed}` : ''))
      }
    }
  }
  return { options, targets: results, paired }
}
