/**
 * @stickyroute/express: sticky-session load balancing as Express middleware, on
 * http-proxy-middleware. Glue only: the core decides, this file applies the decision.
 *
 *   app.use('/app', stickyroute({ members: [...], routeCookie: 'ROUTEID' }))
 */
import {
  Balancer,
  bodyPlan,
  connectionTokens,
  forwardedHeaders,
  BAD_REQUEST,
  hasRequestBody,
  logEvents,
  SERVICE_UNAVAILABLE,
  StickyConfigError,
  stripHopByHop,
  withSetCookie,
  type BalancerResponse,
  type Decision,
  type ForwardedHeaders,
  type Routed,
  type StickyLogger,
  type StickyOptions
} from '@stickyroute/core'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { createProxyMiddleware, type Options as HpmOptions } from 'http-proxy-middleware'
import type { Agent as HttpAgent, ClientRequest, IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { hostname } from 'node:os'
import { Readable, type Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { forwardUpgrade, nodeHealthIo, readBody, watchConnect, writeBalancerResponse } from '@stickyroute/core/node'
import { closeIdle, memberAgent, noteKeepAlive } from './agents.js'
import { proxyTarget, type ProxyTarget } from './target.js'

/** Options of http-proxy-middleware that stickyroute passes through; the ones it owns are left out. */
export type ProxyOptions = Omit<HpmOptions<IncomingMessage, ServerResponse>, 'target' | 'router' | 'changeOrigin' | 'xfwd' | 'forward' | 'ws' | 'ejectPlugins' | 'followRedirects'>

/** Options of the middleware: the core options and a pass-through bag for http-proxy-middleware. */
export interface StickyrouteExpressOptions extends StickyOptions {
  /**
   * The path you mount the middleware at (`app.use(mountPath, middleware)`), for WebSocket
   * upgrades: they never pass through Express, so `middleware.upgrade` takes only those under
   * `mountPath` and strips it, as Express does for HTTP requests. Defaults to `''` (every upgrade).
   */
  mountPath?: string
  /**
   * Where the balancer's events go (member state changes, re-pinned clients, health-check
   * results): any pino-compatible logger, e.g. `pino()`. A normal request logs nothing.
   * Defaults to none.
   */
  logger?: StickyLogger
  /**
   * Passed to http-proxy-middleware as is, e.g. `{ pathRewrite, proxyTimeout, agent }`. `target`,
   * `router`, `changeOrigin`, `xfwd`, `forward` and `on.error` are stickyroute's own; your
   * `on.proxyReq` and `on.proxyRes` run before stickyroute's. Without `agent`, member connections
   * are kept alive and reused (idle for at most 4 s, less when the member announces less);
   * `agent: false` opens one per request, as http-proxy does by default.
   */
  proxy?: ProxyOptions
}

/** The middleware, with the balancer behind it and a handler for the server's `upgrade` event. */
export interface StickyrouteMiddleware extends RequestHandler {
  /** The balancer: member states and counters, runtime control (`set`, `update`, `add`, `remove`), events. */
  readonly balancer: Balancer
  /**
   * Stops the active health checks (and waits for the ones under way). Called for you when the
   * HTTP server that served the middleware's requests closes; call it yourself when you drop
   * the middleware without closing its server.
   */
  close: () => Promise<void>
  /**
   * Proxies a WebSocket upgrade under `mountPath` to the client's member, with the balancer
   * cookie on the 101 and failover before it: `server.on('upgrade', middleware.upgrade)`, on the
   * HTTP server, before it gets its first request. Other upgrades are left to other listeners.
   */
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void
}

declare global {
  namespace Express {
    interface Request {
      /** The balancer's decision for this request (member, route, routeChanged), or `null` when no member could serve it. */
      sticky?: Routed | null
    }
  }
}

// Per-request state lives on the request objects under symbols: no closures, no maps. Listeners
// are shared functions added with on(), not once() (which wraps each one in a closure): every
// emitter they go on lives for one request.
const kDecision = Symbol('stickyroute.decision')
const kUrl = Symbol('stickyroute.url')
const kNext = Symbol('stickyroute.next')
const kBalancer = Symbol('stickyroute.balancer')
const kTimedOut = Symbol('stickyroute.timedOut')
const kSource = Symbol('stickyroute.source')
const kClientResponse = Symbol('stickyroute.clientResponse')
const kUpgradeUrl = Symbol('stickyroute.upgradeUrl')
const kRead = Symbol('stickyroute.bytesRead')
const kWritten = Symbol('stickyroute.bytesWritten')
const kBody = Symbol('stickyroute.body')
const kReused = Symbol('stickyroute.reusedConnection')
const kNewConnection = Symbol('stickyroute.newConnection')
const kPooled = Symbol('stickyroute.pooled')
const kSecure = Symbol('stickyroute.secure')

/** The client's request. */
interface StickyMessage extends IncomingMessage {
  [kDecision]?: Routed
  [kBalancer]?: Balancer
  /** `req.url` before http-proxy-middleware rewrote it, to send a failover attempt the same path. */
  [kUrl]?: string
  [kNext]?: NextFunction
  /** http-proxy's `proxyTimeout` fired: the member did not answer in time. */
  [kTimedOut]?: boolean
  /** An upgrade's request target as received (before mountPath and pathRewrite): what the route is read from. */
  [kUpgradeUrl]?: string
  /** The client connection's byte counts when the request arrived, for the member's traffic counters. */
  [kRead]?: number
  [kWritten]?: number
  /** The request body, read whole (up to `retryBodyLimit`) so that a failed attempt can be replayed on another member. */
  [kBody]?: Buffer
  /** This attempt went out on a kept-alive connection that had served earlier requests. */
  [kReused]?: boolean
  /** Send the next attempt on a connection of its own: the kept-alive one was closed under it. */
  [kNewConnection]?: boolean
  /** The client connection is TLS (as Express's `req.secure` sees it), read once when the member is chosen. */
  [kSecure]?: boolean
  /** This attempt goes through stickyroute's keep-alive agent for its member. */
  [kPooled]?: boolean
  sticky?: Routed | null
  /** Set by Express on every request it handles (upgrades never reach `decide`). */
  originalUrl?: string
}

/** The request to the member. */
interface OutgoingRequest extends ClientRequest {
  [kSource]?: StickyMessage
}

/** The member's answer. */
interface UpstreamResponse extends IncomingMessage {
  [kClientResponse]?: ServerResponse
}

function sendBalancerResponse (res: ServerResponse, response: BalancerResponse, close = false): void {
  res.writeHead(response.status, close ? { ...response.headers, connection: 'close' } : response.headers)
  res.end(response.body)
}

function isSecure (req: IncomingMessage): boolean {
  const secure = (req as { secure?: unknown }).secure
  return typeof secure === 'boolean' ? secure : (req.socket as TLSSocket).encrypted === true
}

/** The member's answer ended: if it ended before it was complete, cut the client's response. `this` is the member's answer. */
function onUpstreamClose (this: UpstreamResponse): void {
  const res = this[kClientResponse]
  if (!this.complete && res !== undefined && !res.writableEnded) res.destroy()
}

/** The request to the member timed out (http-proxy then aborts it with a plain ECONNRESET). `this` is that request. */
function onUpstreamTimeout (this: OutgoingRequest): void {
  const req = this[kSource]
  if (req !== undefined) req[kTimedOut] = true
}

/**
 * The response is over: releases the member's in-flight count and counts the outcome (its status
 * for `failOnStatus`, the bytes for `bytraffic`). `this` is the response.
 */
function onResponseClose (this: ServerResponse): void {
  const req = this.req as StickyMessage
  const decision = req[kDecision]
  const balancer = req[kBalancer]
  if (decision === undefined || balancer === undefined) return
  const socket = req.socket
  balancer.finished(decision, {
    status: this.statusCode,
    bytesSent: socket.bytesRead - (req[kRead] as number),
    bytesReceived: socket.bytesWritten - (req[kWritten] as number)
  })
}

/** The member stayed silent for its `timeout`: abort, reported as a timeout (504; with failOnTimeout, the member in error). `this` is the request to the member. */
function onMemberTimeout (this: OutgoingRequest): void {
  this.destroy(Object.assign(new Error('the member did not answer within its timeout'), { code: 'ESOCKETTIMEDOUT' }))
}

/** What http-proxy hands its web passes (see `attemptPass`). */
interface WebPassOptions {
  buffer?: Readable
  agent?: HttpAgent | false
  /** The member: set by attemptPass, from its cache (see `wayTo`). */
  target: ProxyTarget
}
type WebPass = (req: IncomingMessage, res: ServerResponse, options: WebPassOptions) => boolean | undefined

/**
 * Hop-by-hop headers of the client's request (RFC 9110 7.6.1), which http-proxy copies to the
 * member when it has an agent: the connection to the member is the gateway's own.
 */
function stripRequestHopByHop (proxyReq: ClientRequest, headers: IncomingMessage['headers']): void {
  if (headers['proxy-connection'] !== undefined) proxyReq.removeHeader('proxy-connection')
  if (headers['keep-alive'] !== undefined) proxyReq.removeHeader('keep-alive')
  if (headers.connection === undefined) return
  for (const name of connectionTokens(headers.connection)) proxyReq.removeHeader(name)
  proxyReq.setHeader('connection', 'keep-alive')
}

/** What http-proxy hands its WebSocket passes (see `forwardPass`). */
interface WsPassOptions {
  headers?: OutgoingHttpHeaders
  secure?: boolean
  ssl?: object
}
type WsPass = (req: IncomingMessage, socket: Duplex, options: WsPassOptions, head: Buffer, server: { emit: (event: string, ...args: unknown[]) => boolean }) => boolean
/** http-proxy's way to add a pass to its pipeline (not in @types/http-proxy). */
interface PassPipeline {
  before: ((type: 'ws', passName: string, pass: WsPass) => void) & ((type: 'web', passName: string, pass: WebPass) => void)
}

/** A WebSocket handshake (the only upgrade http-proxy forwards). */
function isWebSocketUpgrade (req: IncomingMessage): boolean {
  return req.headers.upgrade?.toLowerCase() === 'websocket'
}

/** Options the pass-through bag may not set, with the reason shown to the user. */
const RESERVED_PROXY: ReadonlyArray<readonly [string, string]> = [
  ['target', 'the member is chosen per request'],
  ['router', 'the member is chosen per request'],
  ['forward', 'the member is chosen per request'],
  ['changeOrigin', 'use the option preserveHost'],
  ['xfwd', 'stickyroute sets X-Forwarded-* itself'],
  ['ws', 'wire WebSocket upgrades with server.on(\'upgrade\', middleware.upgrade)'],
  ['followRedirects', 'a member\'s redirect goes to the client, as Apache passes it on; followed inside the gateway it would bypass the member choice'],
  ['ejectPlugins', 'stickyroute\'s cookie, headers and failover are http-proxy-middleware event handlers']
]

function resolveMountPath (value: unknown): string {
  if (value === undefined) return ''
  if (typeof value !== 'string' || (value !== '' && !value.startsWith('/')) || /[?#;\s]/.test(value)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'mountPath', `must be the path given to app.use(), starting with '/', got ${JSON.stringify(value)}.`)
  }
  return value.endsWith('/') ? value.slice(0, -1) : value
}

/** The request target below `mountPath`, or `undefined` when it is not under it. */
function belowMount (url: string, mountPath: string): string | undefined {
  if (mountPath === '') return url
  if (!url.startsWith(mountPath)) return undefined
  const rest = url.slice(mountPath.length)
  if (rest === '') return '/'
  const c = rest.charAt(0)
  if (c === '/') return rest
  if (c === '?') return `/${rest}`
  return undefined
}

/** Creates the middleware. Options are validated here, once: bad options throw a `StickyConfigError`. */
export function stickyroute (options: StickyrouteExpressOptions): StickyrouteMiddleware {
  const { proxy: proxyOptions = {}, mountPath: _mountPath, logger, ...stickyOptions } = options
  const balancer = new Balancer(stickyOptions)
  if (logger !== undefined) {
    if (typeof logger !== 'object' || logger === null || typeof logger.info !== 'function' || typeof logger.warn !== 'function') {
      throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'logger', 'must be a pino-compatible logger with info() and warn() (debug() is optional), e.g. pino().')
    }
    logEvents(balancer, logger)
  }
  const userOn = proxyOptions.on ?? {}
  if (userOn.error !== undefined) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'proxy.on.error', 'is set by stickyroute (failover and the balancer\'s own error answers). Remove it.')
  }
  for (const [key, why] of RESERVED_PROXY) {
    if (key in proxyOptions) throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', `proxy.${key}`, `is set by stickyroute (${why}). Remove it.`)
  }
  const mountPath = resolveMountPath(options.mountPath)
  const { preserveHost, addForwardedHeaders, retryBodyLimit } = balancer.options
  const server = hostname()

  const { connectTimeoutMs } = balancer.options
  // Member connections are kept alive by stickyroute's agents (one per member), unless the
  // application brings its own agent, or `false`: http-proxy's own handling then applies.
  const pooled = !('agent' in proxyOptions)
  /** A member's http-proxy target and keep-alive agent, made once per member URL (members added at runtime too). */
  interface MemberWay { target: ProxyTarget, agent: HttpAgent | undefined }
  const ways = new Map<string, MemberWay>()
  const wayTo = (url: string): MemberWay => {
    let way = ways.get(url)
    if (way === undefined) {
      const target = proxyTarget(url)
      way = { target, agent: pooled ? memberAgent(target.protocol === 'https:') : undefined }
      ways.set(url, way)
    }
    return way
  }
  const first = balancer.options.members[0] as { url: string } // the core requires one

  /**
   * Runs before http-proxy's own `stream` pass, once per attempt: the member connection (from
   * the keep-alive pool, or one of its own after a pooled one was closed under the request) and
   * the kept body, sent from memory with the client's framing (http-proxy pipes `options.buffer`,
   * else the request, to the member).
   */
  const attemptPass: WebPass = (req, _res, options) => {
    const r = req as StickyMessage
    // Every proxied request carries its decision (route() and the failover set it).
    const way = wayTo((r[kDecision] as Routed).member.url)
    options.target = way.target
    const body = r[kBody]
    if (body !== undefined) options.buffer = Readable.from([body])
    r[kReused] = false
    if (way.agent !== undefined) options.agent = r[kNewConnection] === true ? false : way.agent
    r[kPooled] = way.agent !== undefined && r[kNewConnection] !== true
    return false
  }

  /** X-Forwarded-* for the member, for plain requests and upgrades alike; none with `addForwardedHeaders: false`. */
  const forwarded = (req: IncomingMessage): ForwardedHeaders | undefined => {
    if (!addForwardedHeaders) return undefined
    const h = req.headers
    return forwardedHeaders({
      host: h.host,
      remoteAddress: req.socket.remoteAddress,
      secure: (req as StickyMessage)[kSecure] as boolean, // set with the decision (decide, forwardPass)
      forwardedFor: h['x-forwarded-for'],
      forwardedHost: h['x-forwarded-host'],
      forwardedProto: h['x-forwarded-proto'],
      server,
      forwardedServer: h['x-forwarded-server']
    })
  }

  /**
   * Forwards a WebSocket upgrade, in place of http-proxy's own `stream` pass (which would end
   * the client's connection after a failed attempt): http-proxy-middleware has applied
   * `pathFilter` and `pathRewrite` by then, and `req.url` is the member's path. The member is
   * chosen here, from the request target as received; events go to `on.proxyReqWs`, `on.open`
   * and `on.close` as with http-proxy.
   */
  const forwardPass: WsPass = (req, socket, options, head, proxyServer) => {
    const r = req as StickyMessage
    const secure = r[kSecure] = isSecure(r)
    const decision = balancer.select({ cookie: r.headers.cookie, url: r[kUpgradeUrl], secure })
    apply(r, decision)
    if (!decision.ok) {
      writeBalancerResponse(socket, SERVICE_UNAVAILABLE)
      return true
    }
    forwardUpgrade({
      balancer,
      req,
      socket,
      head,
      decision,
      path: req.url as string,
      headers: d => ({ ...r.headers, ...options.headers, ...forwarded(r), host: (preserveHost ? r.headers.host : undefined) ?? new URL(d.member.url).host }),
      connectTimeoutMs,
      tls: { ...options.ssl, rejectUnauthorized: options.secure !== false },
      onDecision: d => { apply(r, d) },
      onRequest: outgoing => proxyServer.emit('proxyReqWs', outgoing, req, socket, options, head),
      onOpen: memberSocket => proxyServer.emit('open', memberSocket),
      onClose: (response, memberSocket) => proxyServer.emit('close', response, memberSocket, Buffer.alloc(0))
    })
    return true // http-proxy's own stream pass does not run
  }

  const decide = (req: StickyMessage): Decision => {
    const secure = req[kSecure] = isSecure(req)
    const decision = balancer.select({ cookie: req.headers.cookie, url: req.originalUrl, secure })
    apply(req, decision)
    return decision
  }

  const apply = (req: StickyMessage, decision: Decision): void => {
    if (decision.ok) {
      req[kDecision] = decision
      req.sticky = decision
    } else {
      delete req[kDecision]
      req.sticky = null
    }
  }

  const proxy = createProxyMiddleware<IncomingMessage, ServerResponse>({
    ...proxyOptions,
    // Replaced for every request by attemptPass, which sets the decision's member (no router:
    // it would cost an async call per request, and http-proxy would parse a string target).
    // http-proxy-middleware requires one.
    target: wayTo(first.url).target,
    changeOrigin: !preserveHost,
    plugins: [...(proxyOptions.plugins ?? []), proxyServer => {
      const pipeline = proxyServer as unknown as PassPipeline
      pipeline.before('ws', 'stream', forwardPass)
      pipeline.before('web', 'stream', attemptPass)
    }],
    on: {
      ...userOn,
      proxyReq (proxyReq: ClientRequest, req: IncomingMessage, res: ServerResponse, opts) {
        const r = req as StickyMessage
        // Before the application's hook: a client cannot name the hook's headers in its
        // Connection header to remove them, and a Connection the hook sets stays.
        if (r[kPooled] === true) stripRequestHopByHop(proxyReq, req.headers)
        userOn.proxyReq?.(proxyReq, req, res, opts)
        const outgoing: OutgoingRequest = proxyReq
        outgoing[kSource] = req
        r[kReused] = proxyReq.reusedSocket
        outgoing.on('timeout', onUpstreamTimeout)
        // The member's own `timeout` (else the balancer's), on top of http-proxy's proxyTimeout.
        // Every proxied request carries its decision (attemptPass read it).
        const timeout = balancer.timeoutOf(r[kDecision] as Routed)
        if (timeout !== undefined) {
          outgoing.setTimeout(timeout)
          outgoing.on('timeout', onMemberTimeout)
        }
        // http-proxy emits proxyReq from the request's 'socket' event: the socket is there already.
        if (outgoing.socket !== null) watchConnect(outgoing, outgoing.socket, connectTimeoutMs)
        const fwd = forwarded(req)
        if (fwd !== undefined) {
          proxyReq.setHeader('x-forwarded-for', fwd['x-forwarded-for'])
          proxyReq.setHeader('x-forwarded-proto', fwd['x-forwarded-proto'])
          if (fwd['x-forwarded-host'] !== undefined) proxyReq.setHeader('x-forwarded-host', fwd['x-forwarded-host'])
          if (fwd['x-forwarded-server'] !== undefined) proxyReq.setHeader('x-forwarded-server', fwd['x-forwarded-server'])
        }
      },
      proxyRes (proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse) {
        userOn.proxyRes?.(proxyRes, req, res)
        if ((req as StickyMessage)[kPooled] === true) {
          // The member's hop-by-hop headers describe its connection to the gateway, not the
          // client's (http-proxy would copy them: a member's keep-alive would override the
          // client's own Connection: close). http-proxy's setConnection pass then answers the
          // client's own Connection.
          const headers = proxyRes.headers
          noteKeepAlive(proxyRes.socket, headers['keep-alive'] as string | undefined) // Node joins a repeated one with ', '
          stripHopByHop(headers)
        }
        // Appended to the member's own Set-Cookie lines, which http-proxy copies with setHeader (a
        // cookie set on res earlier would be overwritten).
        const cookie = (req as StickyMessage)[kDecision]?.setCookie
        if (cookie !== undefined) {
          // http-proxy copies them with setHeader, which takes a string as well as an array.
          const sent: OutgoingHttpHeaders = proxyRes.headers
          sent['set-cookie'] = withSetCookie(proxyRes.headers['set-cookie'], cookie)
        }
        // http-proxy pipes the member's answer but does not notice when the member dies in the
        // middle of it: cut the client's response too, rather than leave it hanging.
        (proxyRes as UpstreamResponse)[kClientResponse] = res
        proxyRes.on('close', onUpstreamClose)
      },
      error (err: Error, req: IncomingMessage, target: ServerResponse | Socket) {
        const r = req as StickyMessage
        if (!('writeHead' in target)) {
          // A WebSocket upgrade whose preparation failed (a throwing pathRewrite, ...): no member
          // was chosen and nothing can be answered. Member errors never come here (forwardPass).
          target.destroy()
          return
        }
        const decision = r[kDecision]
        // Every proxied request carries a decision, and a member failing after its headers is
        // handled where its answer closes (onUpstreamClose): this is only a safety net.
        /* c8 ignore start */
        if (decision === undefined || target.headersSent) {
          target.destroy()
          return
        }
        /* c8 ignore stop */
        // http-proxy reports its proxyTimeout as a plain reset: say what it was.
        const error = r[kTimedOut] === true ? Object.assign(new Error('the member did not answer within proxyTimeout'), { code: 'ESOCKETTIMEDOUT', cause: err }) : err
        const canRetry = r[kBody] !== undefined || !hasRequestBody(r.headers)
        // A pooled connection the member had closed is retried once, on a connection of its own
        // (only stickyroute's agents can be told to open one).
        const reusedConnection = r[kReused] === true && r[kPooled] === true
        const outcome = balancer.upstreamError(decision, error, { canRetry, method: r.method, reusedConnection })
        apply(r, outcome.decision)
        if (outcome.action === 'retry') {
          if (outcome.newConnection) r[kNewConnection] = true
          if (r[kUrl] !== undefined) r.url = r[kUrl]
          proxy(r as Request, target as Response, r[kNext] as NextFunction)
          return
        }
        sendBalancerResponse(target, outcome.response, outcome.close)
      }
    }
  })

  const middleware = function stickyrouteMiddleware (req: Request, res: Response, next: NextFunction): void {
    const r = req as unknown as StickyMessage
    if (isWebSocketUpgrade(r)) {
      // Node passes upgrades to Express only when the server has no 'upgrade' listener at all:
      // proxied as a plain request, it could never work. Say what is missing.
      res.writeHead(501, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' })
      res.end('Not Implemented: WebSocket upgrades need server.on(\'upgrade\', middleware.upgrade) on the HTTP server.\n')
      return
    }
    // A body of up to `retryBodyLimit` bytes is read whole before a member is chosen, so that a
    // refused connection can be replayed on another member with the same bytes (unless a body
    // parser of the application read it already). A longer body is streamed as it comes.
    /* c8 ignore next: a body parser before stickyroute leaves nothing to proxy (see the README) */
    if (!r.readableEnded && bodyPlan(r.headers, retryBodyLimit) === 'buffer') {
      readBody(r, retryBodyLimit, (body, err) => {
        if (err !== undefined) {
          // The client went away in the middle of its body: no member was chosen, nobody reads the answer.
          res.destroy()
          return
        }
        if (body !== undefined) r[kBody] = body
        route(req, res, next)
      })
      return
    }
    route(req, res, next)
  } as StickyrouteMiddleware

  const route = (req: Request, res: Response, next: NextFunction): void => {
    const r = req as unknown as StickyMessage
    const decision = decide(r)
    if (!decision.ok) {
      sendBalancerResponse(res, SERVICE_UNAVAILABLE)
      return
    }
    r[kUrl] = req.url
    r[kNext] = next
    r[kBalancer] = balancer
    const socket = req.socket
    r[kRead] = socket.bytesRead
    r[kWritten] = socket.bytesWritten
    watchServer(socket)
    res.on('close', onResponseClose)
    proxy(req, res, next).catch(next)
  }

  // Health checks run from now on (their timers never keep the process alive), and stop when
  // the HTTP server that serves the middleware closes, or on middleware.close().
  balancer.startHealthChecks(nodeHealthIo)
  let watched: Server | undefined
  const close = async (): Promise<void> => {
    // Idle member connections close now (one in use goes back to the pool, and idles out).
    closeIdle([...ways.values()].flatMap(w => w.agent === undefined ? [] : [w.agent]))
    await balancer.close()
  }
  /** Stops the checks when the server behind `socket` closes (Node sets `socket.server` on its connections). */
  function watchServer (socket: Socket | Duplex): void {
    const server = (socket as Socket & { server?: Server }).server
    if (server === watched || server === undefined) return
    watched = server
    server.once('close', () => { close().catch(() => {}) })
  }

  Object.defineProperty(middleware, 'balancer', { value: balancer, enumerable: true })
  middleware.close = close
  middleware.upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = req.url as string // a server-side request always has a url
    if (mountPath === '' && !url.startsWith('/')) {
      // An absolute-form (or '*') target: never passed on to a member as is.
      writeBalancerResponse(socket, BAD_REQUEST)
      return
    }
    const below = belowMount(url, mountPath)
    if (below === undefined) return // not under mountPath: another listener's
    watchServer(socket)
    // The route is read from the target as received; the member is asked for the path below the
    // mount path, after pathRewrite. The choice and the forwarding happen in forwardPass.
    const r = req as StickyMessage
    r[kUpgradeUrl] = url
    req.url = below
    proxy.upgrade(req as Request, socket as Socket, head)
  }
  return middleware
}

export default stickyroute
export type { Routed, StickyMember, StickyOptions } from '@stickyroute/core'
