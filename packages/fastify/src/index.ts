/**
 * @stickyroute/fastify: sticky-session load balancing as a Fastify plugin, on
 * @fastify/http-proxy. Glue only: the core decides, this file applies the decision.
 *
 *   app.register(stickyroute, { prefix: '/app', members: [...], routeCookie: 'ROUTEID' })
 */
import httpProxy, { type FastifyHttpProxyOptions } from '@fastify/http-proxy'
import {
  Balancer,
  bodyPlan,
  forwardedHeaders,
  hasRequestBody,
  logEvents,
  SERVICE_UNAVAILABLE,
  StickyConfigError,
  type BalancerResponse,
  type Routed,
  type StickyOptions
} from '@stickyroute/core'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { hostname } from 'node:os'
import { Stream, type Duplex, type Readable } from 'node:stream'
import type { ConnectionOptions } from 'node:tls'
import { closeAfterFlush, forwardUpgrade, nodeHealthIo, readBody } from '@stickyroute/core/node'

/** Options of @fastify/http-proxy that stickyroute passes through; the ones it owns are left out. */
export type ProxyOptions = Omit<FastifyHttpProxyOptions, 'upstream' | 'prefix' | 'handler' | 'preValidation' | 'wsClientOptions' | 'wsServerOptions'> & {
  /** `false`: stickyroute takes no WebSocket upgrades (they are then left to other `upgrade` listeners). Default `true`. */
  websocket?: boolean
}
type ReplyOptions = NonNullable<FastifyHttpProxyOptions['replyOptions']>
type ProxiedRequest = Parameters<NonNullable<ReplyOptions['rewriteRequestHeaders']>>[0]

/** Options of the plugin: the core options, the mount prefix, and a pass-through bag for @fastify/http-proxy. */
export interface StickyrouteFastifyOptions extends StickyOptions {
  /** Path prefix the balancer serves, e.g. `'/app'` (stripped before proxying, unless `proxy.rewritePrefix` says otherwise). Defaults to `''` (everything). */
  prefix?: string
  /**
   * The name of the app decorator that holds the balancer (runtime control: `app.stickyroute.set(...)`).
   * Defaults to `'stickyroute'`; a second balancer in the same app needs a name of its own.
   */
  decorator?: string
  /**
   * Passed to @fastify/http-proxy as is, e.g. `{ rewritePrefix, undici, httpMethods }`. `upstream`, `handler`,
   * `preValidation`, `wsUpstream`, `replyOptions.getUpstream` and `replyOptions.onError` are stickyroute's own, and so
   * are WebSocket upgrades: `websocket: false` turns them off, and @fastify/http-proxy's `ws*` options do not apply.
   */
  proxy?: ProxyOptions
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The balancer's decision for this request (member, route, routeChanged), or `null` when no member could serve it. */
    sticky: Routed | null
  }
  interface FastifyInstance {
    /** The balancer registered under the default `decorator` name: member states and counters, runtime control, events. */
    stickyroute: Balancer
  }
}

const kDecision = Symbol('stickyroute.decision')
const kDest = Symbol('stickyroute.dest')
const kReplyOptions = Symbol('stickyroute.replyOptions')
const kUpgrade = Symbol('stickyroute.upgrade')
const kUpgrades = Symbol('stickyroute.upgrades')
const kRead = Symbol('stickyroute.bytesRead')
const kWritten = Symbol('stickyroute.bytesWritten')
const kBody = Symbol('stickyroute.body')
interface StickyRequest {
  /** The request body, read whole (up to `retryBodyLimit`) so that a failed attempt can be replayed on another member. */
  [kBody]?: Buffer
  [kDecision]?: Routed
  /** The client connection's byte counts when the request arrived, for the member's traffic counters. */
  [kRead]?: number
  [kWritten]?: number
  /** Where @fastify/http-proxy sends the request, and the options it built, kept for a failover attempt. */
  [kDest]?: string
  [kReplyOptions]?: ReplyOptions
}

/** An upgrade request dispatched through Fastify's router by stickyroute's `upgrade` listener: its connection and head. */
interface UpgradeRequest extends IncomingMessage {
  [kUpgrade]?: { socket: Duplex, head: Buffer }
}

