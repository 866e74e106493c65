/**
 * Summaries, the targets of issue 5, and the outputs: the console tables, bench/results.md and
 * the ratio chart bench/ratios.svg (plain SVG written by hand, no dependency).
 */
import type { CoreResult } from './core.js'
import { baselineOf, headlineBaselineOf, type HttpOptions, type HttpResults, type RunSample, type Target } from './http.js'
import type { MachineInfo } from './machine.js'
import { MEMORY_NODE_FLAGS, signed, type MemoryOptions, type MemoryResult } from './memory.js'
import { relativeSpread, spread, type Spread } from './stats.js'

const MB = 1024 * 1024

/** A target of the alternating runs. */
export interface TargetSummary {
  readonly target: Target
  readonly runs: number
  readonly rps: Spread
  readonly p50: Spread
  readonly p99: Spread
  readonly rssMB: Spread
  readonly proxyCpu: Spread
  readonly loadCpu: Spread
  readonly otherCpu: Spread | undefined
  readonly stealCpu: Spread | undefined
  /** Calibration work on the proxy core before each run, ms (larger = slower core). */
  readonly calibrationMs: Spread
  /** Throughput over the bare proxy's (`headlineBaselineOf`), paired by round; `undefined` for the bare proxies. */
  readonly ratio: Spread | undefined
  /** Throughput over the bare proxy configured alike (`baselineOf`), when that is another one than `ratio`'s. */
  readonly likeRatio: Spread | undefined
  /** p99 over the bare proxy's p99, paired by round. */
  readonly p99Ratio: Spread | undefined
  readonly failed: number
}

/** A sticky target of the concurrent A/B cross-check. */
export interface PairedSummary {
  readonly target: Target
  readonly runs: number
  readonly rps: Spread
  readonly baseRps: Spread
  readonly ratio: Spread
  readonly failed: number
}

export interface HttpSummary {
  readonly options: HttpOptions
  readonly alternating: readonly TargetSummary[]
  readonly paired: readonly PairedSummary[]
}

function pick (samples: readonly RunSample[], value: (s: RunSample) => number | undefined): Spread | undefined {
  const values = samples.map(value)
  return values.every((v): v is number => v !== undefined) ? spread(values) : undefined
}

function roundRatio (samples: readonly RunSample[], base: readonly RunSample[], value: (s: RunSample) => number): Spread {
  const ratios: number[] = []
  for (const s of samples) {
    const b = base.find(x => x.round === s.round)
    if (b !== undefined && value(b) > 0) ratios.push(value(s) / value(b))
  }
  return spread(ratios)
}

export function summarizeHttp ({ options, targets, paired }: HttpResults): HttpSummary {
  const alternating = targets.map(({ target, samples }): TargetSummary => {
    const samplesOf = (t: Target): RunSample[] | undefined => target.workload === 'baseline' ? undefined : targets.find(r => r.target === t)?.samples
    const base = samplesOf(headlineBaselineOf(target))
    const like = baselineOf(target) === headlineBaselineOf(target) ? undefined : samplesOf(baselineOf(target))
    return {
      target,
      runs: samples.length,
      rps: spread(samples.map(s => s.rps)),
      p50: spread(samples.map(s => s.p50)),
      p99: spread(samples.map(s => s.p99)),
      rssMB: spread(samples.map(s => s.rss / MB)),
      proxyCpu: spread(samples.map(s => s.proxyCpu)),
      loadCpu: spread(samples.map(s => s.loadCpu)),
      otherCpu: pick(samples, s => s.otherCpu),
      stealCpu: pick(samples, s => s.stealCpu),
      calibrationMs: spread(samples.map(s => s.calibrationMs)),
      ratio: base === undefined ? undefined : roundRatio(samples, base, s => s.rps),
      likeRatio: like === undefined ? undefined : roundRatio(samples, like, s => s.rps),
      p99Ratio: base === undefined ? undefined : roundRatio(samples, base, s => s.p99),
      failed: samples.reduce((n, s) => n + s.failed, 0)
    }
  })
  const pairs = paired.filter(p => p.samples.length > 0).map(({ target, samples }): PairedSummary => ({
    target,
    runs: samples.length,
    rps: spread(samples.map(s => s.rps)),
    baseRps: spread(samples.map(s => s.baseRps)),
    ratio: spread(samples.map(s => s.ratio)),
    failed: samples.reduce((n, s) => n + s.failed, 0)
  }))
  return { options, alternating, paired: pairs }
}

