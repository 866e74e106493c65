/**
 * Child processes of the bench, pinned to a core with `taskset` where it exists, and the cleanup
 * that makes sure none of them outlives the run (normal exit, error, or a signal).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { isChildMessage, type ChildMessage, type ParentMessage, type ProcessStats } from './ipc.js'

/** The core the gateways (and the core microbenchmark) run on. */
export const PROXY_CPU = 0
/** The core the load generator and the upstreams run on. */
export const LOAD_CPU = 1

/** `true` when `taskset` can pin processes here (it exists and the kernel lets us set affinities). */
export const HAS_TASKSET = spawnSync('taskset', ['-c', String(LOAD_CPU), 'true'], { stdio: 'ignore' }).status === 0

/**
 * Node flags of every child: run the TypeScript sources as the npm script does. Not
 * process.execArgv, which would also pass on whatever else this process was started with
 * (--inspect, --cpu-prof, or an --eval that would start the bench again in every child).
 */
const CHILD_NODE_FLAGS = ['--conditions=@stickyroute/source', '--import', 'tsx'] as const

const children = new Set<ChildProcess>()

function killAll (): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
}

let cleanupInstalled = false

/** Kills every child still running when this process exits, however it exits. */
export function installCleanup (): void {
  if (cleanupInstalled) return
  cleanupInstalled = true
  process.once('exit', killAll)
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      killAll()
      process.exit(code)
    })
  }
}

/** Pins this process (all its threads) to `cpu`. Returns `false` when it could not. */
export function pinSelf (cpu: number): boolean {
  if (!HAS_TASKSET) return false
  return spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' }).status === 0
}

/** The scripts' path from a bench file name (they sit next to this one). */
export function benchScript (file: string): string {
  return fileURLToPath(new URL(file, import.meta.url))
}

interface SpawnOptions {
  /** Pin the child to this core (when taskset exists). */
  cpu: number
  /** Run with --expose-gc so `stats` can collect garbage first. */
  exposeGc?: boolean
  /** More node (V8) flags. */
  nodeFlags?: readonly string[]
}

/** Starts `node <tsx flags> <script> <args>` with an IPC channel, pinned to `cpu`. */
function spawnNode (script: string, args: readonly string[], { cpu, exposeGc = false, nodeFlags = [] }: SpawnOptions): ChildProcess {
  const nodeArgs = [...CHILD_NODE_FLAGS, ...(exposeGc ? ['--expose-gc'] : []), ...nodeFlags, script, ...args]
  const [command, commandArgs] = HAS_TASKSET
    ? ['taskset', ['-c', String(cpu), process.execPath, ...nodeArgs]] as const
    : [process.execPath, nodeArgs] as const
  // taskset execs node in place: the child's pid is node's, and the IPC channel passes through.
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  // Spawn and IPC errors also reach whoever waits on the child (nextMessage); never crash on them.
  child.on('error', () => {})
  return child
}

/** The next message from `child` that `accept` takes, or an error if it exits first or takes longer than `timeoutMs`. */
async function nextMessage<T extends ChildMessage> (child: ChildProcess, accept: (m: ChildMessage) => m is T, what: string, timeoutMs: number): Promise<T> {
  if (child.exitCode !== null || child.signalCode !== null) throw new Error(`bench: child ${child.pid ?? '?'} has exited; no ${what}`)
  return await new Promise<T>((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
      child.off('error', onError)
    }
    const onMessage = (message: unknown): void => {
      if (isChildMessage(message) && accept(message)) {
        cleanup()
        resolve(message)
      }
    }
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      cleanup()
      reject(new Error(`bench: child ${child.pid ?? '?'} exited (${signal ?? String(code)}) while waiting for ${what}`))
    }
    const onError = (error: Error): void => {
      cleanup()
      reject(new Error(`bench: child process failed while waiting for ${what}: ${error.message}`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`bench: no ${what} from child ${child.pid ?? '?'} within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('message', onMessage)
    child.once('exit', onExit)
    child.once('error', onError)
  })
}

type Ready = Extract<ChildMessage, { type: 'ready' }>
type Stats = Extract<ChildMessage, { type: 'stats' }>
type Result = Extract<ChildMessage, { type: 'result' }>
type Calibrated = Extract<ChildMessage, { type: 'calibrated' }>

/** A bench server running in its own process (bench/gateway-process.ts). */
export class ServerProcess {
  readonly name: string
  readonly ports: readonly number[]
  readonly #child: ChildProcess

  private constructor (name: string, child: ChildProcess, ports: readonly number[]) {
    this.name = name
    this.#child = child
    this.ports = ports
  }

  /** Starts the server `name` (a gateway name, or `'upstreams'`) and waits until it listens. */
  static async start (name: string, args: readonly string[], options: SpawnOptions): Promise<ServerProcess> {
    const child = spawnNode(benchScript('./gateway-process.ts'), [name, ...args], options)
    try {
      const ready = await nextMessage(child, (m): m is Ready => m.type === 'ready', `${name} ready`, 30_000)
      return new ServerProcess(name, child, ready.ports)
    } catch (error) {
      child.kill('SIGKILL')
      throw error
    }
  }

  get pid (): number {
    return this.#child.pid ?? -1
  }

  /** The origins the server listens at. */
  get origins (): string[] {
    return this.ports.map(port => `http://127.0.0.1:${port}`)
  }

  /** Its RSS, heap and CPU time now (after a full GC when `gc` and the child runs with --expose-gc). */
  async stats (gc = false): Promise<ProcessStats> {
    // The answer cannot arrive before the listener is on: IPC messages come in from the event loop.
    this.#send({ type: 'stats', gc })
    const { rss, heapUsed, heapTotal, external, cpuMicros } = await nextMessage(this.#child, (m): m is Stats => m.type === 'stats', `${this.name} stats`, 10_000)
    return { rss, heapUsed, heapTotal, external, cpuMicros }
  }

  /** Milliseconds a fixed piece of CPU work takes in it now (its core's speed; larger = slower). */
  async calibrate (): Promise<number> {
    this.#send({ type: 'calibrate' })
    return (await nextMessage(this.#child, (m): m is Calibrated => m.type === 'calibrated', `${this.name} calibration`, 10_000)).ms
  }

  /** Asks it to close and exit; kills it if it has not exited within 5 s. */
  async close (): Promise<void> {
    const child = this.#child
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
    if (child.connected) child.send({ type: 'close' } satisfies ParentMessage, () => {})
    else child.kill('SIGKILL')
    await exited
    clearTimeout(timer)
  }

  #send (message: ParentMessage): void {
    if (!this.#child.connected) throw new Error(`bench: ${this.name} (pid ${this.pid}) is gone`)
    // A send that fails later shows up as the child's exit, which the waiting caller sees.
    this.#child.send(message, () => {})
  }
}

/** Runs a one-shot bench script in its own pinned process and returns the result it sends. */
export async function runChild (script: string, args: readonly string[], options: SpawnOptions & { timeoutMs: number }): Promise<unknown> {
  const child = spawnNode(benchScript(script), args, options)
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  try {
    const message = await nextMessage(child, (m): m is Result => m.type === 'result', `${script} result`, options.timeoutMs)
    return message.result
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.disconnect()
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }
}
