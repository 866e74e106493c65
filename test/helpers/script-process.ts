/**
 * Runs one of the repository's npm scripts (an example gateway, the demo) as a child process, the
 * way a user does: `npm run --silent <script>` from the repository root. The child gets its own
 * process group, so npm, its shell and the script can always be killed together, even when a
 * test fails half-way.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'

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

/** The environment of the test process, minus what would leak into the example: tap's coverage hooks (a child compiled by tsx would report coverage of the packages against other source maps) and any STICKY_*, PORT or HOST of the developer's shell. */
function baseEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === 'NODE_OPTIONS' || key === 'NODE_V8_COVERAGE' || key.startsWith('_TAPJS_') || key.startsWith('STICKY_') || key === 'PORT' || key === 'HOST') continue
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
  /** Resolves when npm has exited and its output is all read (every process holding it has ended too). */
  readonly exited: Promise<Exit>

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
        live.delete(this)
        resolve({ code, signal })
      })
    })
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
      this.exited.then(onExit, reject)
      check()
    })
  }

  /** How npm exited, or `undefined` if it is still running after `ms`. */
  async waitExit (ms: number): Promise<Exit | undefined> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<undefined>(resolve => { timer = setTimeout(() => resolve(undefined), ms) })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Sends `signal` to npm, as `kill <pid>` of `npm run ...` would. npm forwards it to the script,
   * which the package.json scripts `exec`, so no shell stands in between to swallow it.
   */
  kill (signal: NodeJS.Signals): void {
    const pid = this.child.pid
    if (pid === undefined) throw new Error(`npm run ${this.script} has no pid`)
    process.kill(pid, signal)
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