// ---------------------------------------------------------------------------------------------
// Targets

export interface Verdict {
  readonly name: string
  readonly measured: string
  readonly target: string
  readonly holds: boolean
  /** How far from the threshold, in words. */
  readonly margin: string
}

function ratioVerdict (name: string, r: Spread | undefined, min: number): Verdict | undefined {
  if (r === undefined || Number.isNaN(r.median)) return undefined
  return {
    name,
    measured: `${r.median.toFixed(3)} (runs ${r.min.toFixed(3)}-${r.max.toFixed(3)})`,
    target: `>= ${min.toFixed(2)}`,
    holds: r.median >= min,
    margin: `${signed((r.median - min) * 100, 1)} points${r.min < min && r.median >= min ? '; not in every run' : ''}`
  }
}

function p99Verdict (name: string, s: TargetSummary | undefined, max: number): Verdict | undefined {
  const r = s?.p99Ratio
  if (r === undefined || s === undefined || Number.isNaN(r.median)) return undefined
  return {
    name,
    measured: `${r.median.toFixed(3)} x bare (runs ${r.min.toFixed(3)}-${r.max.toFixed(3)}; p99 ${s.p99.median.toFixed(2)} ms)`,
    target: `<= ${max.toFixed(2)}`,
    holds: r.median <= max,
    margin: `${signed((max - r.median) * 100, 1)} points of headroom`
  }
}

/** "100,000 vs 1,000 distinct new clients", from the readings. */
function clientsLabel (m: MemoryResult): string {
  return `${m.last.clients.toLocaleString('en-US')} vs ${m.baseline.clients.toLocaleString('en-US')} distinct new clients`
}

const CORE_NS_TARGET = 250
const MEMORY_MB_TARGET = 5
/**
 * Throughput targets of issue 5: sticky target id and the least ratio to its bare proxy (as in
 * the "ratio to bare" column), from the alternating runs and, where that bare proxy is the one
 * configured alike, from the concurrent A/B runs too.
 */
const THROUGHPUT_TARGETS: ReadonlyArray<readonly [string, string, number]> = [
  ['Fastify plugin, valid route: req/s vs bare @fastify/http-proxy', 'fastify-valid', 0.97],
  ['Fastify plugin, new clients: req/s vs bare @fastify/http-proxy', 'fastify-new', 0.95],
  ['Express middleware as shipped, valid route: req/s vs bare http-proxy-middleware as commonly configured', 'express-valid', 0.97],
  ['Express middleware as shipped, new clients: req/s vs bare http-proxy-middleware as commonly configured', 'express-new', 0.97]
]
/** Like for like (informational): the middleware's own cost when both proxies handle connections alike. */
const LIKE_FOR_LIKE: ReadonlyArray<readonly [string, string, number]> = [
  ['like for like: Express middleware with proxy.agent false, valid route, vs bare http-proxy-middleware', 'express-noagent-valid', 0.97],
  ['like for like: Express middleware with proxy.agent false, new clients, vs bare http-proxy-middleware', 'express-noagent-new', 0.97],
  ['like for like: Express middleware as shipped, valid route, vs bare http-proxy-middleware + keep-alive agent', 'express-valid', 0.97],
  ['like for like: Express middleware as shipped, new clients, vs bare http-proxy-middleware + keep-alive agent', 'express-new', 0.97],
  ['like for like: Fastify plugin with addForwardedHeaders false (no X-Forwarded-*, as the bare proxy), valid route, vs bare @fastify/http-proxy', 'fastify-noxf-valid', 0.97],
  ['like for like: Fastify plugin with addForwardedHeaders false (no X-Forwarded-*, as the bare proxy), new clients, vs bare @fastify/http-proxy', 'fastify-noxf-new', 0.95]
]
const TARGET_RATIO: ReadonlyMap<string, number> = new Map(THROUGHPUT_TARGETS.map(([, id, min]) => [id, min]))

