/**
 * The environment interface every example shares. Only the *form* of each variable is checked
 * here; what the values mean (route names, URLs, cookie names, ranges) is checked by the core,
 * which throws a StickyConfigError when the gateway is built.
 *
 *   PORT, HOST            where to listen                          8080, 127.0.0.1
 *   STICKY_UPSTREAMS      members in order: route=url,route=url    the demo's own members
 *   STICKY_SESSION        what to read (Apache stickysession)      ROUTEID (the core's default)
 *   STICKY_ROUTE_COOKIE   Method 2 cookie name; unset: Method 1    unset
 *   STICKY_NOFAILOVER     1 or 0                                   0
 *   STICKY_RETRY          seconds a failed member is skipped       60
 */
import type { StickyOptions } from '@stickyroute/core'

export interface GatewayConfig {
  port: number
  host: string
  /** `undefined` when STICKY_UPSTREAMS is unset or empty: the example starts demo members. */
  upstreams: Array<{ route: string, url: string }> | undefined
  options: Omit<StickyOptions, 'members'>
}

/** A variable that does not have the expected form. */
export class EnvConfigError extends Error {
  readonly variable: string

  constructor (variable: string, expected: string, got: string) {
    super(`${variable} must be ${expected}, got ${JSON.stringify(got)}.`)
    this.name = 'EnvConfigError'
    this.variable = variable
  }
}

/** The variable's value, or `undefined` when it is unset or empty. */
function read (env: Record<string, string | undefined>, name: string): string | undefined {
  const value = env[name]
  return value === undefined || value === '' ? undefined : value
}

function parsePort (value: string | undefined): number {
  if (value === undefined) return 8080
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new EnvConfigError('PORT', 'a port number from 0 to 65535 (e.g. 8080)', value)
  }
  return Number(value)
}

function parseUpstreams (value: string | undefined): GatewayConfig['upstreams'] {
  if (value === undefined) return undefined
  return value.split(',').map(item => {
    const pair = item.trim()
    const eq = pair.indexOf('=')
    if (eq === -1) {
      throw new EnvConfigError('STICKY_UPSTREAMS',
        'route=url pairs separated by commas (e.g. node1=http://127.0.0.1:8081,node2=http://127.0.0.1:8082)', value)
    }
    return { route: pair.slice(0, eq), url: pair.slice(eq + 1) }
  })
}

function parseNoFailover (value: string | undefined): boolean {
  if (value === undefined || value === '0') return false
  if (value === '1') return true
  throw new EnvConfigError('STICKY_NOFAILOVER', '1 (on) or 0 (off)', value)
}

function parseRetry (value: string | undefined): number {
  if (value === undefined) return 60
  if (!/^-?\d+(\.\d+)?$/.test(value)) {
    throw new EnvConfigError('STICKY_RETRY', 'a number of seconds (e.g. 60 or 0.5)', value)
  }
  return Number(value)
}

/**
 * Reads the example configuration from `env` (pass `process.env`). Throws an EnvConfigError naming
 * the variable and the expected form when a value is malformed.
 */
export function gatewayConfigFromEnv (env: Record<string, string | undefined>): GatewayConfig {
  const stickySession = read(env, 'STICKY_SESSION')
  return {
    port: parsePort(read(env, 'PORT')),
    host: read(env, 'HOST') ?? '127.0.0.1',
    upstreams: parseUpstreams(read(env, 'STICKY_UPSTREAMS')),
    options: {
      // Unset: the core's default, ROUTEID (or, with STICKY_ROUTE_COOKIE, the cookie it writes).
      ...(stickySession === undefined ? {} : { stickySession }),
      routeCookie: read(env, 'STICKY_ROUTE_COOKIE') ?? false,
      noFailover: parseNoFailover(read(env, 'STICKY_NOFAILOVER')),
      retry: parseRetry(read(env, 'STICKY_RETRY'))
    }
  }
}
