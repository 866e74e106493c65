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
 *   STICKY_STATUS         route=+N,route=+H (Apache status letters D N H S I)   none
 *   STICKY_LBMETHOD       byrequests, bybusyness or bytraffic      byrequests
 *   STICKY_LOADFACTORS    route=2,route=1.5                        1 each
 *   STICKY_LBSETS         route=1,route=0                          0 each
 *   STICKY_FAILONSTATUS   500,503                                  none
 *   STICKY_TIMEOUT        seconds a member may stay silent         none of ours
 *   STICKY_HC             GET /health, HEAD /, OPTIONS / or TCP    no health checks
 *   STICKY_HC_INTERVAL    seconds between checks                   30
 *   STICKY_HC_PASSES      passes in a row that bring a member back 1
 *   STICKY_HC_FAILS       fails in a row that take a member out    1
 */
import { parseStatusLetters, type HealthCheckOptions, type MemberOptions, type StickyOptions } from '@stickyroute/core'

export interface GatewayConfig {
  port: number
  host: string
  /** `undefined` when STICKY_UPSTREAMS is unset or empty: the example starts demo members. */
  upstreams: Array<{ route: string, url: string }> | undefined
  options: Omit<StickyOptions, 'members'>
  /** Per-route member settings (STICKY_STATUS, STICKY_LOADFACTORS, STICKY_LBSETS), applied by {@link withMemberSettings}. */
  memberSettings: Record<string, MemberSettings>
}

/** What the per-route variables set on a member. */
export type MemberSettings = Partial<Pick<MemberOptions, 'loadFactor' | 'lbSet' | 'disabled' | 'draining' | 'hotStandby' | 'stopped' | 'ignoreErrors'>>

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

const NUMBER = /^\d+(\.\d+)?$/

function parseSeconds (name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!NUMBER.test(value)) throw new EnvConfigError(name, 'a number of seconds (e.g. 30 or 0.5)', value)
  return Number(value)
}

function parseCount (name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw new EnvConfigError(name, 'a whole number (e.g. 2)', value)
  return Number(value)
}

/** `route=value,route=value`, each value read by `parse` (which returns `undefined` for a bad one). */
function parsePerRoute<T> (name: string, value: string | undefined, expected: string, parse: (v: string) => T | undefined): Array<[string, T]> {
  if (value === undefined) return []
  return value.split(',').map(item => {
    const pair = item.trim()
    const eq = pair.indexOf('=')
    const parsed = eq > 0 ? parse(pair.slice(eq + 1)) : undefined
    if (parsed === undefined) throw new EnvConfigError(name, expected, value)
    return [pair.slice(0, eq), parsed]
  })
}

function parseMemberSettings (env: Record<string, string | undefined>): Record<string, MemberSettings> {
  const out: Record<string, MemberSettings> = {}
  const put = (route: string, settings: MemberSettings): void => { out[route] = { ...out[route], ...settings } }
  for (const [route, flags] of parsePerRoute('STICKY_STATUS', read(env, 'STICKY_STATUS'),
    'route=status pairs with Apache status letters D, N, H, S, I (e.g. node1=+N,node3=+H)', parseStatusLetters)) put(route, flags)
  for (const [route, loadFactor] of parsePerRoute('STICKY_LOADFACTORS', read(env, 'STICKY_LOADFACTORS'),
    'route=weight pairs (e.g. node1=2,node2=1.5)', v => NUMBER.test(v) ? Number(v) : undefined)) put(route, { loadFactor })
  for (const [route, lbSet] of parsePerRoute('STICKY_LBSETS', read(env, 'STICKY_LBSETS'),
    'route=tier pairs of whole numbers (e.g. node3=1)', v => /^\d+$/.test(v) ? Number(v) : undefined)) put(route, { lbSet })
  return out
}

function parseLbMethod (value: string | undefined): StickyOptions['lbMethod'] {
  if (value === undefined) return undefined
  if (value === 'byrequests' || value === 'bybusyness' || value === 'bytraffic') return value
  throw new EnvConfigError('STICKY_LBMETHOD', 'byrequests, bybusyness or bytraffic', value)
}

