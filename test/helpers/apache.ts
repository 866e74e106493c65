/**
 * A real Apache httpd 2.4 (`mod_proxy_balancer`) configured from stickyroute options, for the
 * differential tests in test/apache/. Each call writes a self-contained httpd.conf in a fresh
 * temporary directory (server root, pid file, error log, runtime dir and mutexes all inside it),
 * runs `/usr/sbin/apache2 -f <conf> -DFOREGROUND` on a free 127.0.0.1 port, and `close()` stops
 * it and removes the directory.
 *
 * The translation follows shared/spec/apache-behaviour.md: members become `BalancerMember <url>
 * route=<route> loadfactor=<n> retry=<retry>`, the balancer options `ProxySet stickysession=...`,
 * and Method 2 (a `routeCookie`) the `Header add Set-Cookie ... env=BALANCER_ROUTE_CHANGED` line,
 * written with stickyroute's default attributes (`Path=/; HttpOnly; SameSite=Lax`) so that the
 * bytes can be compared.
 *
 * Apache cannot take an injected clock: passing `now` is an error. Use a small real `retry`.
 *
 * Debian: `apt-get install -y --no-install-recommends apache2` (the binary and the module .so files
 * come from the `apache2-bin` package).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, connect, type AddressInfo } from 'node:net'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StickyOptions } from '@stickyroute/core'
import type { Gateway, GatewaySettings } from '../conformance/harness.js'

export const APACHE_BIN = '/usr/sbin/apache2'
export const APACHE_MODULES = '/usr/lib/apache2/modules'
export const APACHE_MISSING = 'apache2 is not installed: apt-get install -y --no-install-recommends apache2'

/** The attributes stickyroute writes on its balancer cookie by default (plain HTTP). */
const COOKIE_ATTRIBUTES = 'Path=/; HttpOnly; SameSite=Lax'

const MODULES: ReadonlyArray<[string, string]> = [
  ['mpm_event_module', 'mod_mpm_event.so'],
  ['authz_core_module', 'mod_authz_core.so'],
  ['headers_module', 'mod_headers.so'],
  ['slotmem_shm_module', 'mod_slotmem_shm.so'],
  ['proxy_module', 'mod_proxy.so'],
  ['proxy_http_module', 'mod_proxy_http.so'],
  ['proxy_balancer_module', 'mod_proxy_balancer.so'],
  ['lbmethod_byrequests_module', 'mod_lbmethod_byrequests.so']
]

/** `true` when the Apache binary and its proxy modules are there. */
export function apacheInstalled (): boolean {
  return existsSync(APACHE_BIN) && existsSync(join(APACHE_MODULES, 'mod_proxy_balancer.so'))
}

