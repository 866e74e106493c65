/**
 * Child process entry: starts one bench server by name and answers the parent over IPC.
 *
 *   node --conditions=@stickyroute/source --import tsx bench/gateway-process.ts <gateway> <upstream origin>...
 *   node --conditions=@stickyroute/source --import tsx bench/gateway-process.ts upstreams
 *
 * Reports `{ type: 'ready', ports }`, then answers `stats` (RSS, heap, CPU time), `calibrate`
 * (how fast its core is now) and `close`.
 * It exits when the parent goes away (the IPC channel closes), so no server outlives a bench run.
 */
import { calibrate } from './calibrate.js'
import { isGatewayName, startGateway, startUpstreams, type Started } from './gateways.js'
import { isParentMessage, type ChildMessage } from './ipc.js'

function send (message: ChildMessage): void {
  process.send?.(message)
}

if (process.send === undefined) {
  console.error('bench/gateway-process.ts runs as a child of bench/run.ts: it needs an IPC channel.')
  process.exit(2)
}
process.on('disconnect', () => process.exit(0))

const [name = '', ...upstreams] = process.argv.slice(2)
let started: Started
if (name === 'upstreams') started = await startUpstreams()
else if (isGatewayName(name)) started = await startGateway(name, upstreams)
else throw new Error(`bench/gateway-process.ts: unknown server ${JSON.stringify(name)}`)

const gc = (globalThis as { gc?: () => void }).gc

process.on('message', (message: unknown) => {
  if (!isParentMessage(message)) return
  if (message.type === 'close') {
    started.close().then(() => process.exit(0), (error: unknown) => {
      console.error(error)
      process.exit(1)
    })
    return
  }
  if (message.type === 'calibrate') {
    send({ type: 'calibrated', ms: calibrate() })
    return
  }
  if (message.gc && gc !== undefined) {
    gc()
    gc()
  }
  const memory = process.memoryUsage()
  const cpu = process.cpuUsage()
  send({ type: 'stats', rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external, cpuMicros: cpu.user + cpu.system })
})

send({ type: 'ready', ports: started.ports })