/** What stickyroute keeps on the HTTP server, shared by every balancer registered on it. */
interface UpgradeState {
  /** The prefixes of the balancers, without a trailing slash (`''`: every path). */
  prefixes: string[]
  /** Client connections with an upgrade in progress or open, ended when the application closes. */
  sockets: Set<Duplex>
}
interface UpgradeServer extends Server {
  [kUpgrades]?: UpgradeState
}

function ignore (): void {}

function withinPrefixes (url: string, prefixes: readonly string[]): boolean {
  const path = url.split('?', 1)[0] as string
  return prefixes.some(base => path === base || path.startsWith(`${base}/`))
}

/**
 * Takes WebSocket upgrades for the balancer at `instance.prefix`: one `upgrade` listener per
 * server sends each upgrade through Fastify's router, so the application's hooks and the
 * balancer's preHandler run for it as for any request. As @fastify/http-proxy does, the listener
 * takes every upgrade while it is the server's only one, and only those under a balancer's
 * prefix when there are others (@fastify/websocket, ...).
 */
function listenForUpgrades (instance: FastifyInstance): UpgradeState {
  const server = instance.server as UpgradeServer
  let state = server[kUpgrades]
  if (state === undefined) {
    const shared: UpgradeState = { prefixes: [], sockets: new Set() }
    state = server[kUpgrades] = shared
    server.on('upgrade', (req: UpgradeRequest, socket: Duplex, head: Buffer) => {
      if (server.listenerCount('upgrade') > 1 && !withinPrefixes(req.url as string, shared.prefixes)) return
      shared.sockets.add(socket)
      socket.once('close', () => shared.sockets.delete(socket))
      req[kUpgrade] = { socket, head }
      // Fastify writes its own answers (404, 401 from a hook, the balancer's 503) on this
      // response; the connection cannot be reused after one.
      const res = new ServerResponse(req)
      res.assignSocket(socket as Socket)
      res.once('finish', () => { closeAfterFlush(socket) })
      instance.routing(req, res)
    })
  }
  state.prefixes.push(instance.prefix.replace(/\/$/, ''))
  return state
}

/**
 * TLS for `https:` members on upgrades, from the same `undici` options as plain requests
 * (`connect` or `tls`): like @fastify/reply-from, members' certificates are verified only with
 * `rejectUnauthorized: true`.
 */
function upgradeTls (undici: unknown): ConnectionOptions {
  const given = undici as { tls?: ConnectionOptions, connect?: ConnectionOptions } | undefined
  const options: ConnectionOptions = { ...given?.tls, ...given?.connect }
  return { ...options, rejectUnauthorized: options.rejectUnauthorized === true }
}

const WS_OWN = 'stickyroute forwards WebSocket upgrades itself, to fail them over and set the balancer cookie on the 101; replyOptions.rewriteRequestHeaders applies to them'
/** Options the pass-through bag may not set, with the reason shown to the user. */
const RESERVED_PROXY: Readonly<Record<string, string>> = {
  upstream: 'the member is chosen per request',
  prefix: 'use the plugin option `prefix`',
  handler: 'stickyroute needs it for failover',
  preValidation: '@fastify/http-proxy then stops passing request bodies through',
  wsUpstream: 'WebSocket upgrades follow the member chosen per request',
  wsHooks: WS_OWN,
  wsReconnect: WS_OWN,
  wsServerOptions: WS_OWN,
  wsClientOptions: WS_OWN
}
const RESERVED_REPLY = ['getUpstream', 'onError'] as const

function checkProxyOptions (proxy: ProxyOptions): void {
  for (const key of Object.keys(proxy)) {
    const why = RESERVED_PROXY[key]
    if (why !== undefined) throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', `proxy.${key}`, `is set by stickyroute (${why}). Remove it.`)
  }
  for (const key of RESERVED_REPLY) {
    if (proxy.replyOptions?.[key] !== undefined) {
      throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', `proxy.replyOptions.${key}`, 'is set by stickyroute (member choice and failover). Remove it.')
    }
  }
}

/** @fastify/http-proxy's reply decorator: the member's path for a request, as its handler computes it. */
interface FromParameters {
  fromParameters: (url: string, params: unknown, prefix: string) => { url: string }
}