/** The installed version, e.g. `Apache/2.4.71 (Debian)`. */
export async function apacheVersion (): Promise<string> {
  if (!apacheInstalled()) throw new Error(APACHE_MISSING)
  const child = spawn(APACHE_BIN, ['-v'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8') })
  await new Promise<void>((resolve, reject) => { child.once('error', reject); child.once('close', () => resolve()) })
  return /Server version:\s*(.+)/.exec(out)?.[1]?.trim() ?? out.trim()
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

function cookieNameOf (options: StickyOptions): string | undefined {
  const rc = options.routeCookie
  if (rc === undefined || rc === false) return undefined
  const sessionCookie = typeof options.stickySession === 'string'
    ? options.stickySession.split('|')[0]
    : options.stickySession?.cookie
  if (rc === true) return sessionCookie ?? 'ROUTEID'
  if (typeof rc === 'string') return rc
  const { name, ...attributes } = rc
  if (Object.keys(attributes).length > 0) {
    throw new Error(`startApache: routeCookie attributes (${Object.keys(attributes).join(', ')}) are not translated; only the default ones (${COOKIE_ATTRIBUTES}) are written`)
  }
  return name ?? sessionCookie ?? 'ROUTEID'
}

function stickySessionOf (options: StickyOptions): string {
  const s = options.stickySession
  if (s === undefined) return cookieNameOf(options) ?? 'ROUTEID'
  if (typeof s === 'string') return s
  if (s.urlParam === false) throw new Error('startApache: Apache always reads the URL too; stickySession.urlParam: false cannot be translated')
  return s.urlParam === undefined ? s.cookie : `${s.cookie}|${s.urlParam}`
}

function directiveValue (value: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value)) throw new Error(`startApache: ${JSON.stringify(value)} cannot be written into httpd.conf unquoted`)
  return value
}

/** Where and how Apache is mounted. */
export interface ApacheSettings extends GatewaySettings {
  /**
   * The attributes of the Method 2 `Header add Set-Cookie` line. Defaults to stickyroute's
   * (`Path=/; HttpOnly; SameSite=Lax`); the spec's tutorial line has `path=/`.
   */
  cookieAttributes?: string
}

/** The httpd.conf text for `options`, rooted in `dir` and listening on `port`. */
export function apacheConfig (options: StickyOptions, settings: ApacheSettings, dir: string, port: number): string {
  if (options.now !== undefined) throw new Error('startApache: Apache cannot take an injected clock (now); use a small real retry and wait')
  const prefix = settings.prefix.replace(/\/+$/, '')
  const members = options.members.map(m => {
    const attrs = [`route=${directiveValue(m.route)}`]
    if (options.retry !== undefined) attrs.push(`retry=${options.retry}`)
    if (m.loadFactor !== undefined) attrs.push(`loadfactor=${m.loadFactor}`)
    return `  BalancerMember ${new URL(m.url).origin} ${attrs.join(' ')}`
  })
  const set = [`stickysession=${stickySessionOf(options).split('|').map(directiveValue).join('|')}`, 'lbmethod=byrequests']
  if (options.routeSeparator === false) set.push('stickysessionsep=Off')
  else if (options.routeSeparator !== undefined) set.push(`stickysessionsep=${directiveValue(options.routeSeparator)}`)
  if (options.noFailover === true) set.push('nofailover=On')
  if (options.maxAttempts !== undefined) set.push(`maxattempts=${options.maxAttempts}`)
  if (options.forceRecovery === false) set.push('forcerecovery=Off')
  const cookie = cookieNameOf(options)
  const lines = [
    `ServerRoot "${dir}"`,
    // X-Forwarded-Server carries the ServerName; our adapters send os.hostname().
    `ServerName "${hostname() === '' ? '127.0.0.1' : hostname()}"`,
    `Listen 127.0.0.1:${port}`,
    `PidFile "${join(dir, 'httpd.pid')}"`,
    `ErrorLog "${join(dir, 'error.log')}"`,
    'LogLevel warn',
    `DefaultRuntimeDir "${dir}"`,
    `Mutex file:${dir} default`,
    ...MODULES.map(([name, file]) => `LoadModule ${name} ${join(APACHE_MODULES, file)}`),
    // Only root may switch users; as root, the children run as nobody.
    ...(process.getuid?.() === 0 ? ['User nobody', 'Group nogroup'] : []),
    // One child process (the balancer state is in shared memory anyway).
    'StartServers 1',
    'ServerLimit 1',
    'ThreadLimit 16',
    'ThreadsPerChild 16',
    'MaxRequestWorkers 16',
    'MinSpareThreads 1',
    'MaxSpareThreads 16',
    'KeepAlive Off',
    'ServerTokens Prod',
    '',
    '<Proxy "balancer://cluster">',
    ...members,
    `  ProxySet ${set.join(' ')}`,
    '  Require all granted',
    '</Proxy>',
    `ProxyPass "${prefix}/" "balancer://cluster/"`,
    `ProxyPassReverse "${prefix}/" "balancer://cluster/"`,
    `ProxyPreserveHost ${options.preserveHost === true ? 'On' : 'Off'}`,
    `ProxyAddHeaders ${options.addForwardedHeaders === false ? 'Off' : 'On'}`,
    ...(cookie === undefined
      ? []
      : [`Header add Set-Cookie "${directiveValue(cookie)}=.%{BALANCER_WORKER_ROUTE}e; ${settings.cookieAttributes ?? COOKIE_ATTRIBUTES}" env=BALANCER_ROUTE_CHANGED`]),
    ''
  ]
  return lines.join('\n')
}

/**
 * True once Apache answers HTTP, not merely accepts connections (its worker may not be ready yet
 * right after the port opens). `OPTIONS *` is answered by Apache itself, never proxied, so it
 * does not touch the balancer's accounting.
 */
async function portAnswers (port: number): Promise<boolean> {
  return await new Promise<boolean>(resolve => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
    socket.setTimeout(1000, () => done(false))
    socket.once('connect', () => socket.write('OPTIONS * HTTP/1.0\r\n\r\n'))
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1')
      if (data.startsWith('HTTP/1.')) done(true)
    })
    socket.once('end', () => done(data.startsWith('HTTP/1.')))
    socket.once('error', () => done(false))
  })
}

async function errorLog (dir: string): Promise<string> {
  try {
    return await readFile(join(dir, 'error.log'), 'utf8')
  } catch {
    return ''
  }
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

/** A running Apache; `errorLog()` reads its error log (for diagnostics). */
export interface ApacheGateway extends Gateway {
  errorLog: () => Promise<string>
}

/** Starts Apache as a balancer over `options.members`, mounted at `settings.prefix`. */
export async function startApache (options: StickyOptions, settings: ApacheSettings): Promise<ApacheGateway> {
  if (!apacheInstalled()) throw new Error(APACHE_MISSING)
  const dir = await mkdtemp(join(tmpdir(), 'stickyroute-apache-'))
  // The children (User nobody) re-open the mutex files inside it.
  await chmod(dir, 0o755)
  const port = await freePort()
  const conf = join(dir, 'httpd.conf')
  await writeFile(conf, apacheConfig(options, settings, dir, port))
  const child = spawn(APACHE_BIN, ['-f', conf, '-DFOREGROUND'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, APACHE_RUN_DIR: dir, APACHE_LOCK_DIR: dir, APACHE_LOG_DIR: dir, APACHE_PID_FILE: join(dir, 'httpd.pid') }
  })
  let output = ''
  child.stdout?.on('data', (c: Buffer) => { output += c.toString('utf8') })
  child.stderr?.on('data', (c: Buffer) => { output += c.toString('utf8') })
  const cleanup = async (): Promise<void> => {
    await stop(child)
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const deadline = Date.now() + 10_000
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`apache2 exited (${child.exitCode ?? child.signalCode ?? '?'}) before listening:\n${output}${await errorLog(dir)}`)
      }
      if (await portAnswers(port)) break
      if (Date.now() > deadline) throw new Error(`apache2 did not listen on 127.0.0.1:${port} within 10 s:\n${output}${await errorLog(dir)}`)
      await new Promise(resolve => setTimeout(resolve, 25))
    }
  } catch (err) {
    await cleanup()
    throw err
  }
  return { origin: `http://127.0.0.1:${port}`, close: cleanup, errorLog: async () => await errorLog(dir) }
}