function parseFailOnStatus (value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined
  if (!/^\d{3}(,\d{3})*$/.test(value.replace(/\s/g, ''))) throw new EnvConfigError('STICKY_FAILONSTATUS', 'HTTP statuses separated by commas (e.g. 500,503)', value)
  return value.replace(/\s/g, '').split(',').map(Number)
}

function parseHealthCheck (env: Record<string, string | undefined>): HealthCheckOptions | undefined {
  const hc = read(env, 'STICKY_HC')
  const interval = parseSeconds('STICKY_HC_INTERVAL', read(env, 'STICKY_HC_INTERVAL'))
  const passes = parseCount('STICKY_HC_PASSES', read(env, 'STICKY_HC_PASSES'))
  const fails = parseCount('STICKY_HC_FAILS', read(env, 'STICKY_HC_FAILS'))
  if (hc === undefined) return undefined
  const match = /^(?:(TCP)|(GET|HEAD|OPTIONS) (\/\S*))$/.exec(hc.trim())
  if (match === null) throw new EnvConfigError('STICKY_HC', "'GET /health', 'HEAD /', 'OPTIONS /' or 'TCP'", hc)
  return {
    method: (match[1] ?? match[2]) as NonNullable<HealthCheckOptions['method']>,
    ...(match[3] === undefined ? {} : { uri: match[3] }),
    ...(interval === undefined ? {} : { interval }),
    ...(passes === undefined ? {} : { passes }),
    ...(fails === undefined ? {} : { fails })
  }
}

/**
 * Applies the per-route settings to `members`. Throws an EnvConfigError when a variable names a
 * route that no member has.
 */
export function withMemberSettings (members: ReadonlyArray<{ route: string, url: string }>, settings: Record<string, MemberSettings>): MemberOptions[] {
  for (const route of Object.keys(settings)) {
    if (!members.some(m => m.route === route)) {
      throw new EnvConfigError('STICKY_STATUS, STICKY_LOADFACTORS and STICKY_LBSETS', `routes of the members (${members.map(m => m.route).join(', ')})`, route)
    }
  }
  return members.map(m => ({ ...m, ...settings[m.route] }))
}

/**
 * Reads the example configuration from `env` (pass `process.env`). Throws an EnvConfigError naming
 * the variable and the expected form when a value is malformed.
 */
export function gatewayConfigFromEnv (env: Record<string, string | undefined>): GatewayConfig {
  const stickySession = read(env, 'STICKY_SESSION')
  const lbMethod = parseLbMethod(read(env, 'STICKY_LBMETHOD'))
  const failOnStatus = parseFailOnStatus(read(env, 'STICKY_FAILONSTATUS'))
  const timeout = parseSeconds('STICKY_TIMEOUT', read(env, 'STICKY_TIMEOUT'))
  const healthCheck = parseHealthCheck(env)
  return {
    port: parsePort(read(env, 'PORT')),
    host: read(env, 'HOST') ?? '127.0.0.1',
    upstreams: parseUpstreams(read(env, 'STICKY_UPSTREAMS')),
    options: {
      // Unset: the core's default, ROUTEID (or, with STICKY_ROUTE_COOKIE, the cookie it writes).
      ...(stickySession === undefined ? {} : { stickySession }),
      routeCookie: read(env, 'STICKY_ROUTE_COOKIE') ?? false,
      noFailover: parseNoFailover(read(env, 'STICKY_NOFAILOVER')),
      retry: parseRetry(read(env, 'STICKY_RETRY')),
      ...(lbMethod === undefined ? {} : { lbMethod }),
      ...(failOnStatus === undefined ? {} : { failOnStatus }),
      ...(timeout === undefined ? {} : { timeout }),
      ...(healthCheck === undefined ? {} : { healthCheck })
    },
    memberSettings: parseMemberSettings(env)
  }
}