/** The part of a reply used to send the balancer's own answers (any server flavour of FastifyReply fits). */
interface Sendable {
  code: (status: number) => { headers: (values: Record<string, string>) => { send: (body: string) => unknown } }
}

function sendBalancerResponse (reply: Sendable, response: BalancerResponse): void {
  reply.code(response.status).headers(response.headers).send(response.body)
}

/**
 * The member's hop-by-hop headers describe the gateway-to-member connection, not the client's
 * (RFC 9110 7.6.1): its `Connection: keep-alive` copied onto the reply would make Node keep the
 * client's connection open although the client asked to close it.
 */
function stripHopByHop (headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const connection = headers.connection
  if (connection !== undefined) {
    for (const name of connection.split(',')) delete headers[name.trim().toLowerCase()]
    delete headers.connection
  }
  delete headers['keep-alive']
  delete headers['proxy-connection']
  return headers
}

function appendSetCookie (headers: IncomingHttpHeaders, cookie: string): IncomingHttpHeaders {
  // undici hands over one Set-Cookie as a string, several as an array (the type says array only).
  const previous: string | string[] | undefined = headers['set-cookie']
  headers['set-cookie'] = previous === undefined ? [cookie] : typeof previous === 'string' ? [previous, cookie] : [...previous, cookie]
  return headers
}

