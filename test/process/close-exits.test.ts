/**
 * Closing the gateway leaves no timer or socket behind: the process ends by itself. Each adapter
 * runs a whole lifetime (members, active health checks, keep-alive traffic, close) in a child
 * process that never calls process.exit; it must exit with code 0 within a few seconds.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const FIXTURE = fileURLToPath(new URL('./fixtures/gateway-lifetime.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const EXIT_WITHIN_MS = 10_000

/** The test process's environment without tap's hooks (coverage, loaders): the child runs the sources through tsx. */
function childEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === 'NODE_OPTIONS' || key === 'NODE_V8_COVERAGE' || key.startsWith('_TAPJS_')) continue
    env[key] = value
  }
  return env
}

t.jobs = 3
for (const adapter of ['fastify', 'express', 'custom']) {
  t.test(`${adapter}: the process exits by itself after close()`, async t => {
    const child = spawn(process.execPath, ['--conditions=@stickyroute/source', '--import', 'tsx', FIXTURE, adapter], {
      cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { out += c.toString() })
    const exit = await new Promise<{ code: number | null, signal: NodeJS.Signals | null, timedOut: boolean }>(resolve => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        resolve({ code: null, signal: 'SIGKILL', timedOut: true })
      }, EXIT_WITHIN_MS)
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        resolve({ code, signal, timedOut: false })
      })
    })
    t.match(out, /closed after [1-9]\d* HTTP health checks/, 'health checks ran, then everything was closed', { output: out })
    t.same(exit, { code: 0, signal: null, timedOut: false }, `exited by itself with code 0 within ${EXIT_WITHIN_MS} ms`, { output: out })
    t.notMatch(out, /still active/, 'nothing left active', { output: out })
  })
}