export function verdicts (http: HttpSummary | undefined, core: CoreResult | undefined, memory: readonly MemoryResult[] | undefined): Verdict[] {
  const out: Array<Verdict | undefined> = []
  if (http !== undefined) {
    const alternating = (id: string): TargetSummary | undefined => http.alternating.find(s => s.target.id === id)
    const paired = (id: string): Spread | undefined => http.paired.find(p => p.target.id === id)?.ratio
    for (const [name, id, min] of THROUGHPUT_TARGETS) {
      const s = alternating(id)
      out.push(ratioVerdict(`${name} (alternating runs)`, s?.ratio, min))
      // The concurrent A/B runs compare with the bare proxy configured alike.
      if (s?.likeRatio === undefined) out.push(ratioVerdict(`${name} (concurrent A/B)`, paired(id), min))
    }
    for (const [name, id, min] of LIKE_FOR_LIKE) {
      const s = alternating(id)
      out.push(
        ratioVerdict(`${name} (alternating runs)`, s?.likeRatio ?? s?.ratio, min),
        ratioVerdict(`${name} (concurrent A/B)`, paired(id), min)
      )
    }
    out.push(
      p99Verdict('Fastify plugin, valid route: p99 vs bare (within 10 %)', alternating('fastify-valid'), 1.1),
      p99Verdict('Fastify plugin, new clients: p99 vs bare (within 10 %)', alternating('fastify-new'), 1.1)
    )
  }
  if (core !== undefined) {
    const worst = core.cases.reduce((a, b) => (b.ns.median > a.ns.median ? b : a))
    out.push({
      name: 'core: select() + finished(), worst route cookie position',
      measured: `${worst.ns.median.toFixed(0)} ns (${worst.position})`,
      target: `<= ${CORE_NS_TARGET} ns`,
      holds: core.cases.every(c => c.ns.median <= CORE_NS_TARGET),
      margin: `${signed(CORE_NS_TARGET - worst.ns.median, 0)} ns of headroom`
    })
  }
  for (const m of (memory ?? []).filter(r => !r.control)) {
    out.push({
      name: `memory: ${m.gateway} RSS, ${clientsLabel(m)}`,
      measured: `${signed(m.growthMB)} MB (highest reading ${signed(m.peakGrowthMB)} MB; heap ${signed(m.heapGrowthMB)} MB)`,
      target: `<= ${MEMORY_MB_TARGET} MB`,
      holds: m.growthMB <= MEMORY_MB_TARGET && m.failed === 0,
      margin: `${signed(MEMORY_MB_TARGET - m.growthMB)} MB of headroom${m.failed > 0 ? `; ${m.failed} requests failed` : ''}`
    })
  }
  return out.filter((v): v is Verdict => v !== undefined)
}

// ---------------------------------------------------------------------------------------------
// Noise

export interface NoiseReport {
  /** Something that moves the numbers by more than the targets' margins (large spreads, a slowed core, other load). */
  readonly noisy: boolean
  readonly notes: string[]
  /** Smaller irregularities, worth a look but not enough to call the run noisy. */
  readonly minor: string[]
  /** Whether the notes concern the concurrent A/B runs (then they are no refuge from the noise either). */
  readonly pairedNoisy: boolean
}

export function noise (http: HttpSummary | undefined, core: CoreResult | undefined): NoiseReport {
  const notes: string[] = []
  for (const s of http?.alternating ?? []) {
    const rel = relativeSpread(s.rps)
    if (rel > 0.1) notes.push(`${s.target.id}: req/s of the alternating runs spread ${(rel * 100).toFixed(0)} % of the median (${s.rps.min.toFixed(0)}-${s.rps.max.toFixed(0)})`)
    if (s.otherCpu !== undefined && s.otherCpu.max > 0.1) notes.push(`${s.target.id}: up to ${(s.otherCpu.max * 100).toFixed(0)} % of a core went to other processes during a run`)
    if (s.stealCpu !== undefined && s.stealCpu.max > 0.05) notes.push(`${s.target.id}: up to ${(s.stealCpu.max * 100).toFixed(0)} % of a core was stolen by the hypervisor during a run`)
    if (s.proxyCpu.median < 0.9) notes.push(`${s.target.id}: the gateway used only ${(s.proxyCpu.median * 100).toFixed(0)} % of its core (load generator or upstreams may be the limit)`)
    if (s.failed > 0) notes.push(`${s.target.id}: ${s.failed} requests failed (errors, timeouts or non-2xx)`)
  }
  const minor: string[] = []
  let pairedNoisy = false
  for (const p of http?.paired ?? []) {
    const rel = relativeSpread(p.ratio)
    const note = `${p.target.id}: concurrent A/B ratios spread ${(rel * 100).toFixed(0)} % of the median (${p.ratio.min.toFixed(3)}-${p.ratio.max.toFixed(3)})`
    if (rel > 0.1) notes.push(note)
    else if (rel > 0.05) minor.push(note)
    if (p.failed > 0) notes.push(`${p.target.id}: ${p.failed} requests failed in the concurrent A/B runs`)
    if (rel > 0.1 || p.failed > 0) pairedNoisy = true
  }
  const speeds = spread((http?.alternating ?? []).flatMap(s => [s.calibrationMs.min, s.calibrationMs.max]))
  if (relativeSpread(speeds) > 0.15) {
    notes.push(`the proxy core's speed moved by ${(relativeSpread(speeds) * 100).toFixed(0)} % between runs (fixed work took ${speeds.min.toFixed(2)}-${speeds.max.toFixed(2)} ms): ` +
      'the VM\'s cores slow down when neighbours are busy, without steal time showing')
  }
  for (const c of core?.cases ?? []) {
    const rel = relativeSpread(c.ns)
    if (rel > 0.2) notes.push(`core ${c.position}: batches spread ${(rel * 100).toFixed(0)} % of the median`)
  }
  return { noisy: notes.length > 0, notes, minor, pairedNoisy }
}