const stickyroutePlugin: FastifyPluginAsync<StickyrouteFastifyOptions> = async (fastify, options) => {
  // Fastify hands register-time options (prefix, logLevel, ...) to the plugin; keep them out of the core's options.
  const { prefix = '', proxy = {}, decorator = 'stickyroute', logLevel, logSerializers, ...stickyOptions } = options as StickyrouteFastifyOptions & { logLevel?: unknown, logSerializers?: unknown }
  const balancer = new Balancer(stickyOptions)
  checkProxyOptions(proxy)
  if (typeof decorator !== 'string' || decorator === '') {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'decorator', `must be a non-empty string naming the app decorator of this balancer, got ${JSON.stringify(decorator)}.`)
  }
  if (fastify.hasDecorator(decorator)) {
    throw new StickyConfigError('ERR_STICKY_INVALID_OPTION', 'decorator',
      `names a decorator the app already has (${JSON.stringify(decorator)}): give this balancer a name of its own, e.g. { decorator: 'stickyroute2' }.`)
  }
  fastify.decorate(decorator, balancer)
  // Member state changes and re-pinned clients go to the app's logger; a normal request logs nothing.
  logEvents(balancer, fastify.log)
  // Health checks start with the app and stop when it closes.
  fastify.addHook('onReady', async () => { balancer.startHealthChecks(nodeHealthIo) })
  fastify.addHook('onClose', async () => { await balancer.close() })
  const { preserveHost } = balancer.options
  const server = hostname()
  const userReply = proxy.replyOptions ?? {}

  if (!fastify.hasRequestDecorator('sticky')) fastify.decorateRequest('sticky', null)

  /** The balancer's prefix as Fastify sees it (with the prefixes of enclosing plugins), set at registration. */
  let routePrefix = ''

  const { retryBodyLimit } = balancer.options
  /**
   * Before a member is chosen: a body of up to `retryBodyLimit` bytes (which @fastify/http-proxy
   * hands over as the raw stream) is read whole, so that a refused connection can be replayed on
   * another member with the same bytes. A longer body is streamed as it comes.
   */
  const readThenDecide = (request: FastifyRequest & StickyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
    const body = request.body
    if (!(body instanceof Stream) || bodyPlan(request.raw.headers, retryBodyLimit) !== 'buffer') {
      decide(request, reply, done)
      return
    }
    readBody(body as Readable, retryBodyLimit, (buffer, err) => {
      if (err !== undefined) {
        // The client went away in the middle of its body: no member was chosen, nobody reads the answer.
        done(Object.assign(err, { statusCode: 400 }))
        return
      }
      if (buffer !== undefined) request[kBody] = buffer
      decide(request, reply, done)
    })
  }

  const decide = (request: FastifyRequest & StickyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
    const upgrade = (request.raw as UpgradeRequest)[kUpgrade]
    let path = ''
    if (upgrade !== undefined) {
      // Where the member is asked, as for HTTP (prefix stripped, rewritePrefix applied), with the
      // query string as received (as @fastify/http-proxy does for WebSockets). A path escaping the
      // prefix is a 400 before any member is chosen.
      try {
        path = (reply as FastifyReply & FromParameters).fromParameters(request.url, request.params, routePrefix).url.split('?', 1)[0] as string
      } catch (err) {
        done(err as Error)
        return
      }
      const q = request.url.indexOf('?')
      if (q !== -1) path += request.url.slice(q)
    }
    const decision = balancer.select({ cookie: request.headers.cookie, url: request.raw.url, secure: request.protocol === 'https' })
    if (!decision.ok) {
      sendBalancerResponse(reply, SERVICE_UNAVAILABLE)
      return
    }
    request.sticky = decision
    if (upgrade !== undefined) {
      // The connection is the forwarder's from here: it holds the decision (busy) until the
      // connection closes, and fails over before anything is written to the client.
      reply.hijack()
      forwardUpgrade({
        balancer,
        req: request.raw,
        socket: upgrade.socket,
        head: upgrade.head,
        decision,
        path,
        headers: d => rewriteRequestHeaders(request, { ...request.raw.headers, host: new URL(d.member.url).host }),
        connectTimeoutMs: balancer.options.connectTimeoutMs,
        tls,
        onDecision: d => { request.sticky = d.ok ? d : null },
        // @fastify/http-proxy's events belong to its own WebSocket proxy, which is not used.
        onRequest: ignore,
        onOpen: ignore,
        onClose: ignore
      })
      return
    }
    request[kDecision] = decision
    const socket = request.raw.socket
    request[kRead] = socket.bytesRead
    request[kWritten] = socket.bytesWritten
    done()
  }

  /** The response is over: the member's status (for failOnStatus) and the bytes (for bytraffic) count. */
  const finish = (request: FastifyRequest & StickyRequest, reply: FastifyReply, done: () => void): void => {
    const decision = request[kDecision]
    if (decision !== undefined) {
      const socket = request.raw.socket
      balancer.finished(decision, {
        status: reply.statusCode,
        bytesSent: socket.bytesRead - (request[kRead] as number),
        bytesReceived: socket.bytesWritten - (request[kWritten] as number)
      })
    }
    done()
  }

  /** The headers a member sees, for plain requests and upgrades alike: the application's hook first, then X-Forwarded-* and Host. */
  const rewriteRequestHeaders = (request: ProxiedRequest, headers: IncomingHttpHeaders): IncomingHttpHeaders => {
    const out = userReply.rewriteRequestHeaders === undefined ? headers : userReply.rewriteRequestHeaders(request, headers)
    const raw = request.raw.headers
    Object.assign(out, forwardedHeaders({
      host: raw.host,
      remoteAddress: request.raw.socket.remoteAddress,
      secure: request.protocol === 'https',
      forwardedFor: raw['x-forwarded-for'],
      forwardedHost: raw['x-forwarded-host'],
      forwardedProto: raw['x-forwarded-proto'],
      server,
      forwardedServer: raw['x-forwarded-server']
    }))
    if (preserveHost && raw.host !== undefined) out.host = raw.host
    if ((request as FastifyRequest & StickyRequest)[kBody] !== undefined) {
      // Sent from the buffer with its Content-Length (reply-from sets it), in place of the
      // client's framing; the client's Content-Type as it was (none stays none).
      delete out['transfer-encoding']
      if (raw['content-type'] === undefined) delete out['content-type']
    }
    return out
  }
  const tls = upgradeTls(proxy.undici)
  /** The member's own `timeout` (else the balancer's), as reply-from's per-request `timeout`. */
  const withTimeout = (opts: ReplyOptions, decision: Routed): ReplyOptions => {
    const timeout = balancer.timeoutOf(decision)
    return timeout === undefined ? opts : { ...opts, timeout }
  }
  /** The options of one attempt: the member's timeout, and the kept body (sent as is: a Buffer with a content type is not re-serialised). */
  const attemptOptions = (opts: ReplyOptions, request: FastifyRequest & StickyRequest): ReplyOptions => {
    const out = withTimeout(opts, request[kDecision] as Routed)
    const body = request[kBody]
    return body === undefined ? out : { ...out, body, contentType: request.headers['content-type'] ?? 'application/octet-stream' }
  }

  const replyOptions: ReplyOptions = {
    ...userReply,
    getUpstream (request) {
      // Called only after the preHandler routed the request (it answers itself otherwise).
      return ((request as FastifyRequest & StickyRequest)[kDecision] as Routed).member.url
    },
    rewriteRequestHeaders,
    rewriteHeaders (headers, request) {
      const out = userReply.rewriteHeaders === undefined ? stripHopByHop(headers) : userReply.rewriteHeaders(stripHopByHop(headers), request)
      const cookie = (request as FastifyRequest & StickyRequest)[kDecision]?.setCookie
      return cookie === undefined ? out : appendSetCookie(out, cookie)
    },
    // A member's own 503 is its answer (Apache passes it through): unless the application says
    // otherwise, do not let reply-from retry it ten times.
    retryDelay: userReply.retryDelay ?? (({ err, req, res, attempt, getDefaultDelay }) => res === undefined ? getDefaultDelay(req, res, err, attempt) : null),
    onError (reply, { error }) {
      const request = reply.request as FastifyRequest & StickyRequest
      const decision = request[kDecision]
      /* c8 ignore next: reply-from calls onError only for requests this plugin routed and has not answered */
      if (decision === undefined || reply.sent) return
      const dest = request[kDest]
      const used = request[kReplyOptions]
      // A body can be sent again when it was kept here, or when Fastify parsed it (text/plain):
      // reply-from then sends it from memory. Only a body still streaming cannot.
      const body: unknown = request.body
      const kept = request[kBody] !== undefined || (body != null && !(body instanceof Stream))
      const canRetry = dest !== undefined && used !== undefined && (kept || !hasRequestBody(request.raw.headers))
      const outcome = balancer.upstreamError(decision, error, { canRetry, method: request.raw.method, responseStarted: reply.sent })
      if (outcome.action === 'retry') {
        request[kDecision] = outcome.decision
        request.sticky = outcome.decision
        reply.from(dest, attemptOptions({ ...used, getUpstream: replyOptions.getUpstream }, request))
        return
      }
      if (!outcome.decision.ok) {
        delete request[kDecision]
        request.sticky = null
      }
      if (outcome.close) reply.header('connection', 'close')
      sendBalancerResponse(reply, outcome.response)
    }
  }

  await fastify.register(async function stickyrouteProxy (instance: FastifyInstance) {
    routePrefix = instance.prefix
    instance.addHook('onResponse', finish)
    instance.addHook('onRequestAbort', (request: FastifyRequest & StickyRequest, done: () => void) => {
      const decision = request[kDecision]
      if (decision !== undefined) balancer.finished(decision)
      done()
    })
    instance.addHook('preHandler', readThenDecide)
    if (proxy.websocket !== false) {
      const upgrades = listenForUpgrades(instance)
      // Open WebSockets would keep the server from closing: end them (clients see the connection drop, and reconnect).
      instance.addHook('preClose', done => {
        for (const socket of upgrades.sockets) socket.destroy()
        done()
      })
    }
    await instance.register(httpProxy, {
      disableRequestLogging: true,
      ...proxy,
      // stickyroute's own listener takes the upgrades (see listenForUpgrades).
      websocket: false,
      // undici's connect timeout comes from the core option `connectTimeout`, unless the
      // application brings its own undici options or dispatcher.
      undici: proxy.undici ?? { connectTimeout: balancer.options.connectTimeoutMs },
      // reply-from leaves its connections to the members open after app.close() unless told to
      // destroy its agent: do, unless the application brought its own dispatcher (it owns it).
      destroyAgent: proxy.destroyAgent ?? typeof (proxy.undici as { request?: unknown } | undefined)?.request !== 'function',
      upstream: '',
      replyOptions,
      handler (request, reply, dest, opts) {
        const r = request as FastifyRequest & StickyRequest
        r[kDest] = dest
        r[kReplyOptions] = opts
        return reply.from(dest, attemptOptions(opts, r))
      }
    })
  }, { prefix })
}

/** The stickyroute Fastify plugin. Register it once per balancer, under the prefix it serves. */
export const stickyroute = fp(stickyroutePlugin, { fastify: '5.x', name: '@stickyroute/fastify' })
export default stickyroute
export type { Routed, StickyMember, StickyOptions } from '@stickyroute/core'
