/**
 * Soak: a million requests through each sticky gateway (its own process, pinned to the proxy
 * core), half from clients that present a valid route and half from distinct new clients (each
 * with its own id and cookie values), with the gateway's RSS and heap read after two full GCs
 * every 100,000 requests. Cookie routing keeps no per-client state, so both lines must stay flat
 * after the warm-up: the report gives the first and last readings and the largest step. The
 * gateways run with the memory check's node flags (MEMORY_NODE_FLAGS, bench/memory.ts: one GC
 * thread, so that RSS is not blurred by the GC helper threads' malloc arenas).
 *
 *   pnpm bench:soak                      (both gateways, 1,000,000 requests each)
 *   SOAK_REQUESTS=200000 pnpm bench:soak (a shorter run)
 *
 * Writes bench/soak.md. Nothing is asserted: the figures are for the closing note and the README.
 */
import type autocannon from 'autocannon'
import { writeFileSync } from 'node:fs'
import { ROUTE_COOKIE, VALID_ROUTE, type GatewayName } from './gateways.js'
import { load } from './load.js'
import { machineInfo, type MachineInfo } from './machine.js'
import { MEMORY_NODE_FLAGS } from './memory.js'
import { benchScript, installCleanup, LOAD_CPU, pinSelf, PROXY_CPU, ServerProcess } from './processes.js'

const MB = 1024 * 1024
const GATEWAYS: readonly GatewayName[] = ['fastify-sticky', 'express-sticky']
const TOTAL = Number(process.env['SOAK_REQUESTS'] ?? 1_000_000)
const STEP = Math.max(10_000, Math.round(TOTAL / 10))
const CONNECTIONS = 50

interface Reading { readonly requests: number, readonly rss: number, readonly heapUsed: number }
interface SoakResult { readonly gateway: GatewayName, readonly readings: readonly Reading[], readonly failed: number, readonly seconds: number }

/** Requests alternate between a returning client (valid route) and a distinct new client. */
function mixed (next: () => number): autocannon.Request[] {
  return [{
    setupRequest: request => {
      const id = next()
      return id % 2 === 0
        ? { ...request, method: 'GET', path: '/', headers: { cookie: `${ROUTE_COOKIE}=.${VALID_ROUTE}` } }
        : { ...request, method: 'GET', path: `/?client=${id}`, headers: { cookie: `sid=${id.toString(36)}; ${ROUTE_COOKIE}=x${id}.gone${id}` } }
    }
  }]
}

async function soak (gateway: GatewayName, upstreams: readonly string[]): Promise<SoakResult> {
  const server = await ServerProcess.start(gateway, upstreams, { cpu: PROXY_CPU, exposeGc: true, nodeFlags: MEMORY_NODE_FLAGS })
  const started = Date.now()
  try {
    const url = `${server.origins[0] as string}/`
    let id = 0
    const next = (): number => id++
    const readings: Reading[] = []
    let failed = 0
    const read = async (requests: number): Promise<void> => {
      const s = await server.stats(true)
      readings.push({ requests, rss: s.rss, heapUsed: s.heapUsed })
      console.log(`  ${gateway}: ${requests.toLocaleString('en-US').padStart(9)} requests  RSS ${(s.rss / MB).toFixed(1)} MB  heap ${(s.heapUsed / MB).toFixed(1)} MB`)
    }
    // Warm-up: the JIT and the young generation reach their working size before the first reading.
    const warm = await load({ url, connections: CONNECTIONS, amount: 20_000, requests: mixed(next) })
    failed += warm.errors + warm.non2xx
    let served = 0
    await read(served)
    while (served < TOTAL) {
      const run = await load({ url, connections: CONNECTIONS, amount: Math.min(STEP, TOTAL - served), requests: mixed(next) })
      failed += run.errors + run.non2xx
      served += run.requests
      await read(served)
    }
    return { gateway, readings, failed, seconds: (Date.now() - started) / 1000 }
  } finally {
    await server.close()
  }
}

function summary (r: SoakResult): { first: Reading, last: Reading, maxStep: number, peak: number } {
  const first = r.readings[0] as Reading
  const last = r.readings[r.readings.length - 1] as Reading
  let maxStep = 0
  for (let i = 1; i < r.readings.length; i++) {
    maxStep = Math.max(maxStep, Math.abs((r.readings[i] as Reading).rss - (r.readings[i - 1] as Reading).rss))
  }
  return { first, last, maxStep, peak: Math.max(...r.readings.map(x => x.rss)) }
}

function markdown (m: MachineInfo, results: readonly SoakResult[]): string {
  const lines = [
    '# Soak: a million requests, memory before and after',
    '',
    `Machine: ${m.cpuModel}, ${m.nproc} cores, Node ${m.node}, Linux ${m.kernel}. Written by \`pnpm bench:soak\` (bench/soak.ts) on ${m.date.slice(0, 10)}.`,
    '',
    `Each gateway runs in its own process pinned to core ${PROXY_CPU} (\`--expose-gc ${MEMORY_NODE_FLAGS.join(' ')}\`, as in the memory check of \`pnpm bench\`); autocannon (${CONNECTIONS} connections) and three keep-alive upstreams on core ${LOAD_CPU}.`,
    'Half the requests come from a returning client (`ROUTEID=.b`), half from a distinct new client with its own id and cookie values',
    '(each gets a balancer cookie). RSS and heap are read after two full GCs, after a 20,000-request warm-up and then every',
    `${STEP.toLocaleString('en-US')} requests.`,
    '',
    '| gateway | requests | failed | RSS first → last (MB) | largest step (MB) | heap first → last (MB) | seconds |',
    '|---|---|---|---|---|---|---|'
  ]
  for (const r of results) {
    const s = summary(r)
    lines.push(`| ${r.gateway} | ${s.last.requests.toLocaleString('en-US')} | ${r.failed} | ${(s.first.rss / MB).toFixed(1)} → ${(s.last.rss / MB).toFixed(1)} | ${(s.maxStep / MB).toFixed(1)} | ${(s.first.heapUsed / MB).toFixed(1)} → ${(s.last.heapUsed / MB).toFixed(1)} | ${Math.round(r.seconds)} |`)
  }
  lines.push('', '## Readings', '')
  for (const r of results) {
    lines.push(`${r.gateway}:`, '', '| requests | RSS (MB) | heap (MB) |', '|---|---|---|')
    for (const x of r.readings) lines.push(`| ${x.requests.toLocaleString('en-US')} | ${(x.rss / MB).toFixed(1)} | ${(x.heapUsed / MB).toFixed(1)} |`)
    lines.push('')
  }
  return lines.join('\n')
}

installCleanup()
// Before pinning: nproc counts the cores this process may use.
const machine = machineInfo()
pinSelf(LOAD_CPU)
const upstreams = await ServerProcess.start('upstreams', [], { cpu: LOAD_CPU })
const results: SoakResult[] = []
try {
  for (const gateway of GATEWAYS) {
    console.log(`== soak: ${gateway}, ${TOTAL.toLocaleString('en-US')} requests ==`)
    results.push(await soak(gateway, upstreams.origins))
  }
} finally {
  await upstreams.close()
}
writeFileSync(benchScript('./soak.md'), markdown(machine, results))
console.log('\nwrote bench/soak.md')
process.exit(0)