// ---------------------------------------------------------------------------------------------
// Tables

const fmt = {
  rps: (s: Spread) => `${s.median.toFixed(0)} (${s.min.toFixed(0)}-${s.max.toFixed(0)})`,
  ms: (s: Spread) => Number.isNaN(s.median) ? 'n/a *' : `${s.median.toFixed(2)} (${s.min.toFixed(2)}-${s.max.toFixed(2)})`,
  mb: (s: Spread) => `${s.median.toFixed(1)} (${s.min.toFixed(1)}-${s.max.toFixed(1)})`,
  ratio: (s: Spread | undefined) => s === undefined ? '1 (baseline)' : `${s.median.toFixed(3)} (${s.min.toFixed(3)}-${s.max.toFixed(3)})`,
  pct: (s: Spread | undefined) => s === undefined ? 'n/a' : `${(s.median * 100).toFixed(0)} %`
}

const ALTERNATING_HEADERS = ['target', 'req/s', 'p50 ms', 'p99 ms', 'proxy RSS MB', 'ratio to bare', 'like for like', 'A/B ratio', 'proxy CPU', 'load core']

function alternatingRows (http: HttpSummary): string[][] {
  return http.alternating.map(s => {
    const pair = http.paired.find(p => p.target === s.target)
    return [
      s.target.label, fmt.rps(s.rps), fmt.ms(s.p50), fmt.ms(s.p99), fmt.mb(s.rssMB), fmt.ratio(s.ratio),
      s.target.workload === 'baseline' ? '' : s.likeRatio === undefined ? '(same)' : `${fmt.ratio(s.likeRatio)} vs ${baselineOf(s.target).id}`,
      s.target.workload === 'baseline' ? '' : pair === undefined ? 'n/a' : fmt.ratio(pair.ratio),
      fmt.pct(s.proxyCpu), fmt.pct(s.loadCpu)
    ]
  })
}

const PAIRED_HEADERS = ['sticky target (concurrent A/B)', 'its req/s', 'bare req/s, same time', 'ratio']

function pairedRows (http: HttpSummary): string[][] {
  return http.paired.map(p => [`${p.target.label} vs ${baselineOf(p.target).id}`, fmt.rps(p.rps), fmt.rps(p.baseRps), fmt.ratio(p.ratio)])
}

