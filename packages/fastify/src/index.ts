/**
 * @stickyroute/fastify: sticky-session load balancing as a Fastify plugin, on
 * @fastify/http-proxy. Glue only: the core decides, this file applies the decision.
 *
 *   app.register(stickyroute, { prefix: '/app', members: [...], routeCookie: 'ROUTEID' })
 */
import httpProxy, { type FastifyHttpProxyOptions } from '@fastify/http-proxy'
import {
  Balancer,
  forwardedHeaders,
  hasRequestBody,
  SERVICE_UNAVAILABLE,
  StickyConfigError,
  type BalancerResponse,
  type Routed,
  type StickyOptions
} from '@stickyroute/core'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { IncomingHttpHeaders } from 'node:http'
import { hostname } from 'node:os'

/** Options of @fastify/http-proxy that stickyroute passes through; the ones it owns are left out. */
export type ProxyOptions = Omit<FastifyHttpProxyOptions, 'upstream' | 'prefix' | 'handler' | 'preValidation' | 'wsUpstream'>
type ReplyOptions = NonNullable<FastifyHttpProxyOptions['replyOptions']>

/** Options of the plugin: the core options, the mount prefix, and a pass-through bag for @fastify/http-proxy. */
export interface StickyrouteFastifyOptions extends StickyOptions {
  /** Path prefix the balancer serves, e.g. `'/app'` (stripped before proxying, unless `proxy.rewritePrefix` says otherwise). Defaults to `''` (everything). */
  prefix?: string
  /** Passed to @fastify/http-proxy as is, e.g. `{ rewritePrefix, undici, httpMethods }`. `upstream`, `handler`, `preValidation`, `wsUpstream`, `replyOptions.getUpstream` and `replyOptions.onError` are stickyroute's own. */
  proxy?: ProxyOptions
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The balancer's decision for this request (member, route, routeChanged), or `null` when no member could serve it. */
    sticky: Routed | null
  }
}

const kDecision = Symbol('stickyroute.decision')
const kDest = Symbol('stickyroute.dest')
const kReplyOptions = Symbol('stickyroute.replyOptions')
interface StickyRequest {
  [kDecision]?: Routed
  /** Where @fastify/http-proxy sends the request, and the options it built, kept for a failover attempt. */
  [kDest]?: string
  [kReplyOptions]?: ReplyOptions
}

/** Options the pass-through bag may not set, with the reason shown to the user. */
const RESERVED_PROXY: Readonly<Record<string, string>> = {
  upstream: 'the member is chosen per request',
  prefix: 'use the plugin option `prefix`',
  handler: 'stickyroute needs it for failover',
  preValidation: '@fastify/http-proxy then stops passing request bodies through',
  wsUpstream: 'WebSocket upgrades follow the member chosen per request'
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

function appendSetCookie (headers: IncomingHttpHeaders, cookie: string): IncomingHttpHeaders {
  // undici hands over one Set-Cookie as a string, several as an array (the type says array only).
  const previous: string | string[] | undefined = headers['set-cookie']
  headers['set-cookie'] = previous === undefined ? [cookie] : typeof previous === 'string' ? [previous, cookie] : [...previous, cookie]
  return headers
}

const stickyroutePlugin: FastifyPluginAsync<StickyrouteFastifyOptions> = async (fastify, options) => {
  // Fastify hands register-time options (prefix, logLevel, ...) to the plugin; keep them out of the core's options.
  const { prefix = '', proxy = {}, logLevel, logSerializers, ...stickyOptions } = options as StickyrouteFastifyOptions & { logLevel?: unknown, logSerializers?: unknown }
  const balancer = new Balancer(stickyOptions)
  checkProxyOptions(proxy)
  const { preserveHost } = balancer.options
  const server = hostname()
  const userReply = proxy.replyOptions ?? {}

  if (!fastify.hasRequestDecorator('sticky')) fastify.decorateRequest('sticky', null)

  const decide = (request: FastifyRequest & StickyRequest, reply: FastifyReply, done: () => void): void => {
    const decision = balancer.select({ cookie: request.headers.cookie, url: request.raw.url, secure: request.protocol === 'https' })
    if (!decision.ok) {
      sendBalancerResponse(reply, SERVICE_UNAVAILABLE)
      return
    }
    request[kDecision] = decision
    request.sticky = decision
    // An upgraded connection is not a request in flight; WebSocket accounting comes with WebSocket stickiness.
    if (request.raw.headers.upgrade !== undefined) balancer.finished(decision)
    done()
  }

  const finish = (request: FastifyRequest & StickyRequest, _reply: FastifyReply, done: () => void): void => {
    const decision = request[kDecision]
    if (decision !== undefined) balancer.finished(decision)
    done()
  }

  const replyOptions: ReplyOptions = {
    ...userReply,
    getUpstream (request) {
      // Called only after the preHandler routed the request (it answers itself otherwise).
      return ((request as FastifyRequest & StickyRequest)[kDecision] as Routed).member.url
    },
    rewriteRequestHeaders (request, headers) {
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
      return out
    },
    rewriteHeaders (headers, request) {
      const out = userReply.rewriteHeaders === undefined ? headers : userReply.rewriteHeaders(headers, request)
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
      const canRetry = dest !== undefined && used !== undefined && !hasRequestBody(request.raw.headers)
      const outcome = balancer.upstreamError(decision, error, { canRetry })
      if (outcome.action === 'retry') {
        request[kDecision] = outcome.decision
        request.sticky = outcome.decision
        reply.from(dest, { ...used, getUpstream: replyOptions.getUpstream })
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
    instance.addHook('onResponse', finish)
    instance.addHook('onRequestAbort', (request: FastifyRequest & StickyRequest, done: () => void) => {
      const decision = request[kDecision]
      if (decision !== undefined) balancer.finished(decision)
      done()
    })
    instance.addHook('preHandler', decide)
    await instance.register(httpProxy, {
      disableRequestLogging: true,
      websocket: true,
      ...proxy,
      // undici's connect timeout comes from the core option `connectTimeout`, unless the
      // application brings its own undici options or dispatcher.
      undici: proxy.undici ?? { connectTimeout: balancer.options.connectTimeoutMs },
      upstream: '',
      replyOptions,
      handler (request, reply, dest, opts) {
        const r = request as FastifyRequest & StickyRequest
        r[kDest] = dest
        r[kReplyOptions] = opts
        return reply.from(dest, opts)
      }
    })
  }, { prefix })
}

/** The stickyroute Fastify plugin. Register it once per balancer, under the prefix it serves. */
export const stickyroute = fp(stickyroutePlugin, { fastify: '5.x', name: '@stickyroute/fastify' })
export default stickyroute
export type { Routed, StickyMember, StickyOptions } from '@stickyroute/core'
