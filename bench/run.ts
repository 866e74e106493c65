/**
 * `pnpm bench`: the benchmark of issue 5, in one run.
 *
 *   1. core: the balancer's per-request work (bench/core.ts), in a child on the proxy core;
 *   2. http: bare @fastify/http-proxy and http-proxy-middleware against the stickyroute plugin
 *      and middleware, with autocannon, targets alternated round by round, then a concurrent
 *      A/B cross-check of each sticky workload against its bare proxy (bench/http.ts);
 *   3. memory: RSS of each sticky gateway after 100,000 vs 1,000 distinct new clients (bench/memory.ts).
 *
 * Prints the tables and which targets hold; after a full run also writes bench/results.md and
 * bench/ratios.svg. Loopback only.
 *
 * Environment:
 *   BENCH_RUNS=3             alternating rounds (measured runs per target)
 *   BENCH_DURATION=5         seconds per measured run
 *   BENCH_WARMUP=3           seconds of warm-up of every fresh gateway before it is measured
 *   BENCH_CONNECTIONS=50     autocannon connections (halved per gateway in the concurrent A/B runs)
 *   BENCH_PAIRED_RUNS=3      rounds of the concurrent A/B cross-check (0 skips it)
 *   BENCH_ONLY=core|http|memory   one part (or a comma list); results.md is written only when all ran
 *   BENCH_MEMORY_CLIENTS=100000, BENCH_MEMORY_BASELINE=1000, BENCH_MEMORY_WARMUP=10000
 *   BENCH_MEMORY_CONTROLS=1  also measure each bare proxy under the same traffic (0 skips it)
 */
import { writeFileSync } from 'node:fs'
import { formatCore, type CoreResult } from './core.js'
import { runHttp, type HttpOptions } from './http.js'
import { machineInfo } from './machine.js'
import { formatMemory, runMemory, type MemoryOptions } from './memory.js'
import { benchScript, HAS_TASKSET, installCleanup, LOAD_CPU, pinSelf, PROXY_CPU, ServerProcess, runChild } from './processes.js'
import { httpTables, noise, ratiosSvg, resultsMarkdown, summarizeHttp, verdicts, verdictTable, type Report } from './report.js'

const PARTS = ['core', 'http', 'memory'] as const
type Part = typeof PARTS[number]

function intFromEnv (name: string, fallback: number, min: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min) throw new Error(`bench: ${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`)
  return value
}

function partsFromEnv (): Set<Part> {
  const raw = process.env['BENCH_ONLY']
  if (raw === undefined || raw === '' || raw === 'all') return new Set(PARTS)
  const parts = raw.split(',').map(p => p.trim())
  for (const p of parts) {
    if (!(PARTS as readonly string[]).includes(p)) throw new Error(`bench: BENCH_ONLY takes ${PARTS.join(', ')} (or a comma list), got ${JSON.stringify(p)}`)
  }
  return new Set(parts as Part[])
}

function isCoreResult (value: unknown): value is CoreResult {
  return typeof value === 'object' && value !== null && Array.isArray((value as { cases?: unknown }).cases)
}

async function main (): Promise<void> {
  const started = process.hrtime.bigint()
  const parts = partsFromEnv()
  const connections = intFromEnv('BENCH_CONNECTIONS', 50, 1)
  const httpOptions: HttpOptions = {
    runs: intFromEnv('BENCH_RUNS', 3, 1),
    duration: intFromEnv('BENCH_DURATION', 5, 1),
    warmup: intFromEnv('BENCH_WARMUP', 3, 0),
    connections,
    pairedRuns: intFromEnv('BENCH_PAIRED_RUNS', 3, 0)
  }
  const memoryOptions: MemoryOptions = {
    connections,
    clients: intFromEnv('BENCH_MEMORY_CLIENTS', 100_000, 2),
    baseline: intFromEnv('BENCH_MEMORY_BASELINE', 1_000, 1),
    warmup: intFromEnv('BENCH_MEMORY_WARMUP', 10_000, 1),
    controls: intFromEnv('BENCH_MEMORY_CONTROLS', 1, 0) > 0
  }
  if (memoryOptions.baseline >= memoryOptions.clients) throw new Error('bench: BENCH_MEMORY_BASELINE must be below BENCH_MEMORY_CLIENTS')

  installCleanup()
  const machine = machineInfo()
  const pinnedSelf = pinSelf(LOAD_CPU)
  console.log(`stickyroute bench: ${machine.cpuModel}, nproc ${machine.nproc}, Node ${machine.node}, ${machine.date}`)
  console.log(HAS_TASKSET
    ? `pinning: gateways on core ${PROXY_CPU}; load generator (this process${pinnedSelf ? '' : ', NOT pinned'}) and upstreams on core ${LOAD_CPU}`
    : 'pinning: taskset not found, nothing is pinned (numbers are less stable)')
  console.log(`parts: ${[...parts].join(', ')}`)

  let core: CoreResult | undefined
  if (parts.has('core')) {
    console.log('\n== core microbenchmark ==')
    const result = await runChild('./core.ts', [], { cpu: PROXY_CPU, timeoutMs: 180_000 })
    if (!isCoreResult(result)) throw new Error('bench: bench/core.ts sent no result')
    core = result
    console.log(formatCore(core))
  }

  let http: Report['http']
  let memory: Report['memory']
  if (parts.has('http') || parts.has('memory')) {
    const upstreams = await ServerProcess.start('upstreams', [], { cpu: LOAD_CPU })
    try {
      if (parts.has('http')) {
        console.log(`\n== HTTP: ${httpOptions.runs} alternating rounds, ${httpOptions.duration} s per run (fresh gateway, ${httpOptions.warmup} s warm-up), ${connections} connections ==`)
        http = summarizeHttp(await runHttp(upstreams, httpOptions, line => console.log(line)))
        console.log('\n' + httpTables(http))
      }
      if (parts.has('memory')) {
        console.log(`\n== memory: ${memoryOptions.baseline.toLocaleString('en-US')} vs ${memoryOptions.clients.toLocaleString('en-US')} distinct new clients ==`)
        const results = await runMemory(upstreams.origins, memoryOptions)
        memory = { options: memoryOptions, results }
        console.log(formatMemory(results))
      }
    } finally {
      await upstreams.close()
    }
  }

  const list = verdicts(http, core, memory?.results)
  if (list.length > 0) console.log('\n== targets (reported, not asserted) ==\n' + verdictTable(list))
  const n = noise(http, core)
  if (n.noisy) console.log('\nnoise:\n' + n.notes.map(note => `  - ${note}`).join('\n'))
  if (n.minor.length > 0) console.log('\nsmaller irregularities:\n' + n.minor.map(note => `  - ${note}`).join('\n'))

  const report: Report = {
    machine,
    pinned: { parent: pinnedSelf, children: HAS_TASKSET },
    http,
    core,
    memory,
    seconds: Number(process.hrtime.bigint() - started) / 1e9
  }
  if (parts.size === PARTS.length && http !== undefined) {
    writeFileSync(benchScript('./results.md'), resultsMarkdown(report))
    writeFileSync(benchScript('./ratios.svg'), ratiosSvg(http, machine))
    console.log(`\nwrote bench/results.md and bench/ratios.svg (${Math.round(report.seconds)} s)`)
  } else {
    console.log(`\npartial run (BENCH_ONLY): bench/results.md and bench/ratios.svg left as they were (${Math.round(report.seconds)} s)`)
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(error)
  process.exit(1)
})