/** A plain-text table for the console. */
function textTable (header: readonly string[], body: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map(r => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  return [line(header), widths.map(w => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

function markdownTable (header: readonly string[], body: readonly string[][]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|')
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...body.map(r => `| ${r.map(esc).join(' | ')} |`)
  ].join('\n')
}

export function httpTables (http: HttpSummary): string {
  const out = [textTable(ALTERNATING_HEADERS, alternatingRows(http))]
  if (http.paired.length > 0) out.push('', textTable(PAIRED_HEADERS, pairedRows(http)))
  return out.join('\n')
}

export function verdictTable (list: readonly Verdict[]): string {
  return textTable(['target', 'measured', 'wanted', 'holds', 'margin'], list.map(v => [v.name, v.measured, v.target, v.holds ? 'yes' : 'NO', v.margin]))
}

// ---------------------------------------------------------------------------------------------
// bench/results.md

export interface Report {
  readonly machine: MachineInfo
  readonly pinned: { readonly parent: boolean, readonly children: boolean }
  readonly http: HttpSummary | undefined
  readonly core: CoreResult | undefined
  readonly memory: { readonly options: MemoryOptions, readonly results: readonly MemoryResult[] } | undefined
  readonly seconds: number
}

function methodLines (report: Report): string[] {
  const { http, core, memory } = report
  const out: string[] = []
  if (http !== undefined) {
    const o = http.options
    out.push(
      '- Three upstream members (node:http, keep-alive, 200 with a 100-byte body naming the member) in one child process on core 1.',
      '- Every gateway runs alone in a child process (bench/gateway-process.ts) pinned to core 0; autocannon 9 runs in the parent, pinned to core 1 with the upstreams.',
      '- Bare baselines as commonly configured: `@fastify/http-proxy` with `upstream` set to one member; `createProxyMiddleware({ target, changeOrigin: true })` on Express 5. ' +
        'Sticky gateways: the plugin / middleware with three members and `routeCookie: \'ROUTEID\'`, nothing else.',
      '- Workloads: *valid route*: every request carries `Cookie: ROUTEID=.b` (the bare proxies get the same header, and forward to member b); ' +
        '*new clients*: no Cookie header, so every answer carries a `Set-Cookie` and the balancer picks round robin over the three members.',
      `- **Alternating runs** (the method of issue 5): ${o.runs} rounds, each running every target once in the same order (A B C ... A B C ...): ` +
        `${http.alternating.map(s => `\`${s.target.id}\``).join(', ')}. Every run starts a fresh gateway process, checks one answer (member, body length, balancer cookie), ` +
        `warms it up for ${o.warmup} s with the run's workload, then measures for ${o.duration} s with ${o.connections} connections.`,
      '- Ratio to bare: a target\'s req/s over the bare proxy\'s **in the same round**, median over rounds (min-max in brackets). All other cells: median over runs (min-max). ' +
        'Latency: from every response\'s own time (autocannon\'s `response` event), not autocannon\'s whole-millisecond histogram.',
      `- **Concurrent A/B** (cross-check, ${o.pairedRuns} rounds): a fresh bare proxy and a fresh sticky gateway side by side on core 0, warmed up together, then each sticky workload ` +
        `loaded **at the same time** as the bare proxy for ${o.duration} s, ${Math.floor(o.connections / 2)} connections each. Both saturate the core and the scheduler gives each half of it, ` +
        'so the req/s ratio is the ratio of their CPU cost per request, and a slowdown of the machine hits both in the same instant. Not the method of issue 5, but far less sensitive to this machine\'s drift.',
      '- Proxy RSS: `process.memoryUsage().rss` of the gateway right after its measured run (it includes the tsx loader the bench runs TypeScript with). ' +
        'Proxy CPU: the gateway\'s CPU time over the run (100 % = its core saturated, as a throughput comparison needs). Load core: upstreams + load generator on the other core.',
      '- Core speed: before every alternating run the fresh gateway times a fixed piece of CPU work (bench/calibrate.ts) on core 0. ' +
        'This VM\'s cores slow down when its neighbours are busy without any steal time showing, and this is what shows it.',
      '- Express as commonly configured (`express-bare`): http-proxy (under http-proxy-middleware 3) uses no agent unless given one. It then sends `Connection: close` upstream, ' +
        'and copies the member\'s `Connection: close` answer to the client, so **every request is a new upstream connection and a new client connection**. ' +
        '\\* autocannon 9 mis-times requests across such reconnects (it writes the next request on the closing socket and keeps its start time), so latency is not reported for these rows; req/s counts answers and stays valid. ' +
        'stickyroute as shipped (`express-valid`, `express-new`) keeps its member connections alive (a keep-alive agent per member; the member\'s answers then keep the client connection open too): ' +
        'its "ratio to bare" is against `express-bare`, the comparison of issue 5, and its "like for like" and A/B ratios against `express-ka-bare`, the bare middleware with ' +
        '`new http.Agent({ keepAlive: true })`. `express-noagent-*` (concurrent A/B only) is stickyroute with `proxy: { agent: false }`, like for like with `express-bare`.',
      '- The plugin sends each member `X-Forwarded-For`, `-Host`, `-Server` and `-Proto` (as Apache\'s `ProxyAddHeaders On` does, plus `-Proto`); bare `@fastify/http-proxy` sends none. ' +
        '`fastify-noxf-*` (concurrent A/B only, to keep the run under 10 minutes) is the plugin with `addForwardedHeaders: false`: the difference between its ratios and `fastify-valid`/`fastify-new`\'s is what those four headers cost.'
    )
  }
  if (core !== undefined) {
    out.push('- Core: `createBalancer({ members: 3, routeCookie: \'ROUTEID\' }).select({ cookie, url })` then `finished(decision)`, in a child process on core 0; ' +
      `${core.batches} batches of ${core.batchSize.toLocaleString('en-US')} per position, interleaved, timed with \`process.hrtime.bigint()\` after a warm-up; median (min-max) ns per request. ` +
      'Bytes allocated: young-generation growth over 500-request batches (`v8.getHeapSpaceStatistics()`), batches with a scavenge dropped.')
  }
  if (memory !== undefined) {
    const o = memory.options
    out.push(`- Memory: each sticky gateway in its own process (core 0, \`--expose-gc ${MEMORY_NODE_FLAGS.join(' ')}\`); warm-up of ${o.warmup.toLocaleString('en-US')} requests with fixed values, ` +
      `then ${o.baseline.toLocaleString('en-US')} and then ${(o.clients - o.baseline).toLocaleString('en-US')} more distinct new clients ` +
      '(no cookie, unknown routes `ROUTEID=s<n>.gone<n>` and `ROUTEID=.r<n>`, a route cookie without a route, other cookies only; a distinct query string each). ' +
      `RSS read after two full GCs, after the first ${o.baseline.toLocaleString('en-US')} and four more times evenly spaced up to ${o.clients.toLocaleString('en-US')}; ` +
      `growth = RSS after all clients minus RSS after the first ${o.baseline.toLocaleString('en-US')} (the highest later reading is given too). ` +
      '`--single-threaded-gc` in these processes only (the throughput runs keep V8\'s defaults): with the parallel GC, RSS jumped by 10-20 MB from one reading to the next ' +
      'with the V8 heap and external memory flat, bare proxies included, all of it anonymous memory outside the V8 heap (`/proc/self/status` RssAnon). With one GC thread the jumps went away ' +
      '(with `MALLOC_ARENA_MAX=1`, all but the first): most likely the GC helper threads\' malloc arenas, whose freed pages glibc keeps resident. ' +
      (o.controls ? 'Each bare proxy gets the same traffic as a control: how much RSS moves without stickyroute.' : ''))
  }
  return out
}

export function resultsMarkdown (report: Report): string {
  const { machine, http, core, memory } = report
  const list = verdicts(http, core, memory?.results)
  const n = noise(http, core)
  const out: string[] = []
  out.push('# stickyroute benchmark results', '')
  out.push(`Written by \`pnpm bench\` (bench/run.ts) on ${machine.date}; the whole run took ${Math.round(report.seconds)} s. ` +
    'Numbers from one machine and one run: compare them with each other, not with other machines.', '')
  out.push('## Machine', '')
  out.push(`- \`nproc\`: ${machine.nproc}`)
  out.push(`- CPU model (/proc/cpuinfo): ${machine.cpuModel}`)
  out.push(`- Node: ${machine.node}; Linux ${machine.kernel}`)
  out.push(`- Load average when the run started (1, 5, 15 min; it includes whatever ran before): ${machine.loadAverage.map(l => l.toFixed(2)).join(', ')}`)
  out.push(`- Pinning: ${report.pinned.children ? 'gateways on core 0, load generator and upstreams on core 1 (`taskset`)' : 'none (`taskset` not available): all processes share the cores'}`, '')
  out.push('## Method', '', ...methodLines(report), '')

  if (http !== undefined) {
    out.push('## Throughput and latency', '', markdownTable(ALTERNATING_HEADERS, alternatingRows(http)), '')
    if (http.paired.length > 0) out.push(markdownTable(PAIRED_HEADERS, pairedRows(http)), '')
    out.push('![Throughput relative to the bare proxy of the same framework](ratios.svg)', '')
  }
  out.push('## Targets of issue 5', '', 'Reported, not asserted.', '',
    markdownTable(['target', 'measured', 'wanted', 'holds', 'margin'], list.map(v => [v.name, v.measured, v.target, v.holds ? 'yes' : '**no**', v.margin])), '')
  if (core !== undefined) {
    out.push('## Core microbenchmark', '', `URL \`${core.url}\`; Cookie header of 10 cookies.`, '',
      markdownTable(['route cookie', 'header bytes', 'ns/request', 'bytes allocated/request'],
        core.cases.map(c => [c.position, String(c.headerBytes), `${c.ns.median.toFixed(0)} (${c.ns.min.toFixed(0)}-${c.ns.max.toFixed(0)})`, c.bytesPerRequest.toFixed(0)])), '')
  }
  if (memory !== undefined) {
    out.push('## Memory', '')
    for (const m of memory.results) {
      out.push(`**${m.gateway}**${m.control ? ' (control: the bare proxy under the same traffic, no target)' : ''}: ` +
        `RSS ${signed(m.growthMB)} MB (highest later reading ${signed(m.peakGrowthMB)} MB), heap ${signed(m.heapGrowthMB)} MB (${clientsLabel(m)})${m.failed > 0 ? `; ${m.failed} requests failed` : ''}.`, '')
      out.push(markdownTable(['reading', 'RSS MB', 'heap used MB', 'heap total MB', 'external MB'],
        m.points.map(p => [p.label, (p.rss / MB).toFixed(1), (p.heapUsed / MB).toFixed(1), (p.heapTotal / MB).toFixed(1), (p.external / MB).toFixed(1)])), '')
    }
  }
  out.push('## Noise', '')
  if (n.noisy) {
    out.push('This run looked noisy; other sessions may have been running tests on the machine (or its host) at the same time. Read the affected numbers with care' +
      (n.pairedNoisy ? ' (a median over the rounds is robust to one stray run; the min-max brackets show it):' : ', and prefer the concurrent A/B ratios for the throughput targets:'),
    '', ...n.notes.map(note => `- ${note}`), '')
  } else {
    out.push('No sign of noise: every target\'s runs were within 10 % of each other, the gateways saturated their core, the core\'s speed held, and other processes and the hypervisor took under 10 % of a core.', '')
  }
  if (n.minor.length > 0) out.push('Smaller irregularities:', '', ...n.minor.map(note => `- ${note}`), '')
  if (http !== undefined) {
    out.push('Per target of the alternating runs: the speed of the proxy core before its runs (fixed work, ms: larger = slower), CPU time on both cores outside the bench\'s processes, ' +
      'and hypervisor steal (medians over runs, share of one core):', '',
    markdownTable(['target', 'core speed ms', 'other processes', 'steal'],
      http.alternating.map(s => [s.target.id, `${s.calibrationMs.median.toFixed(2)} (${s.calibrationMs.min.toFixed(2)}-${s.calibrationMs.max.toFixed(2)})`, fmt.pct(s.otherCpu), fmt.pct(s.stealCpu)])), '')
  }
  return out.join('\n')
}

// ---------------------------------------------------------------------------------------------
// bench/ratios.svg

function xml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

const COLORS: Readonly<Record<string, string>> = { fastify: '#2b6cb0', express: '#2f855a' }

interface Bar {
  readonly target: Target
  readonly alternating: Spread | undefined
  readonly concurrent: Spread | undefined
}

/** Bars: each sticky workload's throughput over its bare proxy (alternating runs, with min-max), a diamond for the concurrent A/B ratio, and its target. */
export function ratiosSvg (http: HttpSummary, machine: MachineInfo): string {
  const targets = [...new Set([...http.alternating.filter(s => s.ratio !== undefined).map(s => s.target), ...http.paired.map(p => p.target)])]
  const bars: Bar[] = targets.map(target => ({
    target,
    alternating: http.alternating.find(s => s.target === target)?.ratio,
    concurrent: http.paired.find(p => p.target === target)?.ratio
  }))
  const width = 860
  const height = 420
  const left = 64
  const right = 84
  const top = 76
  const bottom = 92
  const plotH = height - top - bottom
  const plotW = width - left - right
  const highs = bars.flatMap(b => [b.alternating?.max ?? 0, b.concurrent?.max ?? 0]).filter(v => !Number.isNaN(v))
  const yMax = Math.ceil(Math.max(1.1, ...highs.map(v => v + 0.05)) * 5) / 5
  const y = (v: number): number => top + plotH - (v / yMax) * plotH
  const slot = plotW / Math.max(1, bars.length)
  const barW = Math.min(80, slot * 0.55)
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  parts.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">Throughput relative to the bare proxy of the same framework</text>`)
  parts.push(`<text x="${width / 2}" y="42" text-anchor="middle" fill="#555" font-size="11">bars: alternating runs, median of per-round ratios (whiskers: min-max)  |  ` +
    '\u25C6 concurrent A/B, median, vs the bare proxy configured alike  |  red dashes: target of issue 5</text>')
  parts.push(`<text x="${width / 2}" y="58" text-anchor="middle" fill="#555" font-size="11">${xml(machine.cpuModel)}, nproc ${xml(machine.nproc)}, Node ${xml(machine.node)}, ${xml(machine.date.slice(0, 10))}</text>`)
  for (let v = 0; v <= yMax + 1e-9; v += 0.2) {
    const yy = y(v).toFixed(1)
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${yy}" y2="${yy}" stroke="#e2e2e2"/>`)
    parts.push(`<text x="${left - 8}" y="${yy}" dy="4" text-anchor="end" fill="#333">${v.toFixed(1)}</text>`)
  }
  const one = y(1).toFixed(1)
  parts.push(`<line x1="${left}" x2="${width - right}" y1="${one}" y2="${one}" stroke="#333" stroke-width="1.5"/>`)
  parts.push(`<text x="${width - right + 6}" y="${one}" dy="4" fill="#333">bare = 1.0</text>`)
  bars.forEach((b, i) => {
    const cx = left + slot * (i + 0.5)
    const x = cx - barW / 2
    const color = COLORS[b.target.framework] ?? '#666'
    const r = b.alternating
    if (r !== undefined && !Number.isNaN(r.median)) {
      const opacity = b.target.workload === 'new' ? 0.6 : 1
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(r.median).toFixed(1)}" width="${barW.toFixed(1)}" height="${(y(0) - y(r.median)).toFixed(1)}" fill="${color}" fill-opacity="${opacity}"/>`)
      parts.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y(r.min).toFixed(1)}" y2="${y(r.max).toFixed(1)}" stroke="#111" stroke-width="1.5"/>`)
      for (const v of [r.min, r.max]) parts.push(`<line x1="${(cx - 8).toFixed(1)}" x2="${(cx + 8).toFixed(1)}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#111" stroke-width="1.5"/>`)
      parts.push(`<text x="${cx.toFixed(1)}" y="${(y(r.median) + 18).toFixed(1)}" text-anchor="middle" font-weight="bold" fill="#ffffff">${r.median.toFixed(3)}</text>`)
    } else {
      parts.push(`<text x="${cx.toFixed(1)}" y="${(y(0) - 8).toFixed(1)}" text-anchor="middle" fill="#777" font-size="11">A/B only</text>`)
    }
    const c = b.concurrent
    if (c !== undefined && !Number.isNaN(c.median)) {
      const cy = y(c.median)
      const dx = barW / 2 + 14
      parts.push(`<path d="M ${(cx + dx).toFixed(1)} ${(cy - 7).toFixed(1)} l 7 7 l -7 7 l -7 -7 z" fill="#dd6b20" stroke="#111" stroke-width="0.8"/>`)
      parts.push(`<text x="${(cx + dx + 10).toFixed(1)}" y="${cy.toFixed(1)}" dy="4" fill="#9c4221" font-size="10">${c.median.toFixed(2)}</text>`)
    }
    const goal = TARGET_RATIO.get(b.target.id)
    if (goal !== undefined) {
      parts.push(`<line x1="${(x - 6).toFixed(1)}" x2="${(x + barW + 6).toFixed(1)}" y1="${y(goal).toFixed(1)}" y2="${y(goal).toFixed(1)}" stroke="#c53030" stroke-width="2" stroke-dasharray="5 3"/>`)
      parts.push(`<text x="${cx.toFixed(1)}" y="${height - bottom + 52}" text-anchor="middle" fill="#c53030">target &#8805; ${goal.toFixed(2)}</text>`)
    }
    const [framework, workload] = b.target.short
    parts.push(`<text x="${cx.toFixed(1)}" y="${height - bottom + 20}" text-anchor="middle">${xml(framework)}</text>`)
    parts.push(`<text x="${cx.toFixed(1)}" y="${height - bottom + 36}" text-anchor="middle" fill="#444">${xml(workload)}</text>`)
  })
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${y(0)}" stroke="#333"/>`)
  parts.push(`<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">req/s ÷ bare req/s</text>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
