/**
 * What the machine is and how busy it was: nproc, CPU model, node version, and per-core CPU time
 * from /proc/stat, to tell how much of a measured window went to processes other than the bench
 * (other sessions running tests here) or to the hypervisor (steal).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism, loadavg, release } from 'node:os'

export interface MachineInfo {
  readonly nproc: string
  readonly cpuModel: string
  readonly node: string
  readonly kernel: string
  readonly date: string
  readonly loadAverage: readonly number[]
}

function nproc (): string {
  try {
    return execFileSync('nproc', { encoding: 'utf8' }).trim()
  } catch {
    return `${availableParallelism()} (os.availableParallelism; nproc not found)`
  }
}

function cpuModel (): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find(l => l.startsWith('model name'))
    return line?.split(':')[1]?.trim() ?? 'unknown'
  } catch {
    return 'unknown (no /proc/cpuinfo)'
  }
}

export function machineInfo (): MachineInfo {
  return {
    nproc: nproc(),
    cpuModel: cpuModel(),
    node: process.version,
    kernel: release(),
    date: new Date().toISOString(),
    loadAverage: loadavg()
  }
}

/** CPU time of one core from /proc/stat, in clock ticks (USER_HZ, 100 per second on Linux). */
export interface CoreTimes {
  /** user + nice + system: time in processes. */
  readonly task: number
  /** irq + softirq. */
  readonly irq: number
  readonly idle: number
  readonly steal: number
}

const TICKS_PER_SECOND = 100

/** Per-core times, or `undefined` where /proc/stat is not readable. */
export function readCoreTimes (): CoreTimes[] | undefined {
  try {
    return readFileSync('/proc/stat', 'utf8').split('\n')
      .filter(l => /^cpu\d+ /.test(l))
      .map(l => {
        const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = l.trim().split(/\s+/).slice(1).map(Number)
        return { task: user + nice + system, irq: irq + softirq, idle: idle + iowait, steal }
      })
  } catch {
    return undefined
  }
}

/** Busy time of a window, in core-seconds, summed over all cores. */
export interface WindowLoad {
  /** Time in processes (ours and others'). */
  readonly task: number
  readonly irq: number
  readonly steal: number
}

export function windowLoad (before: CoreTimes[] | undefined, after: CoreTimes[] | undefined): WindowLoad | undefined {
  if (before === undefined || after === undefined) return undefined
  let task = 0
  let irq = 0
  let steal = 0
  after.forEach((a, i) => {
    const b = before[i]
    if (b === undefined) return
    task += a.task - b.task
    irq += a.irq - b.irq
    steal += a.steal - b.steal
  })
  return { task: task / TICKS_PER_SECOND, irq: irq / TICKS_PER_SECOND, steal: steal / TICKS_PER_SECOND }
}
