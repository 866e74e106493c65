/**
 * Runs one of the repository's npm scripts (an example gateway, the demo) as a child process, the
 * way a user does: `npm run --silent <script>` from the repository root. The child gets its own
 * process group, so npm, its shell and the script can always be killed together, even when a
 * test fails half-way.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A port that was free a moment ago: bound on 127.0.0.1:0, then closed. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

/** The environment of the test process, minus what would leak into the example: tap's coverage hooks and any STICKY_*, PORT or HOST of the developer's shell. */
function baseEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === 'NODE_OPTIONS' || key.startsWith('_TAPJS_') || key.startsWith('STICKY_') || key === 'PORT' || key === 'HOST') continue
    env[key] = value
  }
  // npm would otherwise look up its own newest version on the registry.
  env['npm_config_update_notifier'] = 'false'
  return env
}

const live = new Set<ScriptProcess>()
// Should the test process itself end early, take its children along.
process.once('exit', () => { for (const p of live) p.killAll() })

export class ScriptProcess {
  readonly script: string
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  /** Resolves when npm exits. */
  readonly exited: Promise<Exit>
  #exit: Exit | undefined

  constructor (script: string, env: Record<string, string>) {
    this.script = script
    this.child = spawn('npm', ['run', '--silent', script], {
      cwd: ROOT,
      env: { ...baseEnv(), ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    live.add(this)
    this.child.stdout?.setEncoding('utf8').on('data', (s: string) => { this.stdout += s })
    this.child.stderr?.setEncoding('utf8').on('data', (s: string) => { this.stderr += s })
    this.exited = new Promise(resolve => {
      this.child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.#exit = { code, signal }
        live.delete(this)
        resolve(this.#exit)
      })
    })
  }

  get running (): boolean {
    return this.#exit === undefined
  }

  /** What the process printed, for failure messages. */
  get output (): string {
    return `npm run ${this.script}\n--- stdout ---\n${this.stdout}--- stderr ---\n${this.stderr}`
  }

  /** Resolves with the first match of `pattern` in stdout; rejects when npm exits first or `timeout` ms pass. */
  async waitFor (pattern: RegExp, timeout: number): Promise<RegExpExecArray> {
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(this.stdout)
        if (match !== null) done(() => resolve(match))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`no ${String(pattern)} within ${timeout} ms\n${this.output}`))), timeout)
      const onExit = (exit: Exit): void => {
        check()
        done(() => reject(new Error(`exited (${JSON.stringify(exit)}) before printing ${String(pattern)}\n${this.output}`)))
      }
      const done = (settle: () => void): void => {
        clearTimeout(timer)
        this.child.stdout?.off('data', check)
        settle()
      }
      this.child.stdout?.on('data', check)
      void this.exited.then(onExit)
      check()
    })
  }

  /** How npm exited, or `undefined` if it is still running after `ms`. */
  async waitExit (ms: number): Promise<Exit | undefined> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<undefined>(resolve => { timer = setTimeout(resolve, ms) })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Sends `signal` to the script itself (npm's descendant that has no children: the node process),
   * as `kill <pid>` would. Not to npm: npm hands it to the shell running the script, and a shell
   * that does not exec its command (dash) dies of it and leaves the script running.
   */
  async kill (signal: NodeJS.Signals): Promise<void> {
    const pid = this.child.pid
    if (pid === undefined) throw new Error(`npm run ${this.script} has no pid`)
    const { stdout } = await promisify(execFile)('ps', ['-A', '-o', 'pid=,ppid='])
    const children = new Map<number, number[]>()
    for (const line of stdout.trim().split('\n')) {
      const [child, parent] = line.trim().split(/\s+/).map(Number)
      if (child === undefined || parent === undefined) continue
      children.set(parent, [...(children.get(parent) ?? []), child])
    }
    const leaves: number[] = []
    const walk = (p: number): void => {
      const kids = children.get(p) ?? []
      if (kids.length === 0 && p !== pid) leaves.push(p)
      kids.forEach(walk)
    }
    walk(pid)
    if (leaves.length === 0) throw new Error(`npm run ${this.script}: no script process found under npm (pid ${pid})\n${this.output}`)
    for (const leaf of leaves) process.kill(leaf, signal)
  }

  /** SIGKILL to npm, the shell and the script at once (their process group). Safe to call at any time. */
  killAll (): void {
    const pid = this.child.pid
    if (pid === undefined) return
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // The group is gone already.
    }
  }
}
