/**
 * Real upstream members for the tests: small node:http servers on 127.0.0.1:0 that answer with
 * what they saw, so a test can tell which member served a request and what reached it.
 *
 * A request can ask its member to set cookies (`x-test-set-cookie`, several separated by `|`)
 * or to answer another status (`x-test-status`), to wait before answering (`x-test-delay`, ms), or to
 * drop the connection (`x-test-reset: before-response` or `after-headers`). A member can be stopped (connections refused)
 * and started again on the same port. `GET /hc` is its health-check endpoint: it answers `healthStatus` (or the next
 * status of `healthScript`) and is not recorded in `seen`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** What a member saw, as it echoes it back in the body. */
export interface Echo {
  route: string
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  body: string
}

export class Upstream {
  readonly route: string
  port = 0
  /** Requests this member has received, in order (health checks on `/hc` left out). */
  readonly seen: Echo[] = []
  /** What `/hc` answers. */
  healthStatus = 200
  /** Statuses `/hc` answers next, one per check, before falling back to `healthStatus`. */
  healthScript: number[] = []
  /** Health checks received on `/hc`. */
  healthChecks = 0
  #server: Server | undefined
  readonly #sockets = new Set<Socket>()

  constructor (route: string) {
    this.route = route
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** This member as a `members` entry. */
  toMember (): { url: string, route: string } {
    return { url: this.url, route: this.route }
  }

  get running (): boolean {
    return this.#server !== undefined
  }

  /** Starts listening (on a new port the first time, on the same port after a stop). */
  async start (): Promise<void> {
    if (this.#server !== undefined) return
    const server = createServer((req, res) => { this.#handle(req, res) })
    server.keepAliveTimeout = 60_000
    server.on('connection', socket => {
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.port = (server.address() as AddressInfo).port
    this.#server = server
  }

  /** Stops listening and drops open connections: further connects are refused. */
  async stop (): Promise<void> {
    const server = this.#server
    if (server === undefined) return
    this.#server = undefined
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/hc') {
      this.healthChecks++
      res.statusCode = this.healthScript.shift() ?? this.healthStatus
      res.end(`${this.route} health\n`)
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const echo: Echo = {
        route: this.route,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: { ...req.headers },
        body: Buffer.concat(chunks).toString('utf8')
      }
      this.seen.push(echo)
      const setCookie = req.headers['x-test-set-cookie']
      if (typeof setCookie === 'string') res.setHeader('set-cookie', setCookie.split('|'))
      const status = Number(req.headers['x-test-status'] ?? 200)
      const delay = Number(req.headers['x-test-delay'] ?? 0)
      const reset = req.headers['x-test-reset']
      if (reset === 'before-response') {
        req.socket.destroy()
        return
      }
      if (reset === 'after-headers') {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-member': this.route })
        res.write('partial')
        setTimeout(() => req.socket.destroy(), 20)
        return
      }
      const answer = (): void => {
        res.statusCode = status
        res.setHeader('content-type', 'application/json')
        res.setHeader('x-member', this.route)
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify(echo))
      }
      if (delay > 0) setTimeout(answer, delay)
      else answer()
    })
  }
}

/** A set of members, one per route name given (a route may repeat: members sharing a route). */
export class Upstreams {
  readonly list: Upstream[]

  constructor (routes: readonly string[]) {
    this.list = routes.map(r => new Upstream(r))
  }

  static async start (routes: readonly string[]): Promise<Upstreams> {
    const u = new Upstreams(routes)
    await Promise.all(u.list.map(m => m.start()))
    return u
  }

  /** The `members` option for these upstreams. */
  get members (): Array<{ url: string, route: string }> {
    return this.list.map(m => ({ url: m.url, route: m.route }))
  }

  at (i: number): Upstream {
    const m = this.list[i]
    if (m === undefined) throw new RangeError(`no upstream #${i}`)
    return m
  }

  /** The member reached at `port`, for mapping a response back to a member. */
  byPort (port: number): Upstream | undefined {
    return this.list.find(m => m.port === port)
  }

  async close (): Promise<void> {
    await Promise.all(this.list.map(m => m.stop()))
  }
}
