/**
 * What every example gateway does around its few lines of framework code: read the environment,
 * start the demo members when STICKY_UPSTREAMS is unset, print one "listening" line, and shut
 * down cleanly on SIGTERM and SIGINT.
 */
import type { MemberOptions, StickyOptions } from '@stickyroute/core'
import { realpathSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { startDemoMembers, type DemoMembers } from './demo-members.js'
import { EnvConfigError, gatewayConfigFromEnv, withMemberSettings } from './env.js'

export interface GatewaySetup {
  members: MemberOptions[]
  options: Omit<StickyOptions, 'members'>
  port: number
  host: string
}

export interface RunningGateway {
  /** The listening server (for the address it got). */
  server: Server
  close: () => Promise<void>
}

/** Builds a gateway for `members` and listens on `host:port`. */
export type StartGateway = (setup: GatewaySetup) => Promise<RunningGateway>

export interface Listening {
  origin: string
  setup: GatewaySetup
  demo: boolean
}

const FORCE_EXIT_MS = 4000

/** True when the module at `importMetaUrl` is the script node was started with. */
export function isMain (importMetaUrl: string): boolean {
  try {
    return pathToFileURL(realpathSync(process.argv[1] ?? '')).href === importMetaUrl
  } catch {
    return false // no script file (node -e, a REPL)
  }
}

/** Listens on `port`/`host` with a plain node:http server (Express, the custom gateway). */
export async function serve (server: Server, port: number, host: string): Promise<RunningGateway> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    server,
    close: async () => {
      server.closeIdleConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/** Prints why the gateway cannot start, without a stack trace for configuration mistakes, and exits 1. */
function fail (error: unknown): never {
  if (error instanceof EnvConfigError) {
    process.stderr.write(`${error.message}\n`)
  } else if (error instanceof Error && typeof (error as { code?: unknown }).code === 'string') {
    // StickyConfigError (ERR_STICKY_*) and system errors such as EADDRINUSE.
    process.stderr.write(`${(error as Error & { code: string }).code}: ${error.message}\n`)
  } else {
    process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  }
  process.exit(1)
}

function originOf (server: Server): string {
  const { address, family, port } = server.address() as AddressInfo
  return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`
}

function describe ({ members, options }: GatewaySetup, demo: boolean): string {
  const list = members.map(m => `${m.route}=${m.url}`).join(', ')
  const method = options.routeCookie === false
    ? `Method 1 session ${String(options.stickySession ?? 'ROUTEID')}`
    : `Method 2 cookie ${String(options.routeCookie)}`
  return `${demo ? 'demo members' : 'members'}: ${list}; ${method}`
}

/**
 * Runs an example gateway: `name` is printed, `start` builds and listens. `defaults` fill in
 * variables the environment leaves unset (the demo uses it for STICKY_ROUTE_COOKIE).
 */
export async function runExample (name: string, start: StartGateway, defaults: Record<string, string> = {}): Promise<Listening> {
  let demo: DemoMembers | undefined
  let setup: GatewaySetup
  let gateway: RunningGateway
  try {
    const { upstreams, options, port, host, memberSettings } = gatewayConfigFromEnv({ ...defaults, ...process.env })
    if (upstreams === undefined) demo = await startDemoMembers()
    setup = { members: withMemberSettings(upstreams ?? demo?.members ?? [], memberSettings), options, port, host }
    gateway = await start(setup)
  } catch (error) {
    fail(error)
  }

  const origin = originOf(gateway.server)
  process.stdout.write(`stickyroute ${name} gateway listening on ${origin} (${describe(setup, demo !== undefined)})\n`)

  let stopping = false
  const stop = (): void => {
    // Ctrl-C can arrive twice (from the terminal, and forwarded by npm): act on the first signal only.
    if (stopping) return
    stopping = true
    setTimeout(() => {
      process.stderr.write(`stickyroute ${name} gateway: close did not finish within ${FORCE_EXIT_MS} ms, exiting\n`)
      process.exit(0)
    }, FORCE_EXIT_MS).unref()
    Promise.all([gateway.close(), demo?.close()]).then(() => process.exit(0), fail)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  return { origin, setup, demo: demo !== undefined }
}
