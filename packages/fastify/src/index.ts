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
  stripHopByHop,
  hasRequestBody,
  logEvents,
  SERVICE_UNAVAILABLE,
  StickyConfigError,
  type BalancerResponse,
  type Routed,
  type StickyOptions,
  withSetCookie
} from '@stickyroute/core'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server } from 'node:http'
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

// Per-request state: request slots declared once with decorateRequest (so every request has the
// same shape from its construction), and one back-pointer on the response. No closures per request.
const kDecision = Symbol('stickyroute.decision')
const kDest = Symbol('stickyroute.dest')
const kReplyOptions = Symbol('stickyroute.replyOptions')
const kRead = Symbol('stickyroute.bytesRead')
const kWritten = Symbol('stickyroute.bytesWritten')
const kBody = Symbol('stickyroute.body')
const kSecure = Symbol('stickyroute.secure')
const kSocket = Symbol('stickyroute.socket')
const kRequest = Symbol('stickyroute.request')
const kUpgrade = Symbol('stickyroute.upgrade')
const kUpgrades = Symbol('stickyroute.upgrades')
const kResent = Symbol('stickyroute.resent')
const REQUEST_SLOTS = [kDecision, kDest, kReplyOptions, kRead, kWritten, kBody, kSecure, kSocket, kResent] as const
interface StickyRequest {
  /** The decision being served (a plain request only: an upgrade's is the forwarder's), `null` before and after. */
  [kDecision]: Routed | null
  /** Where @fastify/http-proxy sends the request, and the options it built, kept for a failover attempt. */
  [kDest]: string | null
  [kReplyOptions]: ReplyOptions | null
  /** The client connection's byte counts when the request was routed, for the member's traffic counters. */
  [kRead]: number
  [kWritten]: number
  /** The client connection those counts are read from (the response lets go of it when it closes). */
  [kSocket]: Socket | null
  /** The request body, read whole (up to `retryBodyLimit`) so that a failed attempt can be replayed on another member. */
  [kBody]: Buffer | null
  /** The client connection is TLS (read once: the cookie's Secure flag and X-Forwarded-Proto). */
  [kSecure]: boolean
  /** Already sent again because a kept-alive member connection was closed under it (once only). */
  [kResent]: boolean
}
type Proxied = FastifyRequest & StickyRequest

/** The client's response, pointing back at its request until the response closes. */
interface AccountedResponse extends ServerResponse {
  [kRequest]?: Proxied
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

/**
 * The request failed on a member connection that had already delivered answers: a kept-alive
 * connection reused (Node's `reusedSocket`). undici's SocketError carries the connection's byte
 * counts; reply-from hands it over as the `cause` of its own error.
 */
function onReusedConnection (error: unknown): boolean {
  const read = (error as { cause?: { socket?: { bytesRead?: unknown } } } | null)?.cause?.socket?.bytesRead
  return typeof read === 'number' && read > 0
}
function noUpstreamYet (): string {
  return ''
}

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

/** The part of a reply used to send the balancer's own answers (any server flavour of FastifyReply fits). */
interface Sendable {
  code: (status: number) => { headers: (values: Record<string, string>) => { send: (body: string) => unknown } }
}

function sendBalancerResponse (reply: Sendable, response: BalancerResponse): void {
  reply.code(response.status).headers(response.headers).send(response.body)
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
  const { preserveHost, addForwardedHeaders } = balancer.options
  const server = hostname()
  const userReply = proxy.replyOptions ?? {}

  if (!fastify.hasRequestDecorator('sticky')) fastify.decorateRequest('sticky', null)
  if (!fastify.hasRequestDecorator(kDecision)) {
    for (const slot of REQUEST_SLOTS) fastify.decorateRequest<unknown>(slot, slot === kRead || slot === kWritten ? 0 : slot === kSecure || slot === kResent ? false : null)
  }

  const { retryBodyLimit, connectTimeoutMs } = balancer.options
  const tls = upgradeTls(proxy.undici)

  /** The member of the decision being served: reply-from's `getUpstream`. */
  const getUpstream = (request: object): string => ((request as Proxied)[kDecision] as Routed).member.url

  /**
   * The response closed (answered, failed or aborted by the client): the member's in-flight count
   * is released, its status counts for failOnStatus and its bytes for bytraffic. One listener
   * per balancer, shared by every response (`this`).
   */
  const onResponseClose = function (this: AccountedResponse): void {
    const request = this[kRequest] as Proxied
    this[kRequest] = undefined
    const decision = request[kDecision]
    if (decision === null) return
    request[kDecision] = null
    const socket = request[kSocket] as Socket
    request[kSocket] = null
    balancer.finished(decision, {
      status: this.statusCode,
      bytesSent: socket.bytesRead - request[kRead],
      bytesReceived: socket.bytesWritten - request[kWritten]
    })
  }

  /** The headers a member sees, for plain requests and upgrades alike: the application's hook first, then X-Forwarded-* (unless `addForwardedHeaders: false`) and Host. */
  const rewriteRequestHeaders = (request: ProxiedRequest, headers: IncomingHttpHeaders): IncomingHttpHeaders => {
    const given = userReply.rewriteRequestHeaders === undefined ? headers : userReply.rewriteRequestHeaders(request, headers)
    // Added to a copy, not to the object given: reply-from builds that one with `{ ...req.headers }`,
    // and V8 is slow to add properties to an object made by a spread (about 4 µs a request for the
    // four X-Forwarded-*, against 0.3 µs on an Object.assign copy): most of what these headers cost.
    const out: IncomingHttpHeaders = Object.assign({}, given)
    const raw = request.raw.headers
    const r = request as Proxied
    if (addForwardedHeaders) {
      const fwd = forwardedHeaders({
        host: raw.host,
        remoteAddress: request.raw.socket.remoteAddress,
        secure: r[kSecure],
        forwardedFor: raw['x-forwarded-for'],
        forwardedHost: raw['x-forwarded-host'],
        forwardedProto: raw['x-forwarded-proto'],
        server,
        forwardedServer: raw['x-forwarded-server']
      })
      out['x-forwarded-for'] = fwd['x-forwarded-for']
      out['x-forwarded-proto'] = fwd['x-forwarded-proto']
      if (fwd['x-forwarded-host'] !== undefined) out['x-forwarded-host'] = fwd['x-forwarded-host']
      if (fwd['x-forwarded-server'] !== undefined) out['x-forwarded-server'] = fwd['x-forwarded-server']
    }
    if (preserveHost && raw.host !== undefined) out.host = raw.host
    if (r[kBody] !== null) {
      // Sent from the buffer with its Content-Length (reply-from sets it), in place of the
      // client's framing; the client's Content-Type as it was (none stays none).
      delete out['transfer-encoding']
      if (raw['content-type'] === undefined) delete out['content-type']
    }
    return out
  }

  /**
   * The reply-from options of an attempt, built once per set of @fastify/http-proxy options and
   * member timeout, not per request: ours on top of theirs, and the member's own `timeout` (else
   * the balancer's) as reply-from's per-request `timeout`.
   */
  let optionsOf: ReplyOptions['rewriteHeaders']
  let byTimeout = new Map<number | undefined, ReplyOptions>()
  const attemptOptions = (opts: ReplyOptions, request: Proxied): ReplyOptions => {
    // @fastify/http-proxy hands every request a fresh copy of the same options (see
    // `replyOptions.getUpstream`), with its own rewriteHeaders wrapper: that names the set.
    if (opts.rewriteHeaders !== optionsOf) {
      optionsOf = opts.rewriteHeaders
      byTimeout = new Map()
    }
    const timeout = balancer.timeoutOf(request[kDecision] as Routed)
    let out = byTimeout.get(timeout)
    if (out === undefined) {
      const built: ReplyOptions = timeout === undefined ? { ...opts, getUpstream } : { ...opts, getUpstream, timeout }
      // One entry per distinct member timeout (a few: they come from the members' options).
      byTimeout.set(timeout, built)
      out = built
    }
    // The kept body is sent as is (a Buffer with a content type is not re-serialised).
    const body = request[kBody]
    return body === null ? out : { ...out, body, contentType: request.headers['content-type'] ?? 'application/octet-stream' }
  }

  /**
   * @fastify/http-proxy's handler: a body of up to `retryBodyLimit` bytes (which it hands over as
   * the raw stream) is read whole first, so that a refused connection can be replayed on another
   * member with the same bytes. A longer body is streamed as it comes.
   */
  const handler = (request: FastifyRequest, reply: FastifyReply, dest: string, opts: ReplyOptions): FastifyReply => {
    const body = request.body
    if (!(body instanceof Stream) || bodyPlan(request.raw.headers, retryBodyLimit) !== 'buffer') return route(request as Proxied, reply, dest, opts)
    readBody(body as Readable, retryBodyLimit, (buffer, err) => {
      if (err !== undefined) {
        // The client went away in the middle of its body: no member was chosen, nobody reads the answer.
        reply.send(Object.assign(err, { statusCode: 400 }))
        return
      }
      if (buffer !== undefined) (request as Proxied)[kBody] = buffer
      route(request as Proxied, reply, dest, opts)
    })
    return reply
  }

  /** Chooses the member and sends the request (or the upgrade) to it; the balancer answers 503 itself when none can serve. */
  const route = (request: Proxied, reply: FastifyReply, dest: string, opts: ReplyOptions): FastifyReply => {
    const raw = request.raw
    const secure = request.protocol === 'https'
    request[kSecure] = secure
    const decision = balancer.select({ cookie: raw.headers.cookie, url: raw.url, secure })
    if (!decision.ok) {
      sendBalancerResponse(reply, SERVICE_UNAVAILABLE)
      return reply
    }
    request.sticky = decision
    const upgrade = (raw as UpgradeRequest)[kUpgrade]
    if (upgrade !== undefined) {
      // The connection is the forwarder's from here: it holds the decision (busy) until the
      // connection closes, and fails over before anything is written to the client. The member
      // is asked for the path as for HTTP, with the query string as received (as
      // @fastify/http-proxy does for WebSockets).
      reply.hijack()
      const q = request.url.indexOf('?')
      forwardUpgrade({
        balancer,
        req: raw,
        socket: upgrade.socket,
        head: upgrade.head,
        decision,
        path: q === -1 ? dest : dest + request.url.slice(q),
        headers: d => rewriteRequestHeaders(request, { ...raw.headers, host: new URL(d.member.url).host }),
        connectTimeoutMs,
        tls,
        onDecision: d => { request.sticky = d.ok ? d : null },
        // @fastify/http-proxy's events belong to its own WebSocket proxy, which is not used.
        onRequest: ignore,
        onOpen: ignore,
        onClose: ignore
      })
      return reply
    }
    request[kDecision] = decision
    request[kDest] = dest
    request[kReplyOptions] = opts
    const socket = raw.socket
    request[kSocket] = socket
    request[kRead] = socket.bytesRead
    request[kWritten] = socket.bytesWritten
    const res = reply.raw as AccountedResponse
    res[kRequest] = request
    res.on('close', onResponseClose)
    return reply.from(dest, attemptOptions(opts, request))
  }

  const replyOptions: ReplyOptions = {
    ...userReply,
    // @fastify/http-proxy wants a getUpstream when `upstream` is '': the member is chosen later,
    // in the handler (after the body is read), and attemptOptions gives reply-from the real one.
    getUpstream: noUpstreamYet,
    rewriteRequestHeaders,
    rewriteHeaders (headers, request) {
      // The member's hop-by-hop headers describe its connection to the gateway: its `Connection:
      // keep-alive` copied onto the reply would keep the client's connection open although the
      // client asked to close it.
      const out = userReply.rewriteHeaders === undefined ? stripHopByHop(headers) : userReply.rewriteHeaders(stripHopByHop(headers), request)
      const cookie = (request as Proxied)[kDecision]?.setCookie
      // After the member's own Set-Cookie lines; undici hands over one as a string (the type says array only).
      if (cookie === undefined) return out
      // Fastify sends these headers as they are: a string value is as good as an array.
      const sent: OutgoingHttpHeaders = out
      sent['set-cookie'] = withSetCookie(out['set-cookie'], cookie)
      return out
    },
    // A member's own 503 is its answer (Apache passes it through): unless the application says
    // otherwise, do not let reply-from retry it ten times.
    retryDelay: userReply.retryDelay ?? (({ err, req, res, attempt, getDefaultDelay }) => res === undefined ? getDefaultDelay(req, res, err, attempt) : null),
    onError (reply, { error }) {
      const request = reply.request as Proxied
      const decision = request[kDecision]
      /* c8 ignore next: reply-from calls onError only for requests this plugin routed and has not answered */
      if (decision === null || reply.sent) return
      // Set with the decision (route()), so they are there whenever it is.
      const dest = request[kDest] as string
      const used = request[kReplyOptions] as ReplyOptions
      // A body can be sent again when it was kept here, or when Fastify parsed it (text/plain):
      // reply-from then sends it from memory. Only a body still streaming cannot.
      const body: unknown = request.body
      const kept = request[kBody] !== null || (body != null && !(body instanceof Stream))
      const canRetry = kept || !hasRequestBody(request.raw.headers)
      const reusedConnection = !request[kResent] && onReusedConnection(error)
      const outcome = balancer.upstreamError(decision, error, { canRetry, method: request.raw.method, responseStarted: reply.sent, reusedConnection })
      if (outcome.action === 'retry') {
        // Sent again to the same member: undici has dropped the closed connection, and sends it on
        // another (a new one, unless the member has another idle one in the pool).
        if (outcome.newConnection) request[kResent] = true
        request[kDecision] = outcome.decision
        request.sticky = outcome.decision
        reply.from(dest, attemptOptions(used, request))
        return
      }
      if (!outcome.decision.ok) {
        request[kDecision] = null
        request.sticky = null
      }
      if (outcome.close) reply.header('connection', 'close')
      sendBalancerResponse(reply, outcome.response)
    }
  }

  await fastify.register(async function stickyrouteProxy (instance: FastifyInstance) {
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
      undici: proxy.undici ?? { connectTimeout: connectTimeoutMs },
      // reply-from leaves its connections to the members open after app.close() unless told to
      // destroy its agent: do, unless the application brought its own dispatcher (it owns it).
      destroyAgent: proxy.destroyAgent ?? typeof (proxy.undici as { request?: unknown } | undefined)?.request !== 'function',
      upstream: '',
      replyOptions,
      handler
    })
  }, { prefix })
}

/** The stickyroute Fastify plugin. Register it once per balancer, under the prefix it serves. */
export const stickyroute = fp(stickyroutePlugin, { fastify: '5.x', name: '@stickyroute/fastify' })
export default stickyroute
export type { Routed, StickyMember, StickyOptions } from '@stickyroute/core'
